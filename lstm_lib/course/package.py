"""Writing the learner's package ``my_lstm`` from ``template/`` and the library's own code.

Each module of ``template/`` is the module of ``my_lstm`` without its solutions: where a
solution goes, two markers name the exercise and the library function that solves it::

    def lstm_step(XW_t, H_prev, C_prev, W_h):
        \"\"\"...\"\"\"
        # BEGIN SOLUTION lstm_step from lstm_lib.cell.lstm_step
        # END SOLUTION

The student version replaces each marked block by ``raise NotImplementedError(...)`` naming
the chapter and section to read; the filled version puts there the body of the library's
function (after its docstring), so that the answer key is ``lstm_lib`` itself. A template
module imports what that body needs. A docstring may also take the library's own: the
placeholder ``{docstring of lstm_lib.layer.LSTMLayer.forward}`` stands for it, its
references to the modules of ``lstm_lib`` pointing to those of ``my_lstm``.
"""

import ast
import inspect
import pkgutil
import re
import textwrap
from pathlib import Path

from ..atomic import atomic_write
from ..errors import UsageError
from .exercises import BY_NAME, MODULES, PACKAGE

TEMPLATE = Path(__file__).resolve().parent / "template"
BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)# BEGIN SOLUTION (?P<name>\w+) from (?P<source>[\w.]+)[ \t]*\n"
    r"(?P<body>.*?)^[ \t]*# END SOLUTION[ \t]*\n",
    re.S | re.M,
)
DOCSTRING = re.compile(r"^(?P<indent>[ \t]*)(?P<quotes>\"\"\")\{docstring of (?P<source>[\w.]+)\}", re.M)
LIBRARY_REFERENCE = re.compile(rf"\blstm_lib\.(?=(?:{'|'.join(MODULES)})\.)")


def _library_object(dotted: str):
    """``lstm_lib.model.CharLSTM.__init__`` -> that function (decorators removed)."""
    if not dotted.startswith("lstm_lib."):
        raise ValueError(f"{dotted!r} is not a name in lstm_lib")
    return inspect.unwrap(pkgutil.resolve_name(dotted))


def solution_body(dotted: str) -> str:
    """The body of the library function ``dotted`` after its docstring, dedented."""
    source = textwrap.dedent(inspect.getsource(_library_object(dotted)))
    (function,) = ast.parse(source).body
    first = function.body[0]
    has_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    start = first.end_lineno if has_docstring else first.lineno - 1
    lines = source.splitlines(keepends=True)[start : function.end_lineno]
    return textwrap.dedent("".join(lines)).lstrip("\n")


def library_docstring(dotted: str, indent: str) -> str:
    """The docstring of the library function ``dotted``, indented to sit in a ``my_lstm`` module."""
    doc = _library_object(dotted).__doc__
    if not doc:
        raise ValueError(f"{dotted} has no docstring to take")
    doc = LIBRARY_REFERENCE.sub(f"{PACKAGE}.", inspect.cleandoc(doc)).replace("\\", "\\\\")
    return textwrap.indent(doc, indent).lstrip()


def render(source: str, solutions: bool) -> str:
    """The template ``source`` with its solutions taken from lstm_lib (``solutions=True``) or stubbed out."""

    def docstring(match: re.Match) -> str:
        return (
            match.group("indent")
            + match.group("quotes")
            + library_docstring(match.group("source"), match.group("indent"))
        )

    def replace(match: re.Match) -> str:
        name, dotted, indent = match.group("name", "source", "indent")
        if name not in BY_NAME:
            raise ValueError(f"unknown exercise {name!r} in a SOLUTION marker")
        if not dotted.startswith(f"lstm_lib.{BY_NAME[name].module}.{name}"):
            raise ValueError(f"the solution of {name} cannot come from {dotted}")
        if match.group("body").strip():
            raise ValueError(f"the solution of {name} comes from {dotted}: leave its block empty")
        if solutions:
            return textwrap.indent(solution_body(dotted), indent)
        message = BY_NAME[name].stub_message().replace("\\", "\\\\").replace('"', '\\"')
        return f'{indent}raise NotImplementedError("{message}")\n'

    rendered = BLOCK.sub(replace, DOCSTRING.sub(docstring, source))
    if "# BEGIN SOLUTION" in rendered or "# END SOLUTION" in rendered:
        raise ValueError("a SOLUTION marker has no partner")
    return rendered


def package_files(solutions: bool = False) -> dict[str, str]:
    """``{"cell.py": source, ...}``: every file of ``my_lstm``."""
    names = ["__init__"] + list(MODULES)
    return {f"{n}.py": render((TEMPLATE / f"{n}.py").read_text(encoding="utf-8"), solutions) for n in names}


def write_package(directory, solutions: bool = False, force: bool = False) -> Path:
    """Write ``directory/my_lstm/``: the stubs, or the reference solutions with ``solutions=True``.

    Refuses to overwrite an existing ``my_lstm`` (a learner's work) unless ``force``.
    Every file is written atomically. Returns the package folder.
    """
    target = Path(directory) / PACKAGE
    if target.exists() and not force:
        raise UsageError(
            f"{target} already exists; grade it with `python -m lstm_lib.course grade {directory}`, "
            "or pass --force to overwrite it (the code in it is lost)"
        )
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} is a file, not a folder; move it away and start again")
    for name, text in package_files(solutions).items():
        with atomic_write(target / name) as out:
            out.write(text.encode("utf-8"))
    return target
