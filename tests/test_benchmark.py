"""The benchmark script runs end to end and writes its table and plot (speed is not tested here)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--quick",
    "--backends",
    "manual",
    "--rounds",
    "1",
    "--batch",
    "2",
    "--window",
    "5",
    "--gen-length",
    "3",
]


def run_benchmark(out: Path, *extra, env=None):
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_lstm.py"), *TINY, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def table_rows(markdown: str):
    return [line for line in markdown.splitlines() if line.startswith("| 1 × 256 |")]


def cpu_kind():
    """The results-file kind the benchmark should pick on this machine: avx512, avx2, or None if unknown."""
    try:
        flags = next(
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
        )
    except (OSError, StopIteration):
        return None
    flags = flags.split(":", 1)[1].split()
    return "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else None


def results_file(folder: Path, suffix: str) -> Path:
    """The one ``bench_cpu_<kind><suffix>.md`` the benchmark wrote, checking the kind in its name."""
    [path] = folder.glob(f"bench_cpu_*{suffix}.md")
    if cpu_kind() is not None:
        assert path.name == f"bench_cpu_{cpu_kind()}{suffix}.md"
    return path


def test_benchmark_writes_a_table_with_every_contestant(tmp_path):
    result = run_benchmark(tmp_path)
    assert result.returncode == 0, result.stderr
    path = results_file(tmp_path, "_quick")
    table = path.read_text()
    rows = table_rows(table)
    assert [row.split("|")[2].strip() for row in rows] == ["nn.LSTM", "manual"]
    assert rows[0].split("|")[5].strip() == "1.00", "the reference's ratio to itself"
    assert "huge pages" not in table
    assert path.with_suffix(".png").stat().st_size > 0
    assert not list(tmp_path.glob(".*tmp*")), "no temporary files left behind"


def test_benchmark_records_what_its_numbers_depend_on(tmp_path):
    result = run_benchmark(tmp_path, "--threads", "1")
    assert result.returncode == 0, result.stderr
    table = results_file(tmp_path, "_quick").read_text()
    head = table.split("| size |")[0]
    if cpu_kind() is not None:
        assert f"avx512f: {'yes' if cpu_kind() == 'avx512' else 'no'}" in head
    assert f"torch {torch.__version__}, 1 threads" in head
    # batch 2 × hidden 256 is a product too small for oneDNN to pay
    assert "per-step products: 1 × 256: torch.mm (" in head
    assert "compiling the step kernels" not in head, "no compiled backend ran"


def test_benchmark_names_huge_pages_in_its_table_and_file(tmp_path):
    result = run_benchmark(tmp_path, env={"THP_MEM_ALLOC_ENABLE": "1"})
    assert result.returncode == 0, result.stderr
    table = results_file(tmp_path, "_thp_quick").read_text()
    assert "THP_MEM_ALLOC_ENABLE=1 python benchmarks/bench_lstm.py" in table
    assert "huge pages" in table and len(table_rows(table)) == 2


@pytest.mark.parametrize("bad", [["--backends", "cudnn"], ["--device", "cuda:7"]])
def test_benchmark_refuses_bad_arguments_clearly(tmp_path, bad):
    result = run_benchmark(tmp_path, *bad)
    if bad[0] == "--device" and "is False" not in result.stderr:
        pytest.skip("a GPU is available here")
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert not list(tmp_path.iterdir()), "nothing written"


def test_benchmark_names_capped_instruction_sets_in_its_table_and_file(tmp_path):
    """With PyTorch's and oneDNN's vector instructions capped, the results say so and are kept apart."""
    caps = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}
    result = run_benchmark(tmp_path, env=caps)
    assert result.returncode == 0, result.stderr
    [path] = tmp_path.glob("bench_cpu_*_quick.md")
    if cpu_kind() is not None:
        assert path.name == f"bench_cpu_{cpu_kind()}_as_default_quick.md"
    table = path.read_text()
    assert "ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 python benchmarks/bench_lstm.py" in table
    assert "instruction sets capped: ATEN_CPU_CAPABILITY=default, ONEDNN_MAX_CPU_ISA=SSE41" in table
    assert "PyTorch's kernels: DEFAULT" in table and len(table_rows(table)) == 2


def test_product_benchmark_compares_both_paths_for_every_shape():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_products.py"), "--rounds", "1", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    if "oneDNN is not used here" in result.stdout:
        pytest.skip(result.stdout.strip())
    lines = result.stdout.splitlines()
    rows = [line for line in lines if " -> " in line and "MACs" not in line]
    assert len(rows) == 10
    for row in rows:
        fields = row.split()
        assert float(fields[7]) > 0 and float(fields[8]) > 0, row  # both paths were timed
        assert fields[9] in ("oneDNN", "torch.mm") and fields[10] in ("oneDNN", "torch.mm"), row
    # generation's batch-1 product is below the threshold, the book's training product above it
    assert rows[0].split()[10] == "torch.mm" and rows[7].split()[10] == "oneDNN"
    assert lines[-1].endswith("of 10 shapes take a path more than 10% slower than the other")
