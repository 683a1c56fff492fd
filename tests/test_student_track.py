"""The student track inside a chapter: the check cell grades the learner's ``my_lstm``.

Chapter 12 is executed (a copy, in a temporary folder) with ``MY_LSTM_DIR`` pointing at
a package of the learner's: filled with the reference solutions, its check cell says it
graded the learner's function; with one mistake, the check cell stops with the grader's
diagnosis.
"""

import ast
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from lstm_lib import course
from lstm_lib.course.exercises import PACKAGE
from lstm_lib.course.package import package_files

from .conftest import BOOK

CHAPTER = BOOK / "12_backprop_by_hand.ipynb"
TIMINGS = "nbval-ignore-output"  # the chapter's timing cells: seconds of work that check nothing here
EXERCISE_TAGS = {"exercise", "solution", "check"}


def tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


@pytest.fixture(scope="module")
def learner(tmp_path_factory):
    """A learner's folder whose my_lstm holds the reference solutions."""
    path = tmp_path_factory.mktemp("learner")
    course.write_package(path, solutions=True)
    return path


def run_chapter(tmp_path, monkeypatch, learner_dir, exercises_only=False):
    """Execute a copy of the chapter in ``tmp_path`` with ``$MY_LSTM_DIR`` set; return it.

    ``exercises_only`` keeps the setup and import cells and the coding exercises' cells."""
    nb = nbformat.read(CHAPTER, as_version=4)
    nb.cells = [c for c in nb.cells if TIMINGS not in tags(c)]
    if exercises_only:
        nb.cells = [
            c for k, c in enumerate(nb.cells) if c.cell_type == "code" and (k <= 2 or tags(c) & EXERCISE_TAGS)
        ]
    monkeypatch.setenv("MY_LSTM_DIR", str(learner_dir))
    folder = tmp_path / "book"
    folder.mkdir()
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    ).execute()
    nbformat.write(nb, folder / CHAPTER.name)
    return nb


def errors(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def check_cell(nb):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "check" in tags(c)]
    return cell


def test_the_chapter_runs_on_the_learners_package(tmp_path, monkeypatch, learner):
    nb = run_chapter(tmp_path, monkeypatch, learner)
    failed = [(k, e[0].ename, e[0].evalue) for k, c in enumerate(nb.cells) if (e := errors(c))]
    assert not failed, failed
    text = "".join(o.get("text", "") for o in check_cell(nb).outputs)
    assert text == (
        "✓ your my_lstm.step_backward passes: dA_t and dC_{t-1} match autograd on random float64 inputs\n"
    )


def test_a_mistake_stops_the_check_cell_with_the_diagnosis(tmp_path, monkeypatch, learner):
    broken = tmp_path / "broken"
    shutil.copytree(learner / PACKAGE, broken / PACKAGE)
    backward = broken / PACKAGE / "backward.py"
    source = backward.read_text(encoding="utf-8")
    assert "return dA, dC * F" in source
    backward.write_text(source.replace("return dA, dC * F", "return dA, dC"), encoding="utf-8")

    nb = run_chapter(tmp_path, monkeypatch, broken, exercises_only=True)
    cell = check_cell(nb)
    assert [(k, e[0].ename) for k, c in enumerate(nb.cells) if (e := errors(c))] == [
        (nb.cells.index(cell), "ExerciseError")
    ]
    assert errors(cell)[0].evalue == (
        "your my_lstm.step_backward fails: dC_{t-1} is missing the factor F_t: dC_{t-1} = dC_t ⊙ F_t "
        "(in my_lstm/backward.py)"
    )


def _function(source: str, name: str) -> str:
    (node,) = [n for n in ast.parse(source).body if getattr(n, "name", None) == name]
    body = (
        node.body[1:] if isinstance(node.body[0].value, ast.Constant) else node.body
    )  # without the docstring
    return ast.dump(ast.Module(body=body, type_ignores=[]))


def test_the_chapters_solution_is_the_packages():
    """The solution shown in chapter 12 is the reference that grades (and stands in for) the learner's."""
    nb = nbformat.read(CHAPTER, as_version=4)
    (solution,) = [
        c.source for c in nb.cells if "solution" in tags(c) and c.source.startswith("def step_backward(")
    ]
    reference = package_files(solutions=True)["backward.py"]
    assert _function(solution, "step_backward") == _function(reference, "step_backward")
