"""The package's layout shows the book: in front, the modules the learner writes, each
loading nothing of what stands behind them; no import cycles; the names the book and
the command line use, where they say they are."""

import ast
import importlib
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

import lstm_lib

PACKAGE = Path(lstm_lib.__file__).resolve().parent
MY_LSTM_MODULES = ("cell", "layer", "model", "batching", "train", "evaluation", "sampling", "backward")
"""The modules of the learner's package ``my_lstm``, as the brief of the layout names them."""
BEHIND = ("lstm_lib.fast", "lstm_lib.runs", "lstm_lib.course")
"""What stands behind the front modules."""
LAZY_IMPORTS = {("lstm_lib.layer", "backend_names", "lstm_lib.fast")}
"""(module, function, imported module): imports that are lazy by design and documented, so
they close no cycle at import time. ``backend_names`` imports :mod:`lstm_lib.fast`, which
registers its backends into :mod:`lstm_lib.layer`."""


def front_modules():
    try:
        from lstm_lib.course.exercises import MODULES
    except ImportError:  # the course's list is not there: the layout's own
        return MY_LSTM_MODULES
    return tuple(MODULES)


def test_the_learners_modules_are_lstm_libs_front_modules():
    assert set(front_modules()) == set(MY_LSTM_MODULES)
    for name in front_modules():
        assert (PACKAGE / f"{name}.py").is_file(), f"lstm_lib/{name}.py"
        assert importlib.import_module(f"lstm_lib.{name}").__name__ == f"lstm_lib.{name}"


LOADED_BY = """
import json, sys
import torch  # what torch loads by itself is not the module's doing
before = set(sys.modules)
import lstm_lib.{name}
print(json.dumps({{"new": sorted(set(sys.modules) - before), "all": sorted(sys.modules)}}))
"""


