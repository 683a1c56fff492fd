"""Speed of every LSTM backend next to torch.nn.LSTM, in one process.

Two workloads, in the same model skeleton (embedding 64 -> LSTM -> linear head):

- a training step: forward, cross-entropy, backward and an Adam step on a
  ``(window, batch)`` = ``(100, 64)`` block of character ids;
- generation: batch 1, one character at a time, each sample fed back in.

Every backend (and ``nn.LSTM``, which uses cuDNN on a GPU) is warmed up first,
then all of them are timed in alternating rounds, so that a change in machine
load hits every backend alike; the tables report medians and the ratio of
each backend's time to ``nn.LSTM``'s. Usage:

    python benchmarks/bench_lstm.py            # full run, both sizes, a few minutes
    python benchmarks/bench_lstm.py --quick    # book size only, under a minute
    python benchmarks/bench_lstm.py --device cuda

Results go to stdout and to ``benchmarks/results/`` (a markdown table and a
plot), in files named after the device and, on a CPU, its widest vector
instructions: ``bench_cpu_avx512`` where ``/proc/cpuinfo`` lists ``avx512f``,
``bench_cpu_avx2`` on AVX2 machines without it. The header of each table
records the CPU model, its instruction set, the PyTorch version, the number of
threads, which library computed the per-step products (oneDNN or
``torch.mm``) and how long compiling the step kernels took.

Much of a CPU training step's time can be the kernel handing out fresh memory
pages: the step allocates and frees tens of megabytes, and every first touch
of a 4 KiB page is a page fault. ``nn.LSTM`` suffers from it more than the
from-scratch backends. Run the script as ``THP_MEM_ALLOC_ENABLE=1 python
benchmarks/bench_lstm.py`` to have PyTorch place large tensors on 2 MiB
transparent huge pages (it reads the variable when it starts); the table then
says so, and the files are named ``bench_cpu_<kind>_thp``.
To see which results depend on the instruction set rather than on the rest of
the machine, run it with the vector instructions capped, for instance to AVX2
on an AVX-512 CPU:

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
        python benchmarks/bench_lstm.py

(PyTorch's own kernels and TorchInductor's generated code, oneDNN and MKL
each read one of these variables when they start.) The header then lists the
caps and the files are named ``bench_cpu_<kind>_as_<cap>``, e.g.
``bench_cpu_avx512_as_avx2``: the same code paths as an AVX2 machine, on this
machine's cores, caches and memory, so a proxy for which paths run and how
they compare, not for an AVX2 machine's speed. (Under a cap,
``lstm_lib.fast.compiled`` keeps TorchInductor's on-disk kernels in a folder of
their own.)
On a machine shared with other busy processes, run it with
``OMP_WAIT_POLICY=PASSIVE`` (or ``--threads 1``): spinning OpenMP threads that
wait for a descheduled partner make every small parallel operation
milliseconds slower, and those delays swamp the differences being measured.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lstm_lib import CharLSTM, ModelConfig
from lstm_lib.atomic import atomic_write
from lstm_lib.errors import UsageError
from lstm_lib.fast import compiled, matmul
from lstm_lib.fast.matmul import FixedWeightProduct
from lstm_lib.layer import backend_names

BACKENDS = backend_names()
"""Every backend a layer can run with: ``autograd`` (``LSTMLayer.forward`` itself) and those of
:mod:`lstm_lib.fast`."""

ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
"""Environment variables with which PyTorch (and TorchInductor), oneDNN and MKL
use narrower vector instructions than the CPU has."""


def isa_caps() -> dict:
    """The :data:`ISA_CAPS` set in this process's environment, name -> value."""
    return {name: os.environ[name] for name in ISA_CAPS if os.environ.get(name)}


RESULTS = Path(__file__).resolve().parent / "results"
VOCAB_SIZE = 80  # about the size of Pride and Prejudice's character set
REFERENCE = "nn.LSTM"


