#!/usr/bin/env bash
# Set up everything the course needs in ./.venv, then check the corpus.
#
#   bash scripts/setup.sh           # the library and the book tooling; checks the corpus
#   bash scripts/setup.sh --tests   # also the browser-test tools (Chromium, MathJax)
#
# Safe to run again: each step skips what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=false
[ "${1:-}" = "--tests" ] && with_tests=true

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$python" -m venv .venv
fi
echo "==> installing requirements"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .

echo "==> checking Pride and Prejudice"
.venv/bin/python -c "from lstm_lib.corpus import load_pride_and_prejudice as load; print(f'{len(load()):,} characters ready')"

echo "==> compiling the LSTM step kernels of the default model (kept in TorchInductor's cache)"
.venv/bin/python - <<'PY'
from lstm_lib import ModelConfig, TrainConfig, UsageError
from lstm_lib.fast import compiled

try:
    seconds = compiled.compile_for(TrainConfig().batch_size, ModelConfig(vocab_size=1).hidden_size)
    print(f"compiled in {seconds:.1f} s")
except UsageError as error:  # train will say so again and use the manual backend
    print(f"not compiled: {error}")
PY

if $with_tests; then
    # The test of scripts/extract_corpus.py downloads Debian's r-cran-janeaustenr; apt needs its lists.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
        echo "==> apt-get update"
        apt-get update -qq
    fi
    bash scripts/setup_browser.sh
fi
echo "==> ready"
