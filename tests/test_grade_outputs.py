"""The grader's machine-readable outputs: ``grade --json``, ``grade --gradescope`` (Gradescope's
results.json) and ``grade-all --csv`` (a class in one CSV), and the instructor page that documents them."""

import csv
import importlib.util
import io
import json
import re
import shutil
import sys

import nbformat
import pytest
import torch

from lstm_lib import course
from lstm_lib.course import __main__ as cli
from lstm_lib.course import grader
from lstm_lib.course.__main__ import main
from lstm_lib.course.exercises import BY_NAME, EXERCISES, PACKAGE, plain_title

from .conftest import ROOT


def _load_script(name):
    """``scripts/NAME.py`` as the module ``NAME`` (as tests/test_student_version.py loads it)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


list_exercises = _load_script("list_exercises")

NAMES = [exercise.name for exercise in EXERCISES]
H_TANH, H_NO_TANH = "H = O * torch.tanh(C)", "H = O * C"
H_MESSAGE = "H_t uses C_t instead of tanh(C_t)"
TOPK, TOPK_PLUS_ONE = "logits.topk(top_k, dim=-1)", "logits.topk(top_k + 1, dim=-1)"
TOPK_MESSAGE = "top-k keeps k+1 characters"


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    """A folder whose my_lstm is as ``start`` writes it: nothing started."""
    path = tmp_path_factory.mktemp("stubs")
    course.write_package(path, solutions=False)
    return path


def plant(folder, source, module, old, new):
    """``folder/my_lstm``: ``source``'s my_lstm with ``old`` replaced by ``new`` in ``module``.py."""
    shutil.copytree(source / PACKAGE, folder / PACKAGE)
    path = folder / PACKAGE / f"{module}.py"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {module}.py"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


@pytest.fixture
def planted(filled, tmp_path):
    """The solutions with one mistake: H_t = O_t C_t in lstm_step."""
    return plant(tmp_path / "planted", filled, "cell", H_TANH, H_NO_TANH)


