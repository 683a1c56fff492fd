"""Running later chapters on the learner's own code, where it passes."""

from pathlib import Path

from ..model import ModelConfig
from .exercises import BY_NAME, EXERCISES, PACKAGE
from .grader import Result, grade_modules, point_to_reference, reference_objects
from .loader import discover, load

NAMES = tuple(exercise.name for exercise in EXERCISES)


class CoursePackage:
    """The functions and classes of the course, each the learner's or the reference's.

    Attributes: ``lstm_step``, ``LSTMLayer``, ``StackedLSTM``, ``CharLSTM``, ``batchify``,
    ``get_batch``, ``train_step``, ``evaluate``, ``next_char_distribution``,
    ``step_backward``, plus ``ModelConfig`` (always the reference's), and:

    - ``source``: ``{"lstm_step": "my_lstm" or "lstm_lib", ...}``;
    - ``results``: the grader's :class:`~lstm_lib.course.grader.Result` list (empty
      when there is no ``my_lstm``);
    - ``path``: the ``my_lstm`` folder, or None.
    """

    def __init__(self, members: dict, source: dict, results: list[Result], path: Path | None):
        self.__dict__.update(members)
        self.ModelConfig = ModelConfig
        self.source = source
        self.results = results
        self.path = path

    def mine(self) -> list[str]:
        """The names taken from the learner's ``my_lstm``."""
        return [name for name in NAMES if self.source[name] == PACKAGE]

    def summary(self) -> str:
        """One line: which names come from ``my_lstm`` and which from ``lstm_lib``."""
        if self.path is None:
            return f"Using the reference lstm_lib (no {PACKAGE} found)"
        mine = self.mine()
        reference = [name for name in NAMES if name not in mine]
        if not mine:
            return (
                f"Using the reference lstm_lib: nothing in {self.path} passes yet "
                f"(see python -m lstm_lib.course grade {self.path.parent})"
            )
        if not reference:
            return f"Using your {PACKAGE} for everything: {', '.join(mine)}"
        return (
            f"Using your {PACKAGE} for: {', '.join(mine)}; the reference lstm_lib for: {', '.join(reference)}"
        )

    def __repr__(self) -> str:
        return f"<CoursePackage: {self.summary()}>"


def use_student_package(path=None, quiet: bool = False) -> CoursePackage:
    """The learner's functions where they pass the grader, the reference's elsewhere.

    Args:
        path: the folder that holds ``my_lstm``; by default ``$MY_LSTM_DIR``, else the
            current folder or the nearest parent with a ``my_lstm``.
        quiet: do not print the one line that says which is used.

    Inside the learner's package every name that does not pass is replaced by the
    reference too, so that, say, the learner's ``LSTMLayer`` runs the reference
    ``lstm_step`` when theirs is not finished.
    """
    root = discover(path)
    references = reference_objects()
    if root is None:
        package = CoursePackage(references, dict.fromkeys(NAMES, "lstm_lib"), [], None)
    else:
        modules = load(root)
        results = grade_modules(modules, root)
        passed = {r.name for r in results if r.passed}
        point_to_reference(modules, [name for name in NAMES if name not in passed])
        members = {
            name: getattr(modules[BY_NAME[name].module], name) if name in passed else references[name]
            for name in NAMES
        }
        source = {name: PACKAGE if name in passed else "lstm_lib" for name in NAMES}
        package = CoursePackage(members, source, results, root)
    if not quiet:
        print(package.summary())
    return package
