#!/usr/bin/env bash
# Tools for the real-browser test of the rendered book (tests/browser/):
#
#   - Chromium (Debian's package; installed with apt-get when missing and run as root),
#   - the Python package playwright, into ./.venv (it drives the system Chromium;
#     no browser download is needed),
#   - local copies of the JavaScript the book loads from CDNs (MathJax 3, RequireJS,
#     @jupyter-widgets/html-manager), installed with `npm ci` from the committed
#     tests/browser/package-lock.json and assembled in tests/browser/vendor/_static/,
#     so that the test can run with every non-local request blocked.
#
#   bash scripts/setup_browser.sh      (also run by `bash scripts/setup.sh --tests`)
#
# Safe to run again: each step skips what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

browser_dir=tests/browser
vendor=$browser_dir/vendor
python=.venv/bin/python
[ -x "$python" ] || python=${PYTHON:-python3}

# 1. Chromium
chromium=${CHROMIUM:-}
if [ -z "$chromium" ]; then
    for candidate in chromium chromium-browser; do
        if command -v "$candidate" >/dev/null; then chromium=$(command -v "$candidate"); break; fi
    done
fi
if [ -z "$chromium" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "==> installing chromium (apt-get)"
        if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then apt-get update -qq; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
        chromium=$(command -v chromium)
    else
        echo "!! chromium is missing and cannot be installed here (needs root and apt-get);" >&2
        echo "!! install it, or set CHROMIUM=/path/to/chromium, to run tests/browser/." >&2
    fi
fi
[ -n "$chromium" ] && echo "==> chromium: $chromium ($("$chromium" --version 2>/dev/null || echo 'version unknown'))"

# 2. playwright (Python), driving that Chromium
if ! "$python" -c "import playwright" 2>/dev/null; then
    echo "==> installing playwright (pip)"
    "$python" -m pip install --quiet --disable-pip-version-check "playwright>=1.40"
fi

# 3. JavaScript the pages load: npm ci from the lock file, then copy what the book uses
stamp=$vendor/.installed-from
lock_sum=$(sha256sum "$browser_dir/package-lock.json" | cut -d' ' -f1)
if ! command -v npm >/dev/null; then
    echo "!! npm is missing: install Node.js 18+ to fetch MathJax and the widget manager for tests/browser/." >&2
elif [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ] || [ ! -f "$vendor/_static/mathjax/tex-chtml.js" ]; then
    echo "==> installing MathJax and the widget manager (npm ci)"
    rm -rf "$vendor"
    mkdir -p "$vendor"
    cp "$browser_dir/package.json" "$browser_dir/package-lock.json" "$vendor/"
    (cd "$vendor" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    mkdir -p "$vendor/_static/widgets"
    cp -r "$vendor/node_modules/mathjax/es5" "$vendor/_static/mathjax"
    cp "$vendor/node_modules/requirejs/require.js" "$vendor/_static/widgets/require.js"
    cp "$vendor/node_modules/@jupyter-widgets/html-manager/dist/embed-amd.js" "$vendor/_static/widgets/embed-amd.js"
    rm -rf "$vendor/node_modules"
    echo "$lock_sum" > "$stamp"
fi
[ -f "$vendor/_static/mathjax/tex-chtml.js" ] && echo "==> browser-test assets ready in $vendor/_static"
exit 0