class TorchLSTMModel(nn.Module):
    """The :class:`~lstm_lib.model.CharLSTM` skeleton with ``torch.nn.LSTM`` inside."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.lstm = nn.LSTM(config.embedding_size, config.hidden_size, config.num_layers)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, tokens, state=None):
        outputs, state = self.lstm(self.embedding(tokens), state)
        return self.head(outputs), state


@dataclass(frozen=True)
class Size:
    num_layers: int
    hidden_size: int

    def __str__(self):
        return f"{self.num_layers} × {self.hidden_size}"


def make_model(name: str, size: Size, device) -> nn.Module:
    torch.manual_seed(0)
    config = ModelConfig(VOCAB_SIZE, 64, size.hidden_size, size.num_layers)
    if name == REFERENCE:
        return TorchLSTMModel(config).to(device)
    model = CharLSTM(config).to(device)
    model.lstm.set_backend(name)
    return model


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TrainStep:
    """One optimizer step on a fixed ``(window+1, batch)`` block of ids."""

    def __init__(self, model, batch, window, device):
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, VOCAB_SIZE, (window + 1, batch), generator=generator).to(device)
        self.tokens = window * batch

    def __call__(self):
        logits, _ = self.model(self.ids[:-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), self.ids[1:].reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


class Generation:
    """Sample ``length`` characters one at a time, batch 1, under no_grad."""

    def __init__(self, model, length, device):
        self.model = model
        self.length = length
        self.tokens = length
        self.first = torch.zeros(1, 1, dtype=torch.long, device=device)
        self.generator = torch.Generator(device=device)

    @torch.no_grad()
    def __call__(self):
        self.model.eval()
        self.generator.manual_seed(0)
        logits, state = self.model(self.first)
        for _ in range(self.length):
            probs = torch.softmax(logits[-1, 0], dim=-1)
            next_id = torch.multinomial(probs, 1, generator=self.generator)
            logits, state = self.model(next_id.view(1, 1), state)
        self.model.train()


HUGE_PAGES = os.environ.get("THP_MEM_ALLOC_ENABLE") == "1"
"""Whether PyTorch was started with transparent huge pages for large tensors."""

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def timed(fn, device) -> float:
    synchronize(device)
    start = clock()
    fn()
    synchronize(device)
    return clock() - start


def measure(size, names, args, device, log):
    """Warm every contestant up, then time them in alternating rounds.

    Returns ``{(workload, name): [seconds, ...]}`` and the first-call seconds,
    with ``("compile", "compiled")`` the seconds that compiling the step
    kernels for the training step's shape took (before that step's first call).
    """
    workloads = {}
    first_call = {}
    for name in names:
        model = make_model(name, size, device)
        if name == "compiled":
            H = torch.zeros(args.batch, size.hidden_size, device=device)
            first_call[("compile", name)] = timed(partial(compiled.compiled_kernels_for, H), device)
        train = TrainStep(model, args.batch, args.window, device)
        gen = Generation(model, args.gen_length, device)
        for label, fn in (("train", train), ("generate", gen)):
            first_call[(label, name)] = timed(fn, device)
            for _ in range(args.warmup):
                fn()
            workloads[(label, name)] = fn
        log(f"  warmed up {name:10s} first train step {first_call[('train', name)]:.2f} s")
    times = {key: [] for key in workloads}
    for r in range(args.rounds):
        for key, fn in workloads.items():
            times[key].append(timed(fn, device))
        log(f"  round {r + 1}/{args.rounds} done")
    return times, first_call


def table(results, names, args, device) -> str:
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    if device.type == "cpu" and HUGE_PAGES:
        threads += ", huge pages (THP_MEM_ALLOC_ENABLE=1)"
    lines = [
        f"Training step: embedding 64, batch {args.batch}, window {args.window}, Adam; "
        f"generation: batch 1, {args.gen_length} characters. Medians ({args.timer} time) of "
        f"{args.rounds} alternating rounds on {device_name(device)}{threads}; "
        f"ratio = time / {REFERENCE}'s time.",
        "",
        "| size | backend | train ms/step | train tokens/s | × nn.LSTM | generate tokens/s | × nn.LSTM |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for size, (times, _) in results.items():
        ref_train = statistics.median(times[("train", REFERENCE)])
        ref_gen = statistics.median(times[("generate", REFERENCE)])
        for name in names:
            train = statistics.median(times[("train", name)])
            gen = statistics.median(times[("generate", name)])
            lines.append(
                f"| {size} | {name} | {1000 * train:.1f} | {args.batch * args.window / train:,.0f} | "
                f"{train / ref_train:.2f} | {args.gen_length / gen:,.0f} | {gen / ref_gen:.2f} |"
            )
    if "compiled" in names:
        lines.append("")
        lines.append(
            "First training step of `compiled`, after its kernels were compiled: "
            + ", ".join(
                f"{size}: {first[('train', 'compiled')]:.2f} s" for size, (_, first) in results.items()
            )
            + "."
        )
    return "\n".join(lines)


def cpu_flags():
    """``(model name, set of instruction-set flags)`` from ``/proc/cpuinfo``, or
    ``(None, None)`` where it cannot be read (not Linux)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            lines = cpuinfo.read().splitlines()
    except OSError:
        return None, None
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields.get("model name"), set(fields.get("flags", "").split())


