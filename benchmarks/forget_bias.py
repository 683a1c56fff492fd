"""The forget-gate bias b_f measured: validation perplexity per epoch, over seeds and recipes.

Each run trains the book's model (embedding 64, 1 x 256) on Pride and Prejudice
with one initial forget bias, one seed and one recipe, to the end of the run,
and records the validation perplexity after every epoch:

    python benchmarks/forget_bias.py                          # b_f 0 and 1, seeds 0-2, both recipes
    python benchmarks/forget_bias.py --biases 0 1 2 --seeds 0 1 2 3 4

The seed sets the initial weights (the streams and windows are the same in every
run). Results go to ``benchmarks/results/forget_bias_cpu_<kind>.json``, rewritten
atomically after every run, so an interrupted sweep keeps what it finished and a
rerun skips it; chapter 11 reads the JSON. Perplexities do not depend on the
machine's load, so the sweep may share the machine with other work.
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
    "default": dict(),  # TrainConfig's defaults: Adam 4e-3 on a cosine schedule, 16 epochs
    "constant 2e-3": dict(lr=2e-3, lr_schedule="constant"),
}
"""Name -> the TrainConfig settings that differ from the defaults."""


def run_key(recipe: str, bias: float, seed: int) -> str:
    return f"{recipe} | b_f={bias:g} | seed={seed}"


def train_one(text: str, recipe: str, bias: float, seed: int, backend: str) -> dict:
    """Train one run to the end; its settings and every epoch's validation perplexity."""
    vocab = Vocabulary.from_text(text)
    config = TrainConfig(**RECIPES[recipe], seed=seed)
    train_ids, val_ids = split_ids(vocab.encode(text), config.val_fraction)
    torch.manual_seed(config.seed)
    model = CharLSTM(ModelConfig(vocab_size=len(vocab), forget_bias=bias)).set_backend(backend)
    history = Trainer(model, vocab, train_ids, val_ids, config).fit(progress=False)
    epochs = [{k: e[k] for k in ("epoch", "elapsed", "val_ppl")} for e in history["epochs"]]
    return {
        "recipe": recipe,
        "forget_bias": bias,
        "seed": seed,
        "train_config": config.to_dict(),
        "epochs": epochs,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--biases", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), default=list(RECIPES))
    parser.add_argument("--backend", default="compiled", help="default: %(default)s (same numbers as manual)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    text = load_pride_and_prejudice()
    path = args.out / f"forget_bias_cpu_{cpu_kind()}.json"
    done = json.loads(path.read_text())["runs"] if path.exists() else []
    finished = {run_key(r["recipe"], r["forget_bias"], r["seed"]) for r in done}
    model_name, _ = cpu_flags()
    machine = {"cpu": model_name or platform.processor(), "torch": torch.__version__, "threads": args.threads}
    for recipe in args.recipes:
        for seed in args.seeds:
            for bias in args.biases:
                key = run_key(recipe, bias, seed)
                if key in finished:
                    continue
                print(f"== {key}", flush=True)
                done.append(train_one(text, recipe, bias, seed, args.backend))
                print(f"   final val ppl {done[-1]['epochs'][-1]['val_ppl']:.3f}", flush=True)
                with atomic_write(path) as file:
                    file.write(json.dumps({"machine": machine, "runs": done}, indent=1).encode())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
