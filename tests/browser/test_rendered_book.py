"""The rendered book in a real browser (Chromium driven by Playwright), fully offline.

The book is built with MathJax and the widget JavaScript served from local copies
(``browser_book_build`` in tests/conftest.py; the copies come from
``scripts/setup_browser.sh``), served on 127.0.0.1, and every request to any other
origin is aborted. Each page of the table of contents is opened once; the checks
below read what that visit recorded.

Needs Debian's Chromium (``/usr/bin/chromium``, or set ``CHROMIUM``) and the Python
package ``playwright``: ``bash scripts/setup_browser.sh`` installs both. Without them
the tests are skipped, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

from ..conftest import (
    ROOT,
    chapter_files,
    load_config,
    read_notebook,
    skip_or_fail,
    source_of,
    toc_files,
    widget_state,
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# JavaScript errors that JB1 pages log on any host, and that break nothing:
# (text of the error, where it must come from: a script URL in its stack, or "" for anywhere)
KNOWN_HARMLESS_JS_ERRORS = (
    # sphinx-thebe emits its inline configuration script twice on each page.
    ("Identifier 'THEBE_JS_URL' has already been declared", ""),
    # @jupyter-widgets/html-manager 1.x typesets widget labels with MathJax 2's
    # MathJax.Hub.Queue; Sphinx loads MathJax 3, which has no Hub. The label stays plain text.
    ("Cannot read properties of undefined (reading 'Queue')", "embed-amd.js"),
    # pydata-sphinx-theme, on a first visit (no colour mode stored yet); it then uses "auto".
    ("Got invalid theme mode: . Resetting to auto.", "pydata-sphinx-theme.js"),
)
# Requests that fail on every host, the published site included, and break nothing: the
# widget manager asks for its FontAwesome fonts relative to the page
# (<page folder>/@jupyter-widgets/html-manager/dist/<hash>.woff2); they would only draw
# icons inside widgets, and the book's widgets have none.
KNOWN_HARMLESS_MISSING = re.compile(r"/@jupyter-widgets/html-manager/dist/[0-9a-f]+\.(woff2?|ttf|eot|svg)$")
# Pages saved as screenshots in test-artifacts/ (the first two that exist).
SCREENSHOT_PAGES = ["book/04_gates", "book/09_sampling", "book/05_assembling_the_lstm", "book/01_preface"]
ARTIFACTS = ROOT / "test-artifacts"
PAGES = toc_files()
CHAPTERS = set(chapter_files())


def chromium_path() -> str | None:
    candidates = [
        os.environ.get("CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


# ---------------------------------------------------------------------------
# Fixtures: the server, the browser, one visit per page
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        skip_or_fail("Chromium is not installed (run `bash scripts/setup_browser.sh`, or set CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the Python package playwright is missing (run `bash scripts/setup_browser.sh`)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(browser, browser_book_build):
    handler = functools.partial(_QuietHandler, directory=str(browser_book_build.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def visit(browser, site, browser_book_build):
    """``visit(toc_file)`` opens the page once and returns what it recorded."""
    cache: dict[str, dict] = {}
    screenshots = [p for p in SCREENSHOT_PAGES if p in PAGES and source_of(p) is not None][:2]

    def get(toc_file: str) -> dict:
        if toc_file not in cache:
            cache[toc_file] = _visit(browser, site, toc_file, toc_file in screenshots)
        return cache[toc_file]

    return get


COLLECT = """() => {
  const q = (s) => Array.from(document.querySelectorAll(s));
  const mathEls = q('.math');
  return {
    title: document.title,
    math: mathEls.length,
    mjx: q('mjx-container').length,
    mathErrors: q('mjx-merror').map(e => e.textContent.slice(0, 120)),
    unrenderedMath: mathEls.filter(e => !e.querySelector('mjx-container'))
      .map(e => e.textContent.slice(0, 80)),
    images: q('img').map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
    errorOutputs: q('.cell_output .output.traceback, .cell_output .output.error, .output.traceback')
      .filter(e => !e.closest('.tag_raises-exception'))
      .map(e => e.textContent.trim().slice(0, 200)),
    exercises: q('div.exercise.admonition').map(e => e.id || (e.querySelector('[id]') || {}).id || ''),
    exerciseIds: q('div.exercise.admonition, span[id^="ch"], div[id^="ch"]').map(e => e.id),
    solutions: q('div.solution.admonition').length,
    dropdownSolutions: q('div.solution.admonition.dropdown').length,
    hiddenSolutions: q('div.solution.admonition.dropdown.toggle-hidden').filter(e => {
      const button = e.querySelector('button.toggle-button');
      return button && button.getAttribute('aria-expanded') === 'false';
    }).length,
    colab: q('a[href^="https://colab.research.google.com"]').map(a => a.href),
    widgetViews: q('script[type="application/vnd.jupyter.widget-view+json"]').length,
    widgets: q('.jupyter-widgets').length,
    widgetSliders: q('.widget-slider, .jupyter-widget-slider').length,
    widgetErrors: q('.jupyter-widgets-view-error, .widget-error').map(e => e.textContent.slice(0, 200)),
    links: q('a[href]').map(a => a.getAttribute('href')),
  };
}"""


def _visit(browser, site: str, toc_file: str, screenshot: bool) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    record = {"js_errors": [], "console_errors": [], "blocked": [], "bad_responses": []}

    def route(r):
        if r.request.url.startswith(site + "/") or r.request.url.startswith("data:"):
            r.continue_()
        else:
            record["blocked"].append(f"{r.request.resource_type} {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: record["js_errors"].append(f"{exc.message} [{(exc.stack or '')[:400]}]"))

    def console(msg):
        where = (msg.location or {}).get("url", "")
        if msg.type == "error" and not KNOWN_HARMLESS_MISSING.search(where):
            record["console_errors"].append(f"{msg.text} ({where})")

    def response(resp):
        if resp.status >= 400 and not KNOWN_HARMLESS_MISSING.search(resp.url):
            record["bad_responses"].append(f"{resp.status} {resp.url}")

    page.on("console", console)
    page.on("response", response)
    url = f"{site}/{toc_file}.html"
    response = page.goto(url, wait_until="load", timeout=60_000)
    record["status"] = response.status if response else None
    if page.locator(".math").count():
        try:
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
                " && MathJax.startup.promise.then(() => true)",
                timeout=30_000,
            )
            page.evaluate("() => MathJax.startup.promise")
        except Exception as exc:  # recorded; test_math_rendered reports it
            record["js_errors"].append(f"MathJax did not finish: {exc}")
    if page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count():
        try:
            page.wait_for_selector(".jupyter-widgets", timeout=30_000)
        except Exception:
            pass  # test_widgets_rendered reports it
    page.wait_for_load_state("networkidle", timeout=30_000)
    record.update(page.evaluate(COLLECT))
    record["url"] = url
    if screenshot:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"{Path(toc_file).name}.png"
        page.screenshot(path=str(shot), full_page=True)
        record["screenshot"] = shot
    context.close()
    return record


def _page_params(pages):
    return [pytest.param(p, id=Path(p).name) for p in pages]


def _notebook_of(toc_file):
    path = source_of(toc_file)
    return read_notebook(path) if path is not None and path.suffix == ".ipynb" else None


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("toc_file", _page_params(PAGES))
def test_page_loads_offline(visit, toc_file):
    """The page is served, and nothing it needs comes from another origin or is missing."""
    got = visit(toc_file)
    assert got["status"] == 200, f"{got['url']}: HTTP {got['status']}"
    assert not got["bad_responses"], f"{toc_file}: local files missing: {got['bad_responses']}"
    needed = [b for b in got["blocked"] if b.split()[0] in ("script", "stylesheet", "image", "font")]
    assert not needed, f"{toc_file}: requests to other origins (blocked): {needed}"


@pytest.mark.parametrize("toc_file", _page_params(PAGES))
def test_no_javascript_errors(visit, toc_file):
    got = visit(toc_file)
    errors = [
        e
        for e in got["js_errors"] + got["console_errors"]
        if not any(text in e and where in e for text, where in KNOWN_HARMLESS_JS_ERRORS)
    ]
    assert not errors, f"{toc_file}: JavaScript errors:\n" + "\n".join(errors)


@pytest.mark.parametrize("toc_file", _page_params(PAGES))
def test_math_rendered(visit, toc_file):
    """Every math element was typeset by MathJax, without TeX errors."""
    got = visit(toc_file)
    if not got["math"]:
        pytest.skip(f"{toc_file} has no math")
    assert got["mjx"] > 0, (
        f"{toc_file}: {got['math']} math elements but no mjx-container: MathJax did not run"
    )
    assert not got["unrenderedMath"], f"{toc_file}: math left as TeX source: {got['unrenderedMath'][:5]}"
    assert not got["mathErrors"], f"{toc_file}: MathJax reports TeX errors: {got['mathErrors'][:5]}"


@pytest.mark.parametrize("toc_file", _page_params(PAGES))
def test_images_loaded(visit, toc_file):
    got = visit(toc_file)
    broken = [i["src"][:120] for i in got["images"] if not i["ok"]]
    assert not broken, f"{toc_file}: images that did not load: {broken}"


@pytest.mark.parametrize("toc_file", _page_params(PAGES))
def test_no_error_outputs(visit, toc_file):
    got = visit(toc_file)
    assert not got["errorOutputs"], f"{toc_file}: error outputs on the page: {got['errorOutputs'][:3]}"


@pytest.mark.parametrize("toc_file", _page_params(PAGES))
def test_internal_links_resolve(visit, toc_file, browser_book_build):
    got = visit(toc_file)
    broken = []
    for href in got["links"]:
        target = urljoin(got["url"], href)
        parsed = urlparse(target)
        if parsed.scheme not in ("http", "https") or parsed.netloc != urlparse(got["url"]).netloc:
            continue
        path = browser_book_build.html / unquote(parsed.path).lstrip("/")
        if path.is_dir():
            path = path / "index.html"
        if not path.exists():
            broken.append(href)
    assert not broken, f"{toc_file}: links to missing files: {sorted(set(broken))}"


@pytest.mark.parametrize("toc_file", _page_params(sorted(CHAPTERS)))
def test_exercises_and_solution_dropdowns(visit, toc_file):
    """Each exercise of the notebook is on the page, and its solutions are folded dropdowns."""
    nb = _notebook_of(toc_file)
    if nb is None:
        pytest.skip(f"{toc_file} does not exist yet")
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")

    labels = re.findall(r"^:label:\s*(ch\d\d-ex\d+)", source, re.M)
    n_solutions = len(re.findall(r"^(?:`{3,}|:{3,})\{solution(?:-start)?\}", source, re.M))
    got = visit(toc_file)
    assert len(got["exercises"]) == len(labels) and labels, (
        f"{toc_file}: {len(labels)} exercises in the notebook, {len(got['exercises'])} on the page"
    )
    missing = [label for label in labels if label not in got["exerciseIds"]]
    assert not missing, f"{toc_file}: no anchor for exercises {missing}"
    assert got["solutions"] == n_solutions > 0, (
        f"{toc_file}: {n_solutions} solutions in the notebook, {got['solutions']} on the page"
    )
    assert got["dropdownSolutions"] == got["solutions"], f"{toc_file}: some solutions are not dropdowns"
    assert got["hiddenSolutions"] == got["solutions"], (
        f"{toc_file}: some solutions are open when the page loads"
    )


@pytest.mark.parametrize("toc_file", _page_params(sorted(CHAPTERS)))
def test_colab_button(visit, toc_file):
    if source_of(toc_file) is None:
        pytest.skip(f"{toc_file} does not exist yet")
    repo = load_config()["repository"]
    owner_repo = repo["url"].removeprefix("https://github.com/")
    expected = f"https://colab.research.google.com/github/{owner_repo}/blob/{repo['branch']}/{toc_file}.ipynb"
    got = visit(toc_file)
    assert got["colab"] == [expected], f"{toc_file}: Colab links {got['colab']}, expected [{expected}]"


def _widget_pages():
    pages = [f for f in sorted(CHAPTERS) if _notebook_of(f) is not None and widget_state(_notebook_of(f))]
    if not pages:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no chapter has saved widget state yet"))]
    return _page_params(pages)


@pytest.mark.parametrize("toc_file", _widget_pages())
def test_widgets_rendered(visit, toc_file):
    """Chapters with saved widget state show live widgets (rendered by the html-manager)."""
    got = visit(toc_file)
    assert got["widgetViews"] > 0, f"{toc_file}: widget state saved but no widget output on the page"
    assert got["widgets"] > 0, f"{toc_file}: {got['widgetViews']} widget outputs, none rendered"
    assert not got["widgetErrors"], f"{toc_file}: widget errors: {got['widgetErrors']}"


def test_screenshots_saved(visit):
    pages = [p for p in SCREENSHOT_PAGES if p in PAGES and source_of(p) is not None][:2]
    for page in pages:
        shot = visit(page).get("screenshot")
        assert shot and shot.stat().st_size > 10_000, f"no screenshot of {page}"
