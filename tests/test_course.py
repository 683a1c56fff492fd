"""The student track: ``my_lstm`` written by ``lstm_lib.course start``, graded by ``grade``,
and used by ``use_student_package``."""

import ast
import inspect
import pkgutil
import re
import shutil
import textwrap

import nbformat
import pytest
import torch

import lstm_lib
from lstm_lib import course
from lstm_lib.course.__main__ import main
from lstm_lib.course.exercises import BY_NAME, EXERCISES, PACKAGE, plain_title
from lstm_lib.course.grader import CHECKS, reference_objects
from lstm_lib.course.package import TEMPLATE

from .conftest import ROOT

NAMES = [exercise.name for exercise in EXERCISES]


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    path = tmp_path_factory.mktemp("stubs")
    assert main(["start", str(path)]) == 0
    return path


def _copy_with(tmp_path, source, module, old, new):
    """A copy of ``source``'s my_lstm with one edit in ``module``.py."""
    shutil.copytree(source / PACKAGE, tmp_path / PACKAGE)
    path = tmp_path / PACKAGE / f"{module}.py"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in the solution of {module}.py"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return tmp_path


def test_the_filled_package_passes_every_check(filled, capsys):
    rng = torch.get_rng_state()
    assert main(["grade", str(filled)]) == 0
    table = capsys.readouterr().out
    rows = [line.split() for line in table.splitlines() if line.split() and line.split()[0] in NAMES]
    assert [row[0] for row in rows] == NAMES
    assert all(row[-1] == "pass" for row in rows), table
    assert table.rstrip().endswith(f"{len(NAMES)} of {len(NAMES)} pass")
    assert torch.equal(torch.get_rng_state(), rng), "grading changed the global random state"


def test_the_stub_package_is_not_started(stubs, capsys):
    assert main(["grade", str(stubs)]) == 1
    table = capsys.readouterr().out
    results = course.grade(stubs)
    assert [r.status for r in results] == [course.NOT_STARTED] * len(NAMES)
    for result, exercise in zip(results, EXERCISES):
        assert f"see chapter {exercise.sections[0][0]}, section “" in result.message
        assert result.message in table


def test_every_stub_raises_and_no_solution_is_left(stubs):
    text = "\n".join(p.read_text(encoding="utf-8") for p in (stubs / PACKAGE).glob("*.py"))
    assert "SOLUTION" not in text
    for solution_line in ("C = F * C_prev + I * C_tilde", "loss.backward()", "view(batch_size, rows).t()"):
        assert solution_line not in text
    for exercise in EXERCISES:
        assert f'raise NotImplementedError("{exercise.stub_message()}")' in text, exercise.name
    marked = re.findall(r"# BEGIN SOLUTION (\w+)", "".join(p.read_text() for p in TEMPLATE.glob("*.py")))
    assert set(marked) == set(NAMES)


def test_each_exercise_is_graded_by_its_modules_check_against_the_librarys_own():
    references = reference_objects()
    for exercise in EXERCISES:
        check = CHECKS[exercise.name]
        assert (check.__module__, check.__name__) == (
            f"lstm_lib.course.grading.{exercise.module}",
            f"check_{exercise.name}",
        )
        reference = references[exercise.name]
        assert (reference.__module__, reference.__qualname__) == (
            f"lstm_lib.{exercise.module}",
            exercise.name,
        )
    assert references["step_backward"] is lstm_lib.backward.step_backward


def _body(function: ast.FunctionDef) -> str:
    """The statements of ``function`` after its docstring, as an AST dump (comments do not count)."""
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[]))