def run(capsys, *argv):
    """``python -m lstm_lib.course ARGV``: (exit status, stdout, stderr)."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(err: str) -> str:
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err


# ---------------------------------------------------------------------------
# grade --json
# ---------------------------------------------------------------------------


def test_json_of_a_passing_package(filled, capsys):
    status, out, err = run(capsys, "grade", filled, "--json")
    assert status == 0 and not err
    document = json.loads(out)
    assert set(document) == {"package", "passed", "total", "results"}
    assert document["package"] == str((filled / PACKAGE).resolve())
    assert document["passed"] == document["total"] == len(NAMES)
    assert [r["name"] for r in document["results"]] == NAMES
    for record, exercise in zip(document["results"], EXERCISES):
        assert set(record) == {"name", "module", "chapter", "status", "passed", "message"}
        assert record["module"] == exercise.module and record["chapter"] == exercise.chapter
        assert (record["status"], record["passed"], record["message"]) == ("pass", True, "")


def test_json_of_stubs_and_of_a_planted_mistake(stubs, planted, capsys):
    status, out, _ = run(capsys, "grade", stubs, "--json")
    document = json.loads(out)
    assert status == 1 and document["passed"] == 0 and document["total"] == len(NAMES)
    assert {r["status"] for r in document["results"]} == {course.NOT_STARTED}
    assert not any(r["passed"] for r in document["results"])
    assert document["results"][2]["message"] == BY_NAME["lstm_step"].stub_message()

    status, out, _ = run(capsys, "grade", planted, "--json")
    document = json.loads(out)
    failed = [r for r in document["results"] if not r["passed"]]
    assert status == 1 and document["passed"] == len(NAMES) - 1
    assert [(r["name"], r["module"], r["status"], r["message"]) for r in failed] == [
        ("lstm_step", "cell", course.FAIL, H_MESSAGE)
    ]


def test_json_is_the_same_as_the_python_results(planted, capsys):
    _, out, _ = run(capsys, "grade", planted / PACKAGE, "--json")  # the my_lstm folder itself works too
    results = course.grade(planted)
    assert json.loads(out) == grader.results_document(results, (planted / PACKAGE).resolve())


def test_the_learners_prints_do_not_spoil_the_json(filled, tmp_path, capsys):
    noisy = plant(tmp_path, filled, "cell", "import torch\n", "import torch\n\nprint('hello from cell.py')\n")
    layer = noisy / PACKAGE / "layer.py"
    layer.write_text("print('and from layer.py')\n" + layer.read_text(encoding="utf-8"), encoding="utf-8")
    status, out, _ = run(capsys, "grade", noisy, "--json")
    assert status == 0 and json.loads(out)["passed"] == len(NAMES)
    assert "hello" not in out


def test_the_table_stays_the_default(planted, capsys):
    status, out, _ = run(capsys, "grade", planted)
    assert status == 1
    assert out.startswith("function ") and out.rstrip().endswith("9 of 10 pass, 1 fail")
    assert out == course.format_table(course.grade(planted)) + "\n"


def test_a_learners_sys_exit_is_a_failure_not_an_exit_status(filled, tmp_path, capsys):
    exit_at_import = "import sys\n\nfrom torch import nn\n\nsys.exit(0)\n"
    exiting = plant(tmp_path, filled, "model", "from torch import nn\n", exit_at_import)
    status, out, _ = run(capsys, "grade", exiting, "--json")
    document = json.loads(out)
    assert status == 1 and document["passed"] == 0
    assert "raised SystemExit" in document["results"][0]["message"]
    lines = (exiting / PACKAGE / "model.py").read_text(encoding="utf-8").splitlines()
    assert f"line {lines.index('sys.exit(0)') + 1} of my_lstm/model.py" in document["results"][0]["message"]
    assert not [name for name in sys.modules if name.split(".")[0] == PACKAGE]


def test_grading_leaves_torchs_global_settings_alone(filled, tmp_path):
    careless = plant(
        tmp_path,
        filled,
        "cell",
        "import torch\n",
        "import torch\n\ntorch.set_default_dtype(torch.float64)\ntorch.set_grad_enabled(False)\n",
    )
    course.grade(careless)
    assert torch.get_default_dtype() == torch.float32 and torch.is_grad_enabled()


# ---------------------------------------------------------------------------
# grade --gradescope
# ---------------------------------------------------------------------------


def test_gradescope_results_of_a_planted_mistake(planted, tmp_path, capsys):
    path = tmp_path / "results.json"
    status, out, err = run(capsys, "grade", planted, "--gradescope", path)
    assert status == 1 and not err
    assert out.rstrip().endswith("9 of 10 pass, 1 fail"), "the table is still printed"
    results = json.loads(path.read_text(encoding="utf-8"))
    assert set(results) == {"tests", "score", "output", "visibility", "stdout_visibility"}
    assert (results["score"], results["output"]) == (9, "9 of 10 pass, 1 fail")
    assert results["visibility"] == results["stdout_visibility"] == "visible"
    tests = results["tests"]
    assert [t["number"] for t in tests] == [str(k) for k in range(1, len(NAMES) + 1)]
    assert tests[2]["name"] == "lstm_step (chapter 4)"
    assert tests[6]["name"] == "train_step (chapters 6, 7)"
    assert results["score"] == sum(t["score"] for t in tests)
    for test, exercise in zip(tests, EXERCISES):
        assert set(test) == {"name", "number", "score", "max_score", "status", "output", "visibility"}
        assert test["name"].startswith(f"{exercise.name} (chapter")
        assert test["max_score"] == 1 and test["visibility"] == "visible"
        if exercise.name == "lstm_step":
            assert (test["score"], test["status"], test["output"]) == (0, "failed", H_MESSAGE)
        else:
            assert (test["score"], test["status"]) == (1, "passed")
            assert test["output"] == f"passes: {exercise.passes}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["planted", "results.json"], (
        "a temporary file was left"
    )


def test_gradescope_with_json_and_stubs(stubs, tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text("an older run", encoding="utf-8")
    status, out, _ = run(capsys, "grade", stubs, "--json", "--gradescope", path)
    assert status == 1 and json.loads(out)["passed"] == 0
    results = json.loads(path.read_text(encoding="utf-8"))
    assert results["score"] == 0 and results["output"] == "0 of 10 pass, 10 not started"
    assert [t["output"] for t in results["tests"]] == [e.stub_message() for e in EXERCISES]


def test_gradescope_is_written_atomically(filled, tmp_path, capsys, monkeypatch):
    written = []
    real = cli.atomic_write

    def spy(path):
        written.append(path)
        return real(path)

    monkeypatch.setattr(cli, "atomic_write", spy)
    path = tmp_path / "results.json"
    assert run(capsys, "grade", filled, "--gradescope", path)[0] == 0
    assert written == [path]
    assert json.loads(path.read_text(encoding="utf-8"))["score"] == len(NAMES)


def test_gradescope_points(planted, tmp_path, capsys):
    path = tmp_path / "results.json"
    status, _, _ = run(
        capsys, "grade", planted, "--gradescope", path, "--points", "lstm_step=3, CharLSTM=2.5"
    )
    assert status == 1
    results = json.loads(path.read_text(encoding="utf-8"))
    worth = {t["name"].split()[0]: (t["score"], t["max_score"]) for t in results["tests"]}
    assert worth["lstm_step"] == (0, 3) and worth["CharLSTM"] == (2.5, 2.5) and worth["batchify"] == (1, 1)
    assert results["score"] == 8 + 2.5
    assert grader.parse_points("step_backward=2") == {"step_backward": 2}


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ("CharLSTM", "NAME=N pairs"),
        ("=3", "NAME=N pairs"),
        ("charlstm=3", "no function 'charlstm'"),
        ("CharLSTM=3,CharLSTM=2", "gives CharLSTM twice"),
        ("CharLSTM=-1", "a number >= 0"),
        ("CharLSTM=three", "a number >= 0"),
        ("CharLSTM=nan", "a number >= 0"),
    ],
)
def test_bad_points_are_one_line(filled, tmp_path, capsys, points, message):
    path = tmp_path / "results.json"
    status, out, err = run(capsys, "grade", filled, "--gradescope", path, "--points", points)
    assert status == 2 and not out and message in one_line_error(err)
    assert not path.exists()


def test_points_need_gradescope(filled, capsys):
    status, _, err = run(capsys, "grade", filled, "--points", "CharLSTM=3")
    assert status == 2 and "add --gradescope PATH" in one_line_error(err)


def test_a_submission_without_my_lstm_still_gets_a_results_file(tmp_path, capsys):
    submission = tmp_path / "submission"
    submission.mkdir()
    path = tmp_path / "results.json"
    status, out, err = run(capsys, "grade", submission, "--gradescope", path)
    assert status == 2 and not out and "no my_lstm package in" in one_line_error(err)
    results = json.loads(path.read_text(encoding="utf-8"))
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"] == err.strip()


def test_bad_output_paths_are_one_line_and_grade_nothing(filled, tmp_path, capsys):
    missing = tmp_path / "no-such-folder" / "results.json"
    status, out, err = run(capsys, "grade", filled, "--gradescope", missing)
    assert status == 2 and not out and "does not exist" in one_line_error(err)
    assert not missing.parent.exists(), "the missing folder must not be created"
    status, _, err = run(capsys, "grade", filled, "--gradescope", tmp_path)
    assert status == 2 and "is a folder" in one_line_error(err)
    status, _, err = run(capsys, "grade", tmp_path / "nowhere", "--json")
    assert status == 2 and "is not a folder" in one_line_error(err)


# ---------------------------------------------------------------------------
# grade-all --csv
# ---------------------------------------------------------------------------


@pytest.fixture
def classroom(filled, stubs, tmp_path):
    """Six submissions: each a different case, in an order that does not sort by itself."""
    room = tmp_path / "submissions"
    plant(room / "bob", filled, "cell", H_TANH, H_NO_TANH)  # lstm_step wrong
    plant(room / "Carol", filled, "sampling", TOPK, TOPK_PLUS_ONE)  # next_char_distribution wrong
    shutil.copytree(filled / PACKAGE, room / "alice" / PACKAGE)  # everything right
    shutil.copytree(stubs / PACKAGE, room / "dave" / PACKAGE)  # nothing started
    plant(room / "erin", filled, "sampling", "import torch\n", "import torch\ndef broken(:\n")
    shutil.copytree(filled / PACKAGE, room / "frank")  # the package's files, not in a my_lstm folder
    (room / "gina").mkdir()  # no my_lstm at all
    (room / "gina" / "notes.txt").write_text("I could not finish", encoding="utf-8")
    (room / ".ipynb_checkpoints").mkdir()  # not a student
    (room / "README.txt").write_text("downloaded from the course site", encoding="utf-8")
    return room


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_grade_all_writes_one_row_per_student(classroom, tmp_path, capsys):
    out_csv = tmp_path / "grades.csv"
    status, out, err = run(capsys, "grade-all", classroom, "--csv", out_csv)
    assert status == 0 and not err
    assert out == f"wrote {out_csv}: 7 submissions, 1 without a my_lstm\n"
    text = out_csv.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(["student", *NAMES, "passed", "total"])
    rows = {row["student"]: row for row in read_csv(text)}
    assert list(rows) == ["alice", "bob", "Carol", "dave", "erin", "frank", "gina"], "sorted by name"

    def wrong(student):
        return {name: rows[student][name] for name in NAMES if rows[student][name] != "pass"}

    for student in ("alice", "frank"):
        assert wrong(student) == {} and rows[student]["passed"] == "10"
    assert wrong("bob") == {"lstm_step": "FAIL"} and rows["bob"]["passed"] == "9"
    assert wrong("Carol") == {"next_char_distribution": "FAIL"} and rows["Carol"]["passed"] == "9"
    assert wrong("dave") == dict.fromkeys(NAMES, "not started") and rows["dave"]["passed"] == "0"
    (error,) = wrong("erin").values()
    assert list(wrong("erin")) == ["next_char_distribution"] and "\n" not in error
    assert error.startswith("error: my_lstm/sampling.py does not import: SyntaxError")
    assert wrong("gina") == dict.fromkeys(NAMES, "missing") and rows["gina"]["passed"] == "0"
    assert {row["total"] for row in rows.values()} == {"10"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "a temporary file was left"


def test_each_submission_is_graded_as_its_own_code(filled, tmp_path):
    """Two submissions with different code in one run: each keeps its own results, in either order."""
    room = tmp_path / "room"
    plant(room / "a-wrong-cell", filled, "cell", H_TANH, H_NO_TANH)
    shutil.copytree(filled / PACKAGE, room / "b-right" / PACKAGE)
    plant(room / "c-wrong-sampling", filled, "sampling", TOPK, TOPK_PLUS_ONE)
    shutil.copytree(filled / PACKAGE, room / "d-right" / PACKAGE)
    submissions = grader.grade_all(room)
    failed = {s.student: [r for r in s.results if not r.passed] for s in submissions}
    assert {student: [r.name for r in rows] for student, rows in failed.items()} == {
        "a-wrong-cell": ["lstm_step"],
        "b-right": [],
        "c-wrong-sampling": ["next_char_distribution"],
        "d-right": [],
    }
    assert failed["a-wrong-cell"][0].message == H_MESSAGE
    assert failed["c-wrong-sampling"][0].message.startswith(TOPK_MESSAGE)
    assert [s.package for s in submissions] == [(room / s.student / PACKAGE).resolve() for s in submissions]
    assert not [name for name in sys.modules if name.split(".")[0] == PACKAGE], "a my_lstm module was left"


def test_grade_all_without_csv_prints_it(filled, tmp_path, capsys):
    shutil.copytree(filled / PACKAGE, tmp_path / "room" / "zoe" / PACKAGE)
    status, out, _ = run(capsys, "grade-all", tmp_path / "room")
    assert status == 0
    assert read_csv(out) == [
        {"student": "zoe", **dict.fromkeys(NAMES, "pass"), "passed": "10", "total": "10"}
    ]


def test_grade_all_bad_input_is_one_line(filled, tmp_path, capsys):
    shutil.copytree(filled / PACKAGE, tmp_path / "room" / "zoe" / PACKAGE)
    cases = [
        ((tmp_path / "nowhere",), "does not exist"),
        ((tmp_path / "room" / "zoe" / PACKAGE / "cell.py",), "is not a folder"),
        ((tmp_path / "room" / "zoe",), "holds a my_lstm itself"),
        ((tmp_path / "room", "--csv", tmp_path / "no-such-folder" / "grades.csv"), "does not exist"),
        ((tmp_path / "room", "--csv", tmp_path), "is a folder"),
    ]
    for args, message in cases:
        status, out, err = run(capsys, "grade-all", *args)
        assert status == 2 and not out and message in one_line_error(err), (args, err)
    (tmp_path / "empty").mkdir()
    status, _, err = run(capsys, "grade-all", tmp_path / "empty", "--csv", tmp_path / "grades.csv")
    assert status == 2 and "has no subfolders" in one_line_error(err)
    assert not (tmp_path / "grades.csv").exists() and not (tmp_path / "no-such-folder").exists()


# ---------------------------------------------------------------------------
# The instructor page
# ---------------------------------------------------------------------------

PAGE = ROOT / "book" / "instructor.md"


def _core_path() -> str:
    page = PAGE.read_text(encoding="utf-8")
    start, end = "<!-- core-path:start -->", "<!-- core-path:end -->"
    assert start in page and end in page, "book/instructor.md has lost its core path"
    return page.split(start, 1)[1].split(end, 1)[0]


def test_the_instructor_page_documents_the_outputs():
    page = PAGE.read_text(encoding="utf-8")
    for text in (
        "--json",
        "--gradescope",
        "--points",
        "grade-all",
        "--csv",
        "/autograder/results/results.json",
    ):
        assert text in page, f"book/instructor.md does not document {text}"


def _table_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first table after ``heading``, as lists of cells."""
    table = text.split(heading, 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    lines = ("|" + table).splitlines()[2:]  # after the header and the |---| line
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]


