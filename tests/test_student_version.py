"""The course kit: the student version of the book, and the instructor page's exercise list.

Whether the full version passes (every solution satisfies its check) is nbval's job:
CI re-executes every chapter with ``pytest --nbval``.
"""

from __future__ import annotations

import importlib.util
import re
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import ROOT, chapter_notebooks, notebook_params, read_notebook, tags


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


make_student_version = _load_script("make_student_version")
list_exercises = _load_script("list_exercises")

# Chapters whose first coding exercise is reached quickly, in order of preference.
FAST_CHAPTERS = [
    "01_preface",
    "02_characters_as_data",
    "04_gates",
    "03_why_rnns_forget",
    "05_assembling_the_lstm",
]
CHECK_ERRORS = {"ExerciseError", "NotImplementedError"}


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("kit") / "student"
    make_student_version.write_student_version(out, chapter_notebooks())
    return out


def _code_sources(nb, tag):
    return [
        c.source.strip() for c in nb.cells if c.cell_type == "code" and tag in tags(c) and c.source.strip()
    ]


@pytest.mark.parametrize("path", notebook_params())
def test_no_solution_left(student_dir, path):
    full = read_notebook(path)
    student = read_notebook(student_dir / path.name)
    assert not [c for c in student.cells if "solution" in tags(c)], "cells tagged solution remain"
    text = "\n".join(c.source for c in student.cells)
    assert not re.search(r"\{solution(-start|-end)?\}", text), (
        f"{path.name}: a solution directive remains in the student version: "
        "a solution cell is not tagged `solution`"
    )
    for source in _code_sources(full, "solution"):
        leaked = [c for c in student.cells if source in c.source]
        assert not leaked, f"{path.name}: solution code appears in the student version:\n{source[:300]}"


@pytest.mark.parametrize("path", notebook_params())
def test_exercises_and_checks_kept_with_cleared_outputs(student_dir, path):
    full = read_notebook(path)
    student = read_notebook(student_dir / path.name)
    for tag in ("exercise", "check"):
        assert _code_sources(student, tag) == _code_sources(full, tag), f"{path.name}: `{tag}` cells changed"
        for cell in student.cells:
            if tag in tags(cell) and cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (
                    f"{path.name}: `{tag}` output kept"
                )
    # Everything that is not a solution is kept, in order.
    kept = [c.source for c in full.cells if "solution" not in tags(c)]
    assert [c.source for c in student.cells] == kept
    assert len(full.cells) - len(student.cells) == sum("solution" in tags(c) for c in full.cells)


@pytest.mark.parametrize("path", notebook_params())
def test_coding_exercises_follow_the_convention(path):
    """Each `check` cell comes after an `exercise` stub and a `solution` that redefines it."""
    nb = read_notebook(path)
    problems = []
    last = None
    for index, cell in enumerate(nb.cells):
        t = tags(cell)
        if cell.cell_type == "code" and "exercise" in t:
            last = "exercise"
        elif cell.cell_type == "code" and "solution" in t and last == "exercise":
            last = "solution"
        elif cell.cell_type == "code" and "check" in t:
            if last != "solution":
                problems.append(f"check cell {index} does not follow an exercise stub and its solution code")
            last = None
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_a_check_fails_in_the_student_version(student_dir):
    """Executing a student chapter up to its first check cell ends in ExerciseError/NotImplementedError."""
    candidates = [student_dir / f"{name}.ipynb" for name in FAST_CHAPTERS]
    candidates = [p for p in candidates if p.is_file()]
    chosen = None
    for path in candidates:
        nb = read_notebook(path)
        checks = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "check" in tags(c)]
        if checks:
            chosen, first_check = path, checks[0]
            break
    if chosen is None:
        pytest.skip(f"none of {FAST_CHAPTERS} has a check cell yet")
    nb.cells = nb.cells[: first_check + 1]
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(student_dir)}},
    )
    client.execute()
    for index, cell in enumerate(nb.cells[:-1]):
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if errors and "exercise" not in tags(cell) and "raises-exception" not in tags(cell):
            pytest.fail(
                f"{chosen.name}: cell {index} failed before the check: {errors[0].ename}: {errors[0].evalue}"
            )
    outputs = nb.cells[-1].outputs
    errors = [o.ename for o in outputs if o.output_type == "error"]
    assert errors and errors[0] in CHECK_ERRORS, (
        f"{chosen.name}: the first check cell (cell {first_check}) should fail in the student version "
        f"with {sorted(CHECK_ERRORS)}, got outputs {outputs}"
    )
    assert not any("✓" in o.get("text", "") for o in outputs)


# ---------------------------------------------------------------------------
# The instructor page
# ---------------------------------------------------------------------------


def test_instructor_page_lists_every_exercise():
    page = (ROOT / "book" / "instructor.md").read_text(encoding="utf-8")
    labels = [ex.label for ex in list_exercises.all_exercises()]
    missing = [label for label in labels if f"`{label}`" not in page]
    assert not missing, (
        f"book/instructor.md does not list {missing}: run python scripts/list_exercises.py --write"
    )
    listed = set(re.findall(r"`(ch\d\d-ex\d+)`", page))
    stale = sorted(listed - set(labels))
    assert not stale, f"book/instructor.md lists exercises that no longer exist: {stale}"


@pytest.mark.parametrize("path", notebook_params())
def test_exercises_have_labels_and_plain_titles(path):
    """Labels follow chNN-exK; titles carry no inline code (sphinx-exercise then fails to resolve
    the solution's link back: `.rst.rst: WARNING: undefined label`)."""
    chapter = path.stem[:2]
    problems = []
    for ex in list_exercises.exercises_in(path):
        if not re.fullmatch(rf"ch{chapter}-ex\d+", ex.label):
            problems.append(f"label {ex.label!r} is not ch{chapter}-exK")
        if ex.title_has_code:
            problems.append(f"{ex.label}: title {ex.title!r} contains `inline code`; use plain words")
    labels = [ex.label for ex in list_exercises.exercises_in(path)]
    if len(set(labels)) != len(labels):
        problems.append(f"duplicate labels in {labels}")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_the_stub_package_is_written_next_to_the_notebooks(student_dir):
    """The student version carries my_lstm with every exercise a stub, gradable in place."""
    from lstm_lib.course import NOT_STARTED, grade
    from lstm_lib.course.package import package_files

    package = student_dir / "my_lstm"
    assert {p.name for p in package.glob("*.py")} == set(package_files())
    assert "NotImplementedError" in (package / "cell.py").read_text(encoding="utf-8")
    assert {r.status for r in grade(student_dir)} == {NOT_STARTED}


def test_nbformat_roundtrip_of_student_notebooks(student_dir):
    for path in sorted(student_dir.glob("*.ipynb")):
        nbformat.validate(nbformat.read(path, as_version=4))
