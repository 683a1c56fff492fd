"""Grading a learner's ``my_lstm`` against the reference ``lstm_lib``.

Each exercise is checked in isolation: while one is checked, every other name of
the exercise list inside ``my_lstm`` points to the reference, so that a mistake
in ``lstm_step`` fails ``lstm_step`` alone and not the layer built on it.

The results come as a table (:func:`format_table`), a JSON document
(:func:`results_document`) or Gradescope's ``results.json`` (:func:`gradescope_results`);
:func:`grade_all` grades a folder of submissions, one row per student, for :func:`csv_text`.
"""

import csv
import io
import math
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

from ..errors import UsageError
from .compare import ExerciseError
from .exercises import BY_NAME, EXERCISES, MODULES, PACKAGE, Exercise
from .grading import backward, batching, cell, evaluation, layer, model, sampling, train
from .loader import forget, load, package_dir

PASS, FAIL, NOT_STARTED = "pass", "FAIL", "not started"
MISSING = "missing"
"""The value of every cell of :func:`grade_all`'s row for a folder without a ``my_lstm``."""

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


@contextmanager
def _guarded() -> Iterator[None]:
    """The learner's prints and warnings swallowed (a JSON document on stdout stays whole),
    and torch's global settings as they were, whatever the learner's code sets."""
    dtype, grad = torch.get_default_dtype(), torch.is_grad_enabled()
    try:
        with redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch.set_default_dtype(dtype)
        torch.set_grad_enabled(grad)


def _grade_root(root: Path) -> tuple[list[Result], set[str]]:
    """Grade the ``my_lstm`` folder ``root``: the results, and the exercises whose module
    does not import. Nothing of ``root`` stays in ``sys.modules`` afterwards."""
    with _guarded():
        try:
            modules = load(root)
            results = grade_modules(modules, root)
        except SystemExit as exc:  # the learner's sys.exit() must not end the grader with its status
            message = f"raised {_describe(exc, root)}; nothing could be graded"
            return [Result(e.name, e.chapter, FAIL, message) for e in EXERCISES], set(BY_NAME)
        finally:
            forget()
    broken = {e.name for e in EXERCISES if isinstance(modules[e.module], BaseException)}
    return results, broken


def grade(path) -> list[Result]:
    """Import ``path/my_lstm`` afresh and check each of its exercises against ``lstm_lib``.

    Args:
        path: the folder that holds ``my_lstm`` (or the ``my_lstm`` folder itself).

    Returns:
        One :class:`Result` per exercise, in the order of the chapters.
    """
    return _grade_root(package_dir(path))[0]


def summary(results: list[Result]) -> str:
    """``4 of 10 pass, 2 fail, 4 not started``: the last line of :func:`format_table`."""
    counts = {status: sum(r.status == status for r in results) for status in (PASS, FAIL, NOT_STARTED)}
    line = f"{counts[PASS]} of {len(results)} pass"
    if counts[FAIL]:
        line += f", {counts[FAIL]} fail"
    if counts[NOT_STARTED]:
        line += f", {counts[NOT_STARTED]} not started"
    return line


def format_table(results: list[Result]) -> str:
    """The results as an aligned text table, with a summary line."""
    rows = [("function", "chapter", "result", "message")]
    rows += [(r.name, r.chapter, r.status, r.message) for r in results]
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len("message"))
    return "\n".join(line.rstrip() for line in lines) + "\n\n" + summary(results)


# ---------------------------------------------------------------------------
# Machine-readable results: JSON, Gradescope, and a class's CSV
# ---------------------------------------------------------------------------


def results_document(results: list[Result], package) -> dict:
    """The results as ``grade --json`` prints them::

    {"package": "/path/to/my_lstm", "passed": 9, "total": 10,
     "results": [{"name": "lstm_step", "module": "cell", "chapter": "4",
                  "status": "FAIL", "passed": false, "message": "..."}, ...]}
    """
    return {
        "package": str(package),
        "passed": sum(r.passed for r in results),
        "total": len(results),
        "results": [
            {
                "name": r.name,
                "module": BY_NAME[r.name].module,
                "chapter": r.chapter,
                "status": r.status,
                "passed": r.passed,
                "message": r.message,
            }
            for r in results
        ],
    }


def parse_points(text: str) -> dict[str, float]:
    """``"CharLSTM=3,step_backward=2"`` -> ``{"CharLSTM": 3, "step_backward": 2}``; UsageError
    for an unknown function, a repeated one, or a value that is not a number >= 0."""
    points: dict[str, float] = {}
    for item in text.split(","):
        name, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not name:
            raise UsageError(f"--points takes NAME=N pairs separated by commas (CharLSTM=3); got {item!r}")
        if name not in BY_NAME:
            names = ", ".join(BY_NAME)
            raise UsageError(f"--points: no function {name!r} in {PACKAGE}; the functions are {names}")
        if name in points:
            raise UsageError(f"--points gives {name} twice")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number >= 0):
            raise UsageError(f"--points {name}={value}: the points must be a number >= 0")
        points[name] = int(number) if number.is_integer() else number
    return points


