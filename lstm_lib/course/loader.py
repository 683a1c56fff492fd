"""Finding the learner's ``my_lstm`` and importing it afresh.

Every load compiles the sources anew (no ``__pycache__``, no module left in
``sys.modules`` from an earlier load), and imports ``my_lstm`` from the folder
given, whatever else ``sys.path`` holds.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from ..errors import UsageError
from .exercises import MODULES, PACKAGE

ENV_VAR = "MY_LSTM_DIR"


def package_dir(path) -> Path:
    """``path/my_lstm`` (or ``path`` itself when it is the ``my_lstm`` folder); UsageError if absent."""
    path = Path(path).expanduser()
    if path.name == PACKAGE and path.is_dir():
        return path.resolve()
    if (path / PACKAGE).is_dir():
        return (path / PACKAGE).resolve()
    where = f"no {PACKAGE} package in {path}" if path.is_dir() else f"{path} is not a folder"
    raise UsageError(f"{where}; create one with `python -m lstm_lib.course start {path}`")


def discover(path=None) -> Path | None:
    """The learner's package folder: ``path``, else ``$MY_LSTM_DIR``, else the current
    folder or the nearest parent that holds a ``my_lstm``; None when there is none.

    A ``path`` or ``$MY_LSTM_DIR`` without a ``my_lstm`` is an error (UsageError), not a
    reason to look elsewhere.
    """
    if path is not None:
        return package_dir(path)
    if os.environ.get(ENV_VAR):
        return package_dir(os.environ[ENV_VAR])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / PACKAGE / "__init__.py").is_file():
            return folder / PACKAGE
    return None


class _SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles from the source every time: an edit is never hidden by stale bytecode."""

    def get_code(self, fullname):
        path = self.get_filename(fullname)
        source = self.get_data(path) if os.path.exists(path) else b""  # an empty __init__.py may be missing
        return compile(source, path, "exec", dont_inherit=True)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, root: Path):
        self.root = root

    def find_spec(self, fullname, path=None, target=None):
        if fullname == PACKAGE:
            file, locations = self.root / "__init__.py", [str(self.root)]
        elif fullname.startswith(PACKAGE + "."):
            file, locations = self.root.joinpath(*fullname.split(".")[1:]).with_suffix(".py"), None
            if not file.is_file():
                return None
        else:
            return None
        loader = _SourceLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(
            fullname, file, loader=loader, submodule_search_locations=locations
        )


def forget() -> None:
    """Remove every ``my_lstm`` module from ``sys.modules``."""
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def load(root: Path) -> dict[str, ModuleType | BaseException]:
    """Import ``root`` (a ``my_lstm`` folder) and each of its modules afresh.

    Returns:
        ``{"cell": module, "layer": SyntaxError(...), ...}``: each module, or the
        exception its import raised, so that one broken file spoils only its own rows.
    """
    forget()
    importlib.invalidate_caches()
    finder = _Finder(Path(root))
    sys.meta_path.insert(0, finder)
    modules: dict[str, ModuleType | BaseException] = {}
    try:
        try:
            importlib.import_module(PACKAGE)
        except Exception as exc:  # the learner's code may raise anything
            return dict.fromkeys(MODULES, exc)
        for name in MODULES:
            try:
                modules[name] = importlib.import_module(f"{PACKAGE}.{name}")
            except Exception as exc:
                sys.modules.pop(f"{PACKAGE}.{name}", None)
                modules[name] = exc
    finally:
        sys.meta_path.remove(finder)
    return modules
