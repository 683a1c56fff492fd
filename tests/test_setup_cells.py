"""Colab: every chapter starts with the same setup cell, which installs lstm_lib from the
repository named in _config.yml (the same URL the "Open in Colab" button uses)."""

from __future__ import annotations

import re

import pytest

from .conftest import ROOT, chapter_files, chapter_notebooks, load_config, notebook_params, read_notebook

SETUP_TEMPLATE = """\
# Colab: install lstm_lib from the course repository. Locally: nothing to do.
import sys

if "google.colab" in sys.modules:
    %pip install -q "lstm_lib @ git+{url}\""""


def expected_setup_cell() -> str:
    return SETUP_TEMPLATE.format(url=load_config()["repository"]["url"])


def test_every_chapter_in_the_toc_is_a_notebook():
    not_notebooks = [
        f for f in chapter_files() if not (ROOT / (f + ".ipynb")).exists() and (ROOT / (f + ".md")).exists()
    ]
    assert not not_notebooks, f"chapters must be notebooks (Colab opens .ipynb files): {not_notebooks}"


@pytest.mark.parametrize("path", notebook_params())
def test_setup_cell_is_identical(path):
    nb = read_notebook(path)
    assert len(nb.cells) >= 2 and nb.cells[1].cell_type == "code", (
        f"{path.name}: cell 2 must be the setup code cell"
    )
    actual = nb.cells[1].source.rstrip()
    assert actual == expected_setup_cell(), (
        f"{path.name}: the setup cell (cell 2) differs from the one in CONTRIBUTING.md.\n"
        f"--- expected ---\n{expected_setup_cell()}\n--- found ---\n{actual}"
    )
    assert not nb.cells[1].get("outputs"), (
        f"{path.name}: the setup cell has outputs (it prints nothing locally)"
    )


def test_setup_cell_url_is_the_repository():
    url = load_config()["repository"]["url"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url)
    urls = set()
    for path in chapter_notebooks():
        match = re.search(r"git\+(\S+?)[\"'@]", read_notebook(path).cells[1].source)
        urls.add(match.group(1) if match else None)
    assert urls <= {url}, (
        f"setup cells install from {urls - {url}}, but _config.yml's repository.url is {url}"
    )


def test_contributing_shows_the_same_setup_cell():
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block, "CONTRIBUTING.md has no setup-cell example"
    shown = "\n".join(line[2:] if line.startswith("  ") else line for line in block.group(1).splitlines())
    assert shown.strip() == expected_setup_cell()


def test_package_name_matches_the_install_line():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^name = "lstm_lib"$', pyproject, re.M)


@pytest.mark.parametrize("path", notebook_params())
def test_notebook_has_a_python_kernelspec(path):
    """The Colab launch button appears only on pages whose notebook has a kernelspec."""
    spec = read_notebook(path).metadata.get("kernelspec", {})
    assert spec.get("language") == "python" and spec.get("name"), f"{path.name}: missing kernelspec {spec}"
