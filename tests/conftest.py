"""Shared fixtures and helpers for the tests of the book.

The two book builds are session-scoped, so each runs at most once per pytest run:

- ``book_build``: the book exactly as published (``_config.yml``), built with
  ``jupyter-book build . -W -n --keep-going`` into a fresh temporary directory;
- ``browser_book_build``: the same book with an extra configuration that points
  MathJax and the widget JavaScript at local copies (``tests/browser/vendor/``,
  made by ``scripts/setup_browser.sh``), so a browser can render it offline.

Both are fresh builds: an incremental Sphinx build only reports the warnings of
pages it re-reads, so reusing ``_build/`` could hide a warning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
VENDOR_STATIC = ROOT / "tests" / "browser" / "vendor" / "_static"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


# ---------------------------------------------------------------------------
# The book's structure
# ---------------------------------------------------------------------------


def load_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def toc_files() -> list[str]:
    """Every file listed in ``_toc.yml`` (root first), as paths without suffix: ``book/04_gates``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def source_of(toc_file: str) -> Path | None:
    """The source file of a toc entry (``.ipynb`` or ``.md``), or None if it does not exist."""
    for suffix in (".ipynb", ".md"):
        path = ROOT / (toc_file + suffix)
        if path.is_file():
            return path
    return None


def chapter_files() -> list[str]:
    """The toc entries that are chapters: ``book/NN_name`` (notebooks by convention)."""
    return [f for f in toc_files() if Path(f).name[:2].isdigit()]


def chapter_notebooks() -> list[Path]:
    """The chapter notebooks listed in the toc that exist now."""
    paths = [ROOT / (f + ".ipynb") for f in chapter_files()]
    return [p for p in paths if p.is_file()]


def read_notebook(path: Path):
    return nbformat.read(path, as_version=4)


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def widget_state(nb) -> dict:
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {}) or {}


def notebook_params(paths=None):
    """pytest parameters, one per chapter notebook, with the file name as id."""
    paths = chapter_notebooks() if paths is None else paths
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no chapter notebook exists yet"))]
    return [pytest.param(p, id=p.stem) for p in paths]


def running_in_ci() -> bool:
    return IN_CI


def skip_or_fail(reason: str):
    """Skip locally; in CI (CI=true) a missing prerequisite is a failure, not a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: not skipping)", pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------------------
# Building the book
# ---------------------------------------------------------------------------


@dataclass
class BookBuild:
    returncode: int
    output: str  # stdout and stderr together
    html: Path  # the _build/html folder
    seconds: float

    def warnings(self) -> list[str]:
        return [line for line in self.output.splitlines() if "WARNING" in line or "ERROR" in line]

    def page(self, toc_file: str) -> Path:
        return self.html / (toc_file + ".html")


def build_book(out_dir: Path, config: Path | None = None, strict: bool = True) -> BookBuild:
    """Run ``jupyter-book build`` on the repository into ``out_dir`` (a fresh folder)."""
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb) if jb.exists() else "jupyter-book", "build", str(ROOT), "--path-output", str(out_dir)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    else:
        command += ["-n", "--keep-going"]
    if config is not None:
        command += ["--config", str(config)]
    start = time.perf_counter()
    proc = subprocess.run(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "")},
    )
    seconds = time.perf_counter() - start
    build = BookBuild(proc.returncode, proc.stdout, out_dir / "_build" / "html", seconds)
    (out_dir / "build.log").write_text(build.output, encoding="utf-8")
    return build


def browser_config(path: Path) -> Path:
    """Write ``_config.yml`` plus the offline overrides for the browser test to ``path``."""
    config = load_config()
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx_config["html_static_path"] = [str(VENDOR_STATIC)]
    sphinx_config["mathjax_path"] = "mathjax/tex-chtml.js"  # relative to _static
    sphinx_config["nb_ipywidgets_js"] = {"widgets/require.js": {}, "widgets/embed-amd.js": {}}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def book_build(tmp_path_factory) -> BookBuild:
    """The published configuration, built once per session with ``-W -n --keep-going``."""
    return build_book(tmp_path_factory.mktemp("book-build"))


@pytest.fixture(scope="session")
def browser_book_build(tmp_path_factory) -> BookBuild:
    """The book with MathJax and the widget JavaScript served from local copies."""
    if not (VENDOR_STATIC / "mathjax" / "tex-chtml.js").is_file():
        skip_or_fail(f"{VENDOR_STATIC} is missing: run `bash scripts/setup_browser.sh`")
    out = tmp_path_factory.mktemp("browser-build")
    build = build_book(out, config=browser_config(out / "_config_browser.yml"), strict=False)
    if build.returncode != 0:
        pytest.fail(f"the browser build failed (exit {build.returncode}):\n{build.output[-4000:]}")
    return build


def describe_json(value) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False)[:3000]


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A folder whose my_lstm holds the reference solutions: every function passes."""
    from lstm_lib import course

    path = tmp_path_factory.mktemp("filled")
    course.write_package(path, solutions=True)
    return path
