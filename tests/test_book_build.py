"""The rendered book: it builds without a single warning, from committed outputs that are complete.

The book is built from the outputs committed in the notebooks (``execute_notebooks: "off"``),
so a failing cell cannot fail the build by itself: these tests make a committed error
output, or a notebook that was not executed top to bottom, fail instead.
"""

from __future__ import annotations

import re

import pytest

from .conftest import (
    BOOK,
    ROOT,
    WIDGET_VIEW_MIME,
    chapter_files,
    load_config,
    notebook_params,
    read_notebook,
    source_of,
    tags,
    toc_files,
    widget_state,
)

# ---------------------------------------------------------------------------
# The build (one fresh build per session, shared with the other tests)
# ---------------------------------------------------------------------------


def test_book_builds_without_warnings(book_build):
    """`jupyter-book build . -W -n --keep-going` exits 0 and prints no WARNING."""
    problems = book_build.warnings()
    assert book_build.returncode == 0 and not any(
        "WARNING" in line for line in book_build.output.splitlines()
    ), (
        f"jupyter-book build exited {book_build.returncode} with {len(problems)} warning/error lines "
        f"(full log: {book_build.html.parent.parent / 'build.log'}):\n" + "\n".join(problems[:40])
    )


def test_every_toc_page_is_rendered(book_build):
    missing = [f for f in toc_files() if not book_build.page(f).is_file()]
    assert not missing, f"no HTML page for {missing} (build exit code {book_build.returncode})"


def test_widget_state_reaches_the_page(book_build):
    """Chapters with saved widget state embed it, and load the widget manager, on their page."""
    for toc_file in chapter_files():
        path = source_of(toc_file)
        if path is None or path.suffix != ".ipynb" or not widget_state(read_notebook(path)):
            continue
        html = book_build.page(toc_file).read_text(encoding="utf-8")
        assert 'type="application/vnd.jupyter.widget-state+json"' in html, (
            f"{toc_file}: no widget state in page"
        )
        assert 'type="application/vnd.jupyter.widget-view+json"' in html, (
            f"{toc_file}: no widget view in page"
        )
        assert "embed-amd.js" in html, f"{toc_file}: the widget manager is not loaded"


# ---------------------------------------------------------------------------
# The sources (no build needed)
# ---------------------------------------------------------------------------


def test_toc_lists_every_chapter_notebook():
    """`only_build_toc_files` silently drops a notebook missing from the toc; the toc must name them all."""
    listed = {ROOT / (f + ".ipynb") for f in toc_files()}
    unlisted = sorted(p.name for p in BOOK.glob("*.ipynb") if p not in listed)
    assert not unlisted, f"notebooks in book/ that _toc.yml does not list: {unlisted}"


def test_toc_files_exist():
    missing = [f for f in toc_files() if source_of(f) is None]
    assert not missing, f"_toc.yml lists files that do not exist (yet): {missing}"


def test_repository_settings():
    config = load_config()
    repo = config["repository"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repo["url"]), (
        "the Colab button needs a github.com URL"
    )
    assert repo["branch"] == "main"
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


@pytest.mark.parametrize("path", notebook_params())
def test_no_committed_error_outputs(path):
    """A committed error output is a failing cell; only cells tagged raises-exception may show one."""
    nb = read_notebook(path)
    bad = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "raises-exception" in tags(cell):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                bad.append(f"cell {index}: {output.get('ename')}: {output.get('evalue', '')[:200]}")
            elif output.get("output_type") == "stream" and "Traceback (most recent call last)" in output.get(
                "text", ""
            ):
                bad.append(f"cell {index}: a traceback printed on {output.get('name')}")
    assert not bad, f"{path.name} has error outputs:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", notebook_params())
def test_raises_exception_cells_do_raise(path):
    nb = read_notebook(path)
    silent = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        and "raises-exception" in tags(cell)
        and not any(o.get("output_type") == "error" for o in cell.get("outputs", []))
    ]
    assert not silent, f"{path.name}: cells {silent} are tagged raises-exception but have no error output"


@pytest.mark.parametrize("path", notebook_params())
def test_every_code_cell_executed_in_order(path):
    """Executed top to bottom in one fresh kernel, as scripts/execute_notebooks.py does: 1, 2, 3, ..."""
    nb = read_notebook(path)
    counts = [
        (index, cell.get("execution_count"))
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and cell.source.strip() and "skip-execution" not in tags(cell)
    ]
    unexecuted = [index for index, count in counts if count is None]
    assert not unexecuted, (
        f"{path.name}: code cells {unexecuted} have not been executed "
        f"(run `python scripts/execute_notebooks.py book/{path.name}`)"
    )
    seen = [count for _, count in counts]
    expected = list(range(1, len(seen) + 1))
    assert seen == expected, (
        f"{path.name}: execution counts {seen} are not 1..{len(seen)} in order: the outputs do not come "
        f"from one top-to-bottom run (run `python scripts/execute_notebooks.py book/{path.name}`)"
    )


@pytest.mark.parametrize("path", notebook_params())
def test_widget_views_have_saved_state(path):
    """Every widget output refers to a model whose state is saved, or the page shows nothing there."""
    nb = read_notebook(path)
    state = widget_state(nb)
    missing = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            view = output.get("data", {}).get(WIDGET_VIEW_MIME)
            if view and view.get("model_id") not in state:
                missing.append(f"cell {index}: model {view.get('model_id')}")
    assert not missing, (
        f"{path.name}: widget outputs without saved state (execute with scripts/execute_notebooks.py):\n"
        + "\n".join(missing)
    )
