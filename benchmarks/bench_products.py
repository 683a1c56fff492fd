"""Where oneDNN's product pays: the check behind ``lstm_lib.fast.matmul.MIN_ONEDNN_MACS``.

Times ``(rows, in) @ (in, out)`` with a fixed weight, the product the LSTM
loop does once per step, both ways, as the library pays for them: oneDNN's
linear with the weight reordered into oneDNN's layout once per sequence of
``steps`` products (``lstm_lib.fast.matmul.FixedWeightProduct``'s fast path; the
reordering is counted, spread over the steps), and ``torch.mm``. Generation
walks one character per call, so its products (batch 1) pay the reordering
every time: they are timed with ``steps`` = 1, the training shapes with a
window of 100. For each shape it prints both times per product (median of
alternating rounds), which one is faster, and which one
``FixedWeightProduct`` picks; a row marked ``WRONG`` is a shape where the
threshold picks a path more than 10% slower on this machine:

    python benchmarks/bench_products.py
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        python benchmarks/bench_products.py      # an AVX2 machine's code paths

The default shapes are the threshold's neighbourhood (generation at batch 1,
small batches) and the book's training products. Prints only; the threshold is
a constant of the library, so a ``WRONG`` row is a reason to change it.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from lstm_lib.fast import matmul

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lstm import cpu_kind, isa_caps  # noqa: E402

SHAPES = [  # (rows, in_features, out_features, steps: products per weight reordering)
    (1, 256, 1024, 1),  # generation, 1 x 256
    (1, 512, 2048, 1),  # generation, 2 x 512
    (4, 256, 1024, 100),
    (8, 128, 512, 100),
    (32, 128, 512, 100),
    (8, 256, 1024, 100),
    (16, 256, 1024, 100),
    (64, 256, 1024, 100),  # the book's training step, forward
    (64, 1024, 256, 100),  # ... and backward, dA_t W_h^T
    (64, 512, 2048, 100),  # 2 x 512
]


def time_call(function, repeats: int) -> float:
    """Seconds per call, over ``repeats`` calls."""
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def measure(rows: int, inputs: int, outputs: int, steps: int, rounds: int) -> dict:
    """Median seconds per product of both paths, as µs, and the path the library picks."""
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(rows, inputs, generator=generator)
    W = torch.randn(inputs, outputs, generator=generator)

    def onednn_sequence():
        packed = matmul._onednn.reorder(W.t().contiguous(), rows)
        for _ in range(steps):
            matmul._onednn.product(X, packed)

    def mm_sequence():
        for _ in range(steps):
            torch.mm(X, W)

    contenders = {"oneDNN": onednn_sequence, "torch.mm": mm_sequence}
    repeats = max(5, int(2e8 // (rows * inputs * outputs * steps)))  # about 0.2 G multiply-adds per timing
    for function in contenders.values():
        time_call(function, repeats)  # warm-up
    times = {name: [] for name in contenders}
    for _ in range(rounds):  # alternating, so that a change in load hits both alike
        for name, function in contenders.items():
            times[name].append(time_call(function, repeats))
    medians = {name: statistics.median(values) * 1e6 / steps for name, values in times.items()}
    picked = "oneDNN" if matmul.FixedWeightProduct(W, rows).uses_onednn else "torch.mm"
    return {"macs": rows * inputs * outputs, "us": medians, "picked": picked}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not matmul._onednn.works():
        print(f"oneDNN is not used here: {matmul.product_path()}")
        return 0
    caps = ", ".join(f"{k}={v}" for k, v in isa_caps().items()) or "none"
    print(
        f"CPU kind {cpu_kind()}, PyTorch kernels {torch.backends.cpu.get_cpu_capability()}, caps: {caps}; "
        f"torch {torch.__version__}, {args.threads} threads; MIN_ONEDNN_MACS = {matmul.MIN_ONEDNN_MACS:,}"
    )
    print(
        f"{'rows x in -> out':>22} {'steps':>5} {'MACs':>11} {'oneDNN us':>10} {'torch.mm us':>12}"
        "  faster    picked"
    )
    wrong = 0
    for rows, inputs, outputs, steps in SHAPES:
        result = measure(rows, inputs, outputs, steps, args.rounds)
        us = result["us"]
        faster = min(us, key=us.get)
        # a pick within 10% of the faster path is not worth calling wrong
        slow_pick = us[result["picked"]] > 1.1 * us[faster]
        wrong += slow_pick
        print(
            f"{f'{rows} x {inputs} -> {outputs}':>22} {steps:>5} {result['macs']:>11,} {us['oneDNN']:>10.1f} "
            f"{us['torch.mm']:>12.1f}  {faster:<9} {result['picked']}{'  WRONG' if slow_pick else ''}"
        )
    print(f"{wrong} of {len(SHAPES)} shapes take a path more than 10% slower than the other")
    return 0


if __name__ == "__main__":
    sys.exit(main())
