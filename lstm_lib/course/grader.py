"""Grading a learner's ``my_lstm`` against the reference ``lstm_lib``.

Each exercise is checked in isolation: while one is checked, every other name of
the exercise list inside ``my_lstm`` points to the reference, so that a mistake
in ``lstm_step`` fails ``lstm_step`` alone and not the layer built on it.
"""

import io
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

from .compare import ExerciseError
from .exercises import EXERCISES, PACKAGE, Exercise
from .grading import backward, batching, cell, evaluation, layer, model, sampling, train
from .loader import load, package_dir

PASS, FAIL, NOT_STARTED = "pass", "FAIL", "not started"

CHECKS = {
    "batchify": batching.check_batchify,
    "get_batch": batching.check_get_batch,
    "lstm_step": cell.check_lstm_step,
    "LSTMLayer": layer.check_LSTMLayer,
    "StackedLSTM": layer.check_StackedLSTM,
    "CharLSTM": model.check_CharLSTM,
    "train_step": train.check_train_step,
    "evaluate": evaluation.check_evaluate,
    "next_char_distribution": sampling.check_next_char_distribution,
    "step_backward": backward.check_step_backward,
}
"""The check of each exercise: ``lstm_lib.course.grading.<module>.check_<name>``, one grading
module per module of ``my_lstm``."""


@dataclass(frozen=True)
class Result:
    """The outcome of one exercise: ``status`` is "pass", "FAIL" or "not started"."""

    name: str
    chapter: str
    status: str
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASS


def reference_objects() -> dict:
    """The reference of every exercise: the library's own, ``lstm_lib.<module>.<name>``."""
    return {exercise.name: exercise.reference() for exercise in EXERCISES}


def point_to_reference(modules: dict, names) -> list:
    """In every loaded module of ``my_lstm``, make each of ``names`` the reference's.

    Returns what was replaced, as ``(module, name, value)``, for :func:`restore`."""
    references = reference_objects()
    replaced = []
    for module in modules.values():
        if isinstance(module, ModuleType):
            for name in names:
                if name in vars(module):
                    replaced.append((module, name, vars(module)[name]))
                    setattr(module, name, references[name])
    return replaced


def restore(replaced: list) -> None:
    for module, name, value in reversed(replaced):
        setattr(module, name, value)


@contextmanager
def _isolated(modules: dict, keep: str) -> Iterator[None]:
    replaced = point_to_reference(modules, [e.name for e in EXERCISES if e.name != keep])
    try:
        yield
    finally:
        restore(replaced)


def _location(exc: BaseException, root: Path) -> str:
    """``line 12 of my_lstm/cell.py``: the learner's line where ``exc`` was raised, or ""."""
    if isinstance(exc, SyntaxError) and exc.filename:
        frames = [(exc.filename, exc.lineno)]
    else:
        frames = [(f.filename, f.lineno) for f in traceback.extract_tb(exc.__traceback__)]
    for filename, lineno in reversed(frames):
        path = Path(filename)
        if path.is_relative_to(root):
            return f"line {lineno} of {PACKAGE}/{path.relative_to(root).as_posix()}"
    return ""


def _describe(exc: BaseException, root: Path) -> str:
    where = _location(exc, root)
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return f"{text} ({where})" if where else text


def grade_one(exercise: Exercise, modules: dict, root: Path) -> Result:
    """Check one exercise of loaded ``modules`` (see :func:`~lstm_lib.course.loader.load`)."""

    def result(status, message=""):
        return Result(exercise.name, exercise.chapter, status, " ".join(str(message).split()))

    module = modules[exercise.module]
    if isinstance(module, BaseException):
        return result(FAIL, f"{PACKAGE}/{exercise.module}.py does not import: {_describe(module, root)}")
    student = getattr(module, exercise.name, None)
    if student is None:
        return result(FAIL, f"{PACKAGE}/{exercise.module}.py has no {exercise.name}; see {exercise.where()}")
    torch.manual_seed(0)
    try:
        with _isolated(modules, exercise.name):
            CHECKS[exercise.name](student)
    except NotImplementedError as exc:
        return result(NOT_STARTED, str(exc) or exercise.stub_message())
    except ExerciseError as exc:
        return result(FAIL, exc)
    except Exception as exc:  # the learner's code may raise anything
        return result(FAIL, f"raised {_describe(exc, root)}")
    return result(PASS)


@contextmanager
def _one_thread() -> Iterator[None]:
    # The checks' tensors are tiny: on a busy machine, waking a pool of threads for each
    # operation costs a hundred times the operation itself.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def grade_modules(modules: dict, root: Path, exercises=EXERCISES) -> list[Result]:
    """Check ``exercises`` (by default every one), quietly: the learner's prints and
    warnings are swallowed and the global random state is left as it was."""
    with torch.random.fork_rng(devices=[]), _one_thread(), redirect_stdout(io.StringIO()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [grade_one(exercise, modules, root) for exercise in exercises]


def grade(path) -> list[Result]:
    """Import ``path/my_lstm`` afresh and check each of its exercises against ``lstm_lib``.

    Args:
        path: the folder that holds ``my_lstm`` (or the ``my_lstm`` folder itself).

    Returns:
        One :class:`Result` per exercise, in the order of the chapters.
    """
    root = package_dir(path)
    return grade_modules(load(root), root)


def format_table(results: list[Result]) -> str:
    """The results as an aligned text table, with a summary line."""
    rows = [("function", "chapter", "result", "message")]
    rows += [(r.name, r.chapter, r.status, r.message) for r in results]
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len("message"))
    counts = {status: sum(r.status == status for r in results) for status in (PASS, FAIL, NOT_STARTED)}
    summary = f"{counts[PASS]} of {len(results)} pass"
    if counts[FAIL]:
        summary += f", {counts[FAIL]} fail"
    if counts[NOT_STARTED]:
        summary += f", {counts[NOT_STARTED]} not started"
    return "\n".join(line.rstrip() for line in lines) + "\n\n" + summary