def cpu_kind() -> str:
    """``avx512`` where the CPU has AVX-512 (``avx512f``), ``avx2`` where it has
    AVX2 only, else PyTorch's name for the CPU's vector capability; with
    ``_as_<capability>`` appended where :func:`isa_caps` narrows PyTorch's kernels."""
    _, flags = cpu_flags()
    if flags and "avx512f" in flags:
        kind = "avx512"
    elif flags and "avx2" in flags:
        kind = "avx2"
    else:
        kind = torch.backends.cpu.get_cpu_capability().lower()
    capability = torch.backends.cpu.get_cpu_capability().lower()
    if isa_caps() and capability != kind:
        kind += f"_as_{capability}"
    return kind


def product_library(size, batch, device) -> str:
    """Which library computed the per-step products ``(batch, hidden) @ (hidden, 4*hidden)``."""
    if device.type != "cpu":
        return "torch.mm"
    if FixedWeightProduct(torch.zeros(size.hidden_size, 4 * size.hidden_size), batch).uses_onednn:
        return matmul.ONEDNN
    path = matmul.product_path()
    return "torch.mm (below lstm_lib.fast.matmul.MIN_ONEDNN_MACS)" if path == matmul.ONEDNN else path


def header(command, results, args, device) -> str:
    """The results file's title and what the numbers depend on: machine, versions, paths taken."""
    lines = [
        "# LSTM backends against nn.LSTM",
        "",
        f"Command: `{command}`",
        "",
    ]
    if device.type == "cpu":
        model, flags = cpu_flags()
        avx512 = "unknown" if flags is None else ("yes" if "avx512f" in flags else "no")
        lines.append(
            f"- CPU: {model or platform.processor() or platform.machine()}; avx512f: {avx512} "
            f"(results kind `{cpu_kind()}`; PyTorch's kernels: {torch.backends.cpu.get_cpu_capability()})"
        )
        caps = isa_caps()
        if caps:
            lines.append(
                "- instruction sets capped: "
                + ", ".join(f"{name}={value}" for name, value in caps.items())
                + " (this CPU's own widest kernels are not used: the code paths of a narrower CPU,"
                " timed on this one)"
            )
        lines.append(f"- torch {torch.__version__}, {torch.get_num_threads()} threads")
    else:
        lines.append(f"- GPU: {device_name(device)}; torch {torch.__version__}")
    lines.append(
        "- per-step products: "
        + ", ".join(f"{size}: {product_library(size, args.batch, device)}" for size in results)
    )
    compile_times = [(size, first[("compile", "compiled")]) for size, (_, first) in results.items()
                     if ("compile", "compiled") in first]  # fmt: skip
    if compile_times:
        lines.append(
            "- compiling the step kernels (first compiled step, forward and backward): "
            + ", ".join(f"{size}: {seconds:.1f} s" for size, seconds in compile_times)
        )
    return "\n".join(lines) + "\n\n"