def modules_loaded_by(name):
    """``(new, all)``: the modules a fresh process has after ``import lstm_lib.NAME`` that it
    did not have after ``import torch``, and every module it has."""
    result = subprocess.run(
        [sys.executable, "-c", LOADED_BY.format(name=name)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    return loaded["new"], loaded["all"]


@pytest.mark.parametrize("name", MY_LSTM_MODULES)
def test_a_front_module_loads_nothing_behind_it(name):
    new, everything = modules_loaded_by(name)
    behind = [m for m in everything if m.startswith(BEHIND)]
    assert not behind, f"import lstm_lib.{name} loads {behind}"
    assert not [m for m in everything if m.startswith("torch._inductor")], "TorchInductor takes seconds"
    # torch itself may load parts of tqdm (torch.hub does); the progress bar's tqdm.auto is ours
    assert not [m for m in new if m == "tqdm" or m.startswith("tqdm.")], f"import lstm_lib.{name} loads tqdm"
    assert f"lstm_lib.{name}" in new


def test_what_stands_behind_does_load_what_the_front_modules_do_not():
    """The check above can see what it looks for: the progress bar loads tqdm.auto."""
    new, _ = modules_loaded_by("runs.progress")
    assert "tqdm.auto" in new and "lstm_lib.runs" in new


# -- no import cycles -------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_files():
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "template" not in p.relative_to(PACKAGE).parts]


class Imports(ast.NodeVisitor):
    """Every ``import`` and ``from ... import`` in a module, at module level or inside a
    function, resolved to lstm_lib's modules, with the function it is in."""

    def __init__(self, module, is_package, modules, lazy_names):
        self.module, self.modules, self.lazy_names = module, modules, lazy_names
        self.package = module if is_package else module.rpartition(".")[0]
        self.function = None
        self.found = []  # (imported module, function or None)

    def visit_FunctionDef(self, node):
        outer, self.function = self.function, self.function or node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def add(self, target):
        if target in self.modules and target != self.module:
            self.found.append((target, self.function))

    def visit_Import(self, node):
        for alias in node.names:
            self.add(alias.name)

    def visit_ImportFrom(self, node):
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module
        for alias in node.names:
            if f"{source}.{alias.name}" in self.modules:  # from package import submodule
                self.add(f"{source}.{alias.name}")
            elif source == "lstm_lib" and alias.name in self.lazy_names:  # lstm_lib's lazy names
                self.add(self.lazy_names[alias.name])
            else:
                self.add(source)

    def visit_Call(self, node):
        """``importlib.import_module(f"{__package__}.name")`` and the like."""
        function = node.func
        if isinstance(function, ast.Attribute) and function.attr == "import_module" and node.args:
            self.add(self.resolve_dynamic(node.args[0]))
        self.generic_visit(node)

    def resolve_dynamic(self, arg):
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
        if isinstance(arg, ast.JoinedStr):
            pieces = []
            for value in arg.values:
                if isinstance(value, ast.Constant):
                    pieces.append(value.value)
                elif isinstance(value.value, ast.Name) and value.value.id == "__package__":
                    pieces.append(self.package)
                elif isinstance(value.value, ast.Name) and value.value.id == "__name__":
                    pieces.append(self.module)
                else:
                    return None  # a name only known when it runs (lstm_lib.__getattr__'s)
            return "".join(pieces)
        return None


def lazy_names():
    """lstm_lib's names that ``lstm_lib.__getattr__`` imports on first use: name -> module."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_PUBLIC" for t in node.targets):
            public = ast.literal_eval(node.value)
            return {name: f"lstm_lib.{module}" for module, names in public.items() for name in names}
    return {}


def import_graph():
    """``{module: {imported module: [function or None, ...]}}`` over lstm_lib's own modules.

    Importing ``a.b.c`` also runs the packages ``a.b``: an import of a module counts as an
    import of each package above it that is not above the importer too."""
    files = {module_name(p): p for p in package_files()}
    names = lazy_names()
    graph = {}
    for module, path in files.items():
        visitor = Imports(module, path.name == "__init__.py", files, names)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        edges = graph.setdefault(module, {})
        own_packages = {module.rsplit(".", k)[0] for k in range(1, module.count(".") + 1)}
        for target, function in visitor.found:
            parts = target.split(".")
            for k in range(1, len(parts) + 1):
                above = ".".join(parts[:k])
                if above in files and above != module and (above == target or above not in own_packages):
                    edges.setdefault(above, []).append(function)
    return graph


def eager_edges(graph):
    """The graph without the documented lazy imports."""
    return {
        module: {
            target
            for target, functions in edges.items()
            if any((module, f, target) not in LAZY_IMPORTS for f in functions)
        }
        for module, edges in graph.items()
    }


def cycles(edges):
    """Every cycle found by a depth-first walk, each as the list of modules on it."""
    found, state, path = [], {}, []

    def walk(node):
        state[node] = "open"
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target)
        path.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            walk(node)
    return found


def test_the_import_graph_sees_imports_everywhere():
    """The graph is built from every kind of import the package uses."""
    graph = import_graph()
    assert "lstm_lib.cell" in graph["lstm_lib.layer"], "from .cell import ..."
    assert None in graph["lstm_lib.runs.cli"]["lstm_lib.fast.compiled"], "from ..fast import compiled"
    assert "lstm_lib.fast" in graph["lstm_lib.runs.cli"], (
        "importing lstm_lib.fast.compiled runs lstm_lib.fast"
    )
    assert "lstm_lib.fast.backends" in graph["lstm_lib.fast"], "from . import backends"
    assert graph["lstm_lib.layer"]["lstm_lib.fast"] == ["backend_names"], "importlib.import_module(...)"
    assert "lstm_lib.runs.checkpoint" in graph["lstm_lib.runs.safety"], "an import inside a function"
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_lstm_lib_has_no_import_cycle():
    graph = import_graph()
    for module, function, target in LAZY_IMPORTS:
        assert function in graph[module][target], f"the documented lazy import {module}.{function} is gone"
    found = cycles(eager_edges(graph))
    assert not found, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)


# -- the names ------------------------------------------------------------------


def test_the_version_is_the_installed_distributions():
    assert lstm_lib.__version__ == importlib.metadata.version("lstm_lib")


def test_every_public_name_resolves():
    """In a fresh process, so that every name is looked up through ``lstm_lib.__getattr__``."""
    program = """
import json, lstm_lib
names = lstm_lib.__all__
print(json.dumps({
    "count": len(names),
    "unresolved": [name for name in names if getattr(lstm_lib, name, None) is None],
    "not_in_dir": sorted(set(names) - set(dir(lstm_lib))),
}))
"""
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["count"] > 0 and found["unresolved"] == [] and found["not_in_dir"] == [], found
    for name in ("CharLSTM", "Trainer", "generate", "load_checkpoint", "TrainConfig", "UsageError"):
        assert name in lstm_lib.__all__
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        lstm_lib.no_such_name  # noqa: B018
