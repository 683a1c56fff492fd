"""The Colab path, as far as it can be followed without Colab.

What a reader gets from "Open in Colab": one chapter notebook alone, in a machine that has
Python, torch and Jupyter but neither the repository nor the corpus. Its setup cell
installs lstm_lib from the repository with ``%pip``. This test reproduces that:

1. ``git clone`` the repository (what is *committed*, as GitHub would serve it);
2. a fresh virtual environment with torch, ipykernel and nbclient only (Colab has torch
   preinstalled; the setup cell must keep it, not pull another build);
3. one fast chapter copied alone to an empty folder outside the repository;
4. the chapter executed in that environment's kernel, with ``google.colab`` present in
   ``sys.modules`` so that its own setup cell runs the ``%pip install``, pointed at the
   clone instead of github.com; the corpus comes from the package's own download into an
   empty ``LSTM_LIB_DATA_DIR``, from the clone's ``data/`` served on 127.0.0.1 as the
   repository serves it (``LSTM_LIB_CORPUS_URL``).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import textwrap
import threading
import venv
from pathlib import Path

import nbformat
import pytest

from .conftest import ROOT, load_config, read_notebook, skip_or_fail

# The fastest chapters that load the corpus, in order of preference.
CHAPTER_CANDIDATES = ["02_characters_as_data", "01_preface"]
# torch is installed first, from this exact release (Colab's own build stands in for it);
# the cap keeps pip from replacing it with a newer (CUDA) build.
TORCH = "torch==2.13.0"
FAKE_COLAB = (
    "import sys, types  # test harness: pretend to be Colab so that the setup cell installs lstm_lib\n"
    "sys.modules['google'] = types.ModuleType('google')\n"
    "sys.modules['google.colab'] = types.ModuleType('google.colab')"
)
DRIVER = textwrap.dedent(
    """
    import sys
    import nbformat
    from nbclient import NotebookClient

    path, workdir = sys.argv[1], sys.argv[2]
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": workdir}})
    try:
        client.execute()
    finally:
        nbformat.write(nb, path)
    """
)


def _run(command, **kwargs):
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    if proc.returncode != 0:
        pytest.fail(
            f"`{' '.join(map(str, command))}` failed ({proc.returncode}):\n{proc.stdout[-5000:]}",
            pytrace=False,
        )
    return proc.stdout


def test_chapter_runs_like_in_colab(tmp_path):
    if subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "HEAD"], capture_output=True
    ).returncode:
        skip_or_fail("the repository has no commit yet: the Colab path installs what is committed")
    chapter = next((name for name in CHAPTER_CANDIDATES if (ROOT / "book" / f"{name}.ipynb").is_file()), None)
    if chapter is None:
        skip_or_fail(f"none of the chapters {CHAPTER_CANDIDATES} exists yet")

    clone = tmp_path / "clone"
    _run(["git", "clone", "--quiet", f"file://{ROOT}", str(clone)])  # not shallow: pip clones it again
    if not (clone / "book" / f"{chapter}.ipynb").is_file():
        skip_or_fail(f"book/{chapter}.ipynb is not committed yet")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "JUPYTER"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1", MPLBACKEND="Agg")
    # A current pip, as Colab has: pip < 22.3 rejects "name @ git+file:///path" URLs (no host).
    _run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], env=env)
    _run(
        [python, "-m", "pip", "install", "--quiet", TORCH, "numpy", "ipykernel", "nbclient", "nbformat"],
        env=env,
    )

    # The committed notebook, alone, with its setup cell pointed at the clone.
    url = load_config()["repository"]["url"]
    nb = read_notebook(clone / "book" / f"{chapter}.ipynb")
    setup = nb.cells[1]
    assert f"git+{url}" in setup.source, f"the setup cell does not install from {url}"
    setup.source = setup.source.replace(f"git+{url}", f"git+file://{clone}")
    nb.cells.insert(1, nbformat.v4.new_code_cell(FAKE_COLAB))
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import lstm_lib, torch\nprint(lstm_lib.__file__)\nprint(torch.__version__)"
        )
    )
    workdir = tmp_path / "colab"
    workdir.mkdir()
    notebook = workdir / f"{chapter}.ipynb"
    nbformat.write(nb, notebook)
    (tmp_path / "driver.py").write_text(DRIVER)

    data_dir = tmp_path / "empty-data-dir"
    data_dir.mkdir()
    env["LSTM_LIB_DATA_DIR"] = str(data_dir)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(clone / "data"))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        env["LSTM_LIB_CORPUS_URL"] = f"http://127.0.0.1:{server.server_port}/pride_and_prejudice.txt"
        try:
            _run([python, tmp_path / "driver.py", notebook, workdir], env=env, cwd=workdir)
        finally:
            server.shutdown()

    executed = nbformat.read(notebook, as_version=4)
    errors = [
        o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors, (
        f"{chapter} failed in the Colab-like environment: {errors[0].ename}: {errors[0].evalue}"
    )
    installed = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    lib_file, torch_version = installed.split()
    assert Path(lib_file).is_relative_to(env_dir), (
        f"lstm_lib was imported from {lib_file}, not the fresh environment"
    )
    assert torch_version.split("+")[0] == TORCH.split("==")[1], (
        f"the setup cell replaced the preinstalled torch with {torch_version}"
    )
    assert (data_dir / "pride_and_prejudice.txt").is_file(), (
        "the corpus was not fetched into LSTM_LIB_DATA_DIR"
    )
    pip_list = json.loads(_run([python, "-m", "pip", "list", "--format", "json"], env=env))
    assert any(p["name"].replace("-", "_") == "lstm_lib" for p in pip_list)
    assert not re.search(
        r"Successfully installed .*\btorch-", "\n".join(o.get("text", "") for o in executed.cells[2].outputs)
    )