def _test_name(result: Result) -> str:
    chapters = "chapters" if "," in result.chapter else "chapter"
    return f"{result.name} ({chapters} {result.chapter})"


def gradescope_results(results: list[Result], points: dict | None = None) -> dict:
    """Gradescope's ``results.json`` for ``results``: one test per function, worth
    ``points[name]`` (1 by default), scored all or nothing.

    The fields are those of Gradescope's autograder specification ("Output format",
    https://gradescope-autograders.readthedocs.io/en/latest/specs/): the top-level ``score``
    (which overrides the sum of the tests'), ``output``, ``visibility`` and
    ``stdout_visibility``, and ``tests``, each with ``name``, ``number``, ``score``,
    ``max_score``, ``status`` ("passed" or "failed"), ``output`` and ``visibility``.
    """
    points = points or {}
    tests = []
    for k, r in enumerate(results, start=1):
        worth = points.get(r.name, 1)
        tests.append(
            {
                "name": _test_name(r),
                "number": str(k),
                "score": worth if r.passed else 0,
                "max_score": worth,
                "status": "passed" if r.passed else "failed",
                "output": r.message or f"passes: {BY_NAME[r.name].passes}",
                "visibility": "visible",
            }
        )
    return {
        "tests": tests,
        "score": sum(t["score"] for t in tests),
        "output": summary(results),
        "visibility": "visible",
        "stdout_visibility": "visible",
    }


def gradescope_error(message: str) -> dict:
    """Gradescope's ``results.json`` for a submission that could not be graded: score 0,
    and the reason as the output the student sees."""
    return {
        "tests": [],
        "score": 0,
        "output": f"error: {message}",
        "visibility": "visible",
        "stdout_visibility": "visible",
    }


@dataclass(frozen=True)
class Submission:
    """One student's row of :func:`grade_all`.

    Attributes:
        student: the name of the student's folder.
        package: the ``my_lstm`` folder graded, or None when the folder holds none.
        results: one :class:`Result` per exercise; empty when ``package`` is None.
        cells: ``{"lstm_step": "pass", ...}``: "pass", "FAIL", "not started",
            ``"error: <why>"`` when the function's module does not import, or "missing".
    """

    student: str
    package: Path | None
    results: tuple[Result, ...]
    cells: dict[str, str]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)


def _package_in(folder: Path) -> Path | None:
    """``folder/my_lstm``, or ``folder`` itself when it holds the package's files; else None."""
    if (folder / PACKAGE).is_dir():
        return (folder / PACKAGE).resolve()
    if any((folder / f"{name}.py").is_file() for name in ("__init__", *MODULES)):
        return folder.resolve()
    return None


def submission_folders(folder) -> list[tuple[str, Path | None]]:
    """``(student, my_lstm folder or None)`` for each immediate subfolder of ``folder``,
    sorted by name; hidden folders and ``__pycache__`` are skipped.

    Raises:
        UsageError: ``folder`` is not a folder, holds a ``my_lstm`` itself (one submission:
            ``grade`` it), or has no subfolder.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"{folder} {what}; grade-all takes a folder with one subfolder per student")
    if (folder / PACKAGE).is_dir():
        raise UsageError(
            f"{folder} holds a {PACKAGE} itself: grade one submission with "
            f"`python -m lstm_lib.course grade {folder}`; "
            "grade-all takes a folder with one subfolder per student"
        )
    students = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    if not students:
        raise UsageError(f"{folder} has no subfolders; grade-all grades one subfolder per student")
    students.sort(key=lambda p: (p.name.casefold(), p.name))
    return [(p.name, _package_in(p)) for p in students]


def grade_all(folder) -> list[Submission]:
    """Grade every submission in ``folder``: each immediate subfolder is one student's,
    holding a ``my_lstm`` (or holding the package's files itself).

    Each submission is imported afresh and removed from ``sys.modules`` after it is graded,
    so that one student's code is never graded as another's. The submissions all run in
    this process: code that patches ``lstm_lib`` or never returns affects the rest (run
    ``grade`` in a process of its own per submission when that matters).

    Returns:
        One :class:`Submission` per subfolder, sorted by student name.
    """
    rows = []
    for student, root in submission_folders(folder):
        if root is None:
            rows.append(Submission(student, None, (), dict.fromkeys(BY_NAME, MISSING)))
            continue
        results, broken = _grade_root(root)
        cells = {r.name: f"error: {r.message}" if r.name in broken else r.status for r in results}
        rows.append(Submission(student, root, tuple(results), cells))
    return rows


CSV_COLUMNS = ("student", *BY_NAME, "passed", "total")
"""The columns of :func:`csv_text`: the student, one per function, the count passed, the total."""


def csv_text(submissions: list[Submission]) -> str:
    """The class's results as CSV: one row per submission, in the columns :data:`CSV_COLUMNS`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in submissions:
        writer.writerow([s.student, *(s.cells[name] for name in BY_NAME), s.passed, len(EXERCISES)])
    return out.getvalue()
