"""Writing the learner's package ``my_lstm`` from the one template.

Each module of ``template/`` holds the reference solution between two markers::

    # BEGIN SOLUTION lstm_step
    ...the solution...
    # END SOLUTION

The student version replaces each marked block by ``raise NotImplementedError(...)``
naming the chapter and section to read; the filled version keeps the solution and
drops the markers.
"""

import re
from pathlib import Path

from ..atomic import atomic_write
from ..errors import UsageError
from .exercises import BY_NAME, MODULES, PACKAGE

TEMPLATE = Path(__file__).resolve().parent / "template"
BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)# BEGIN SOLUTION (?P<name>\w+)[ \t]*\n(?P<body>.*?)^[ \t]*# END SOLUTION[ \t]*\n",
    re.S | re.M,
)


def render(source: str, solutions: bool) -> str:
    """The template ``source`` with its solutions kept (``solutions=True``) or stubbed out."""

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in BY_NAME:
            raise ValueError(f"unknown exercise {name!r} in a SOLUTION marker")
        if solutions:
            return match.group("body")
        message = BY_NAME[name].stub_message().replace("\\", "\\\\").replace('"', '\\"')
        return f'{match.group("indent")}raise NotImplementedError("{message}")\n'

    rendered = BLOCK.sub(replace, source)
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
