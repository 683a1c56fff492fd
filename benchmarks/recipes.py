"""Training recipes compared by validation perplexity against training time.

Each recipe trains the book's model (embedding 64, 1 x 256) on Pride and
Prejudice from the same seed with the ``manual`` backend, for at most
``--budget`` seconds of training (validation time excluded, as ``Trainer``
counts it), and records the validation perplexity after every epoch:

    python benchmarks/recipes.py                 # every recipe, 300 s each
    python benchmarks/recipes.py --budget 60 --recipes default

Results go to ``benchmarks/results/recipes_cpu_<kind>.json`` and ``.png``
(``<kind>`` as for ``bench_lstm.py``: ``avx512`` or ``avx2``), written
atomically; chapter 10 plots the JSON. Run it on an otherwise idle machine.
"""

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from lstm_lib import CharLSTM, ModelConfig, TrainConfig, Trainer, Vocabulary, split_ids
from lstm_lib.atomic import atomic_write
from lstm_lib.corpus import load_pride_and_prejudice

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lstm import cpu_flags, cpu_kind  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

RECIPES = {
    "constant 2e-3, window 100": dict(epochs=24, lr=2e-3, lr_schedule="constant", seq_len=100),
    "cosine 4e-3 over 16 epochs, window 100": dict(epochs=16, lr=4e-3, lr_schedule="cosine", seq_len=100),
    "cosine 3e-3 over 16 epochs, window 50": dict(epochs=16, lr=3e-3, lr_schedule="cosine", seq_len=50),
}
"""Name -> the TrainConfig settings that differ from the book's (batch 64, clip 1, seed 0)."""


def run(name: str, settings: dict, budget: float, text: str) -> dict:
    """Train one recipe for at most ``budget`` seconds; its epochs' times and perplexities."""
    vocab = Vocabulary.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text), 0.1)
    config = TrainConfig(**settings, time_limit=budget)
    torch.manual_seed(config.seed)
    model = CharLSTM(ModelConfig(vocab_size=len(vocab))).set_backend("manual")
    trainer = Trainer(model, vocab, train_ids, val_ids, config)
    print(f"== {name}: {trainer.steps_per_epoch} steps per epoch", flush=True)
    history = trainer.fit(progress=False)
    epochs = [{k: e[k] for k in ("epoch", "elapsed", "val_ppl")} for e in history["epochs"]]
    return {"name": name, "settings": settings, "epochs": epochs}


def plot(results: list, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for result in results:
        x = [e["elapsed"] for e in result["epochs"]]
        _ = ax.plot(x, [e["val_ppl"] for e in result["epochs"]], "o-", ms=3, label=result["name"])
    _ = ax.axhline(3.6, color="tab:red", ls="--", lw=1, label="target 3.6")
    ax.set(xlabel="training time (s)", ylabel="validation perplexity", ylim=(3.0, 6.0), title=title)
    ax.legend()
    fig.tight_layout()
    with atomic_write(path) as file:
        fig.savefig(file, format="png", dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds per recipe")
    parser.add_argument("--recipes", nargs="*", choices=sorted(RECIPES), help="default: all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    text = load_pride_and_prejudice()
    results = [run(name, RECIPES[name], args.budget, text) for name in args.recipes or RECIPES]
    model_name, flags = cpu_flags()
    machine = {
        "cpu": model_name or platform.processor() or platform.machine(),
        "avx512f": None if flags is None else "avx512f" in flags,
        "torch": torch.__version__,
        "threads": args.threads,
        "budget_s": args.budget,
    }
    stem = args.out / f"recipes_cpu_{cpu_kind()}"
    with atomic_write(stem.with_suffix(".json")) as file:
        file.write(json.dumps({"machine": machine, "recipes": results}, indent=1).encode())
    plot(results, stem.with_suffix(".png"), f"Recipes on a 2-core CPU ({cpu_kind()})")
    for result in results:
        reached = next((e for e in result["epochs"] if e["val_ppl"] <= 3.6), None)
        when = (
            f"{reached['elapsed']:.0f} s (epoch {reached['epoch']})" if reached else "not within the budget"
        )
        print(f"{result['name']}: best {min(e['val_ppl'] for e in result['epochs']):.3f}; <= 3.6 at {when}")
    print(f"wrote {stem}.json and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