def _minutes(text: str) -> int:
    """``"1 h 55 min"`` -> 115, ``"75 min"`` -> 75 (the first duration in ``text``)."""
    match = re.search(r"(?:(\d+) h)?\s*(\d+) min", text)
    return 60 * int(match.group(1) or 0) + int(match.group(2))


def test_the_core_path_names_real_sections_and_exercises():
    """Every section the core path names is a heading of its chapter, every exercise it names
    is one of that chapter's with the time the exercise table gives it, its core exercises
    are the ten functions of my_lstm, and the week-by-week plan adds up."""
    headings, exercises = {}, {}
    for path in list_exercises.chapter_notebooks():
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        headings[int(path.name[:2])] = {plain_title(h) for h in re.findall(r"^#{2,4} (.+?)\s*$", text, re.M)}
        exercises.update({e.label: e for e in list_exercises.exercises_in(path)})
    core = _core_path()
    rows = _table_rows(core, "### The core path, chapter by chapter")
    assert [int(row[0]) for row in rows] == list(range(1, 14)), "one row per chapter"
    for row in rows:
        chapter = int(row[0])
        for title in re.findall(r"“(.+?)”", " ".join(row)):
            assert plain_title(title) in headings[chapter], f"chapter {chapter} has no section “{title}”"
        for label in re.findall(r"`(ch\d\d-ex\d+)`", " ".join(row)):
            assert label in exercises and label.startswith(f"ch{chapter:02d}"), (chapter, label)
    for label, minutes in re.findall(r"`(ch\d\d-ex\d+)` \((\d+) min\)", core):
        assert int(minutes) == exercises[label].minutes, (
            f"the core path gives {label} {minutes} min, the exercise table {exercises[label].minutes}"
        )
    core_labels = [label for row in rows for label in re.findall(r"`(ch\d\d-ex\d+)`", row[2])]
    functions = [name for row in rows for name in re.findall(r"`(\w+)`", row[2]) if name in BY_NAME]
    assert set(functions) == set(NAMES), "the core exercises are the ten functions of my_lstm"

    weeks = _table_rows(core, "### Week by week")
    *weeks, total = weeks
    for week in weeks:
        assert _minutes(week[2]) + _minutes(week[3]) == _minutes(week[4]), week
    for column in (2, 3, 4):
        assert sum(_minutes(week[column]) for week in weeks) == _minutes(total[column]), total
    assert _minutes(total[3]) == sum(exercises[label].minutes for label in core_labels), (
        "the week-by-week exercises are not the core exercises' time in the exercise table"
    )