def device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    # Linux: the marketing name, e.g. "AMD EPYC" or "Intel(R) Xeon(R) ..."
    model = cpu_flags()[0] or platform.processor() or platform.machine()
    # the widest vector instructions PyTorch's kernels use here (AVX2, AVX512, ...)
    return f"{model} CPU ({torch.backends.cpu.get_cpu_capability()})"


def plot(results, names, file):
    """Bar charts of the ratios to nn.LSTM, as PNG into ``file`` (a path or a binary file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    width = 0.8 / len(results)
    for ax, workload in zip(axes, ("train", "generate"), strict=True):
        for k, (size, (times, _)) in enumerate(results.items()):
            ref = statistics.median(times[(workload, REFERENCE)])
            ratios = [statistics.median(times[(workload, n)]) / ref for n in names]
            xs = [i + (k - (len(results) - 1) / 2) * width for i in range(len(names))]
            _ = ax.bar(xs, ratios, width, label=str(size))
        _ = ax.axhline(1.0, color="black", linewidth=0.8)
        _ = ax.set_xticks(range(len(names)), names)
        _ = ax.set_title(f"{workload}: time relative to {REFERENCE} (lower is faster)")
        _ = ax.legend(title="layers × hidden")
    _ = axes[0].set_ylabel("time / nn.LSTM time")
    fig.tight_layout()
    fig.savefig(file, format="png", dpi=120)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="book size only, few rounds (< 1 minute)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads on the CPU")
    parser.add_argument("--backends", nargs="+", default=None, help=f"default: all of {sorted(BACKENDS)}")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 15, quick 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls after the first one")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--gen-length", type=int, default=None, help="characters (default 200, quick 50)")
    parser.add_argument(
        "--timer",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall-clock time, or this process's CPU time (steadier on a busy machine)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the table and the plot")
    parser.add_argument(
        "--tag", default=None, help="file name stem (default: bench_<device>[_<cpu kind>][_thp][_quick])"
    )
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 15)
    args.gen_length = args.gen_length or (50 if args.quick else 200)
    args.warmup = min(args.warmup, 1) if args.quick else args.warmup
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    global clock
    clock = CLOCKS[args.timer]
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but torch.cuda.is_available() is False")
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    names = args.backends or sorted(BACKENDS)
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise UsageError(f"unknown backend(s) {unknown}; choose from {sorted(BACKENDS)}")
    names = [REFERENCE] + names
    sizes = [Size(1, 256)] if args.quick else [Size(1, 256), Size(2, 512)]

    def log(message):
        print(message, file=sys.stderr, flush=True)

    results = {}
    for size in sizes:
        log(f"size {size}:")
        results[size] = measure(size, names, args, device, log)
    report = table(results, names, args, device)
    command = "python benchmarks/bench_lstm.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if HUGE_PAGES:
        command = "THP_MEM_ALLOC_ENABLE=1 " + command
    command = "".join(f"{name}={value} " for name, value in isa_caps().items()) + command
    print(report)
    kind = f"_{cpu_kind()}" if device.type == "cpu" else ""
    stem = args.tag or (
        f"bench_{device.type}{kind}" + ("_thp" if HUGE_PAGES else "") + ("_quick" if args.quick else "")
    )
    with atomic_write(args.out / f"{stem}.md") as file:
        file.write((header(command.strip(), results, args, device) + report + "\n").encode("utf-8"))
    with atomic_write(args.out / f"{stem}.png") as file:
        plot(results, names, file)
    log(f"wrote {args.out / (stem + '.md')} and {args.out / (stem + '.png')}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
