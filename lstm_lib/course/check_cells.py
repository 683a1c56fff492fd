"""Check cells for the learner's package: grade one function of ``my_lstm`` in a chapter.

    from lstm_lib.course import check
    check("step_backward")

finds ``my_lstm`` as :func:`~lstm_lib.course.use_student_package` does and grades that
one function. When there is no ``my_lstm`` (the published book, a fresh download), it
grades the reference solution instead, so that the cell passes and shows the grader at
work. Every line it prints is the same on every machine.
"""

import ast
import tempfile
from pathlib import Path

from ..errors import UsageError
from .compare import ExerciseError
from .exercises import BY_NAME, PACKAGE, Exercise
from .grader import FAIL, NOT_STARTED, PASS, Result, grade_modules
from .loader import discover, forget, load
from .package import package_files, write_package

START = "python -m lstm_lib.course start ."


def exercise_named(name: str) -> Exercise:
    """The exercise called ``name``; UsageError naming the valid ones otherwise."""
    if name not in BY_NAME:
        raise UsageError(f"no exercise {name!r} in {PACKAGE}; the exercises are {', '.join(BY_NAME)}")
    return BY_NAME[name]


def grade_function(name: str, path) -> Result:
    """Import the ``my_lstm`` in ``path`` afresh and grade its ``name`` alone."""
    exercise = exercise_named(name)
    root = Path(path)
    try:
        (result,) = grade_modules(load(root), root, (exercise,))
    finally:
        forget()
    return result


def stub(name: str) -> str:
    """The source of ``name`` as ``start`` writes it into ``my_lstm``: the function to write."""
    exercise = exercise_named(name)
    source = package_files()[f"{exercise.module}.py"]
    (node,) = [n for n in ast.parse(source).body if getattr(n, "name", None) == name]
    lines = source.splitlines()[node.lineno - 1 - len(node.decorator_list) : node.end_lineno]
    return f"# {PACKAGE}/{exercise.module}.py\n" + "\n".join(lines)


def check(name: str, path=None) -> None:
    """Grade the learner's ``name`` in ``my_lstm`` and print one line, for a check cell.

    Args:
        name: the exercise, e.g. ``"lstm_step"`` (see :data:`~lstm_lib.course.EXERCISES`).
        path: the folder that holds ``my_lstm``; by default ``$MY_LSTM_DIR``, else the
            current folder or the nearest parent with a ``my_lstm``.

    Returns nothing (a check cell shows no value): use :func:`grade_function` for the
    :class:`~lstm_lib.course.grader.Result`.

    Raises:
        ExerciseError: the function fails (the grader's diagnosis) or is not written yet.
    """
    exercise = exercise_named(name)
    root = discover(path)
    if root is None:
        _check_reference(exercise)
        return
    result = grade_function(name, root)
    where = f"{PACKAGE}/{exercise.module}.py"
    if result.status == NOT_STARTED:
        raise ExerciseError(f"{result.message}; write it in {where} and run this cell again")
    if result.status == FAIL:
        raise ExerciseError(f"your {PACKAGE}.{name} fails: {result.message} (in {where})")
    print(f"✓ your {PACKAGE}.{name} passes: {exercise.passes}")


def _check_reference(exercise: Exercise) -> None:
    with tempfile.TemporaryDirectory(prefix="my-lstm-reference-") as folder:
        result = grade_function(exercise.name, write_package(folder, solutions=True))
    if result.status != PASS:  # the course's own answer key is wrong: not the learner's problem
        raise RuntimeError(f"the reference solution of {exercise.name} fails: {result.message}")
    print(
        f"✓ no {PACKAGE} found, so the reference {exercise.name} was graded: it passes "
        f"({exercise.passes}); to write your own, run `{START}`"
    )