def test_the_solutions_are_the_librarys_own_code(filled):
    blocks = [
        (path.stem, *block)
        for path in TEMPLATE.glob("*.py")
        for block in re.findall(
            r"# BEGIN SOLUTION (\w+) from ([\w.]+)\n(.*?)# END SOLUTION",
            path.read_text(encoding="utf-8"),
            re.S,
        )
    ]
    assert {name for _, name, _, _ in blocks} == set(NAMES)
    for module, name, dotted, between in blocks:
        assert not between.strip(), f"the template holds a solution of {name} of its own"
        library = inspect.unwrap(pkgutil.resolve_name(dotted))
        (expected,) = ast.parse(textwrap.dedent(inspect.getsource(library))).body
        node = ast.parse((filled / PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
        for part in dotted.split(".")[2:]:  # lstm_lib.model.CharLSTM.__init__: CharLSTM, then __init__
            (node,) = [n for n in node.body if getattr(n, "name", None) == part]
        assert _body(node) == _body(expected), f"{name}: my_lstm's solution is not the body of {dotted}"


def test_every_section_named_exists_in_its_chapter():
    headings = {}
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        headings[int(path.name[:2])] = {plain_title(h) for h in re.findall(r"^#{2,3} (.+?)\s*$", text, re.M)}
    for exercise in EXERCISES:
        for chapter, title in exercise.sections:
            assert plain_title(title) in headings[chapter], (
                f"{exercise.name}: chapter {chapter} has no “{title}”"
            )


EVALUATE_SUM = (
    'targets.reshape(-1), reduction="sum"\n        ).item()\n        total_tokens += targets.numel()'
)
BROKEN = {  # one known mistake: (module, solution text, broken text, function, diagnosis)
    "forget-gate-tanh": (
        "cell",
        "F = torch.sigmoid(pre_F)",
        "F = torch.tanh(pre_F)",
        "lstm_step",
        "F_t looks like it uses tanh instead of σ",
    ),
    "missing-detach": (
        "train",
        "        state = tuple(s.detach() for s in state)",
        "        state = tuple(s for s in state)",
        "train_step",
        "the state is not detached between windows: the second train_step backpropagates into the first",
    ),
    "per-window-perplexity": (
        "evaluation",
        EVALUATE_SUM,
        "targets.reshape(-1)\n        ).item()\n        total_tokens += 1",
        "evaluate",
        "perplexity is averaged per window, not per token",
    ),
    "top-k-plus-one": (
        "sampling",
        "logits.topk(top_k, dim=-1)",
        "logits.topk(top_k + 1, dim=-1)",
        "next_char_distribution",
        "top-k keeps k+1 characters",
    ),
    "layer-outputs-C": (
        "layer",
        "            outputs.append(H)",
        "            outputs.append(C)",
        "LSTMLayer",
        "the outputs stack C_t; they should stack H_t",
    ),
}


@pytest.mark.parametrize(("module", "old", "new", "name", "message"), BROKEN.values(), ids=BROKEN)
def test_one_broken_function_is_named_with_its_mistake(filled, tmp_path, module, old, new, name, message):
    results = course.grade(_copy_with(tmp_path, filled, module, old, new))
    failed = [r for r in results if not r.passed]
    assert [r.name for r in failed] == [name], failed
    assert failed[0].status == course.FAIL
    assert message in failed[0].message


def test_a_fixed_file_is_graded_afresh(filled, tmp_path):
    broken = _copy_with(tmp_path, filled, "cell", "H = O * torch.tanh(C)", "H = O * C")
    (result,) = [r for r in course.grade(broken) if not r.passed]
    assert result.message == "H_t uses C_t instead of tanh(C_t)"
    shutil.copy(filled / PACKAGE / "cell.py", broken / PACKAGE / "cell.py")
    assert all(r.passed for r in course.grade(broken))


def test_a_file_that_does_not_import_fails_its_own_rows(filled, tmp_path):
    broken = _copy_with(tmp_path, filled, "sampling", "import torch\n", "import torch\ndef broken(:\n")
    failed = [r for r in course.grade(broken) if not r.passed]
    assert [r.name for r in failed] == ["next_char_distribution"]
    assert "my_lstm/sampling.py does not import: SyntaxError" in failed[0].message
    assert "line 4 of my_lstm/sampling.py" in failed[0].message


def test_bad_input_is_one_line_with_the_fix(tmp_path, capsys):
    assert main(["grade", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    fix = f"python -m lstm_lib.course start {tmp_path}"
    assert err == f"error: no my_lstm package in {tmp_path}; create one with `{fix}`"
    assert main(["grade", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    with pytest.raises(lstm_lib.UsageError, match="no my_lstm package"):
        course.grade(tmp_path)


def test_start_refuses_to_overwrite_unless_forced(tmp_path, capsys):
    assert main(["start", str(tmp_path)]) == 0
    cell = tmp_path / PACKAGE / "cell.py"
    cell.write_text("# my work\n", encoding="utf-8")
    assert main(["start", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err and cell.read_text() == "# my work\n"
    assert main(["start", str(tmp_path), "--force"]) == 0
    assert "NotImplementedError" in cell.read_text()
    assert not list((tmp_path / PACKAGE).glob(".*.tmp")), "a temporary file was left behind"


def test_use_student_package_takes_the_learners_passing_functions(filled, stubs, tmp_path, capsys):
    shutil.copytree(stubs / PACKAGE, tmp_path / PACKAGE)
    for module in ("layer", "train"):  # LSTMLayer, StackedLSTM and train_step written; lstm_step not
        shutil.copy(filled / PACKAGE / f"{module}.py", tmp_path / PACKAGE / f"{module}.py")
    chosen = course.use_student_package(tmp_path)
    line = capsys.readouterr().out
    mine = ["LSTMLayer", "StackedLSTM", "train_step"]
    assert line == (
        f"Using your my_lstm for: {', '.join(mine)}; the reference lstm_lib for: "
        f"{', '.join(n for n in NAMES if n not in mine)}\n"
    )
    assert chosen.mine() == mine
    assert chosen.LSTMLayer.__module__ == "my_lstm.layer" and chosen.train_step.__module__ == "my_lstm.train"
    assert chosen.lstm_step is lstm_lib.lstm_step and chosen.CharLSTM is lstm_lib.CharLSTM
    # The learner's layer runs with the reference step in place of their unfinished one.
    outputs, _ = chosen.LSTMLayer(3, 4)(torch.randn(5, 2, 3))
    assert outputs.shape == (5, 2, 4)


def test_use_student_package_finds_the_package_or_falls_back(filled, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MY_LSTM_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    chosen = course.use_student_package()
    assert capsys.readouterr().out == "Using the reference lstm_lib (no my_lstm found)\n"
    assert chosen.path is None and chosen.evaluate is lstm_lib.evaluate and chosen.mine() == []
    monkeypatch.setenv("MY_LSTM_DIR", str(filled))
    chosen = course.use_student_package(quiet=True)
    assert capsys.readouterr().out == ""
    assert chosen.mine() == NAMES and chosen.path == (filled / PACKAGE).resolve()


# ---------------------------------------------------------------------------- check cells


def test_check_grades_the_learners_function_and_says_so(filled, monkeypatch, capsys):
    monkeypatch.setenv("MY_LSTM_DIR", str(filled))
    assert course.check("step_backward") is None  # nothing for a check cell to display
    assert capsys.readouterr().out == (
        "✓ your my_lstm.step_backward passes: dA_t and dC_{t-1} match autograd on random float64 inputs\n"
    )


def test_check_raises_the_graders_diagnosis(filled, tmp_path, capsys):
    broken = _copy_with(tmp_path, filled, "cell", "F = torch.sigmoid(pre_F)", "F = torch.tanh(pre_F)")
    with pytest.raises(course.ExerciseError) as failure:
        course.check("lstm_step", broken)
    assert str(failure.value) == (
        "your my_lstm.lstm_step fails: F_t looks like it uses tanh instead of σ (in my_lstm/cell.py)"
    )
    assert capsys.readouterr().out == ""
    course.check("LSTMLayer", broken)  # graded alone: the broken step does not spoil the layer
    assert "my_lstm.LSTMLayer passes" in capsys.readouterr().out


def test_check_of_a_stub_points_to_the_section(stubs):
    exercise = BY_NAME["step_backward"]
    with pytest.raises(course.ExerciseError) as failure:
        course.check("step_backward", stubs)
    assert (
        str(failure.value)
        == f"{exercise.stub_message()}; write it in my_lstm/backward.py and run this cell again"
    )


def test_check_without_my_lstm_grades_the_reference(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MY_LSTM_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    course.check("lstm_step")
    out = capsys.readouterr().out
    assert out.startswith("✓ no my_lstm found, so the reference lstm_step was graded: it passes (")
    assert out.endswith("; to write your own, run `python -m lstm_lib.course start .`\n")
    assert out.count("\n") == 1 and not list(tmp_path.iterdir()), "the reference was written into the folder"
    with pytest.raises(lstm_lib.UsageError, match="no exercise 'lstm_stepp' in my_lstm; the exercises are"):
        course.check("lstm_stepp")


def test_stub_is_the_function_as_the_learner_starts_it():
    text = course.stub("step_backward")
    assert text.startswith("# my_lstm/backward.py\ndef step_backward(dH, dC, gates, tanh_C, C_prev):\n")
    assert text.rstrip().endswith(f'raise NotImplementedError("{BY_NAME["step_backward"].stub_message()}")')
    assert "dC_t * F" not in text
