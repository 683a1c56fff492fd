"""Train small character models for the same short budget, with and without a remedy
for saturated cell states, and save them for chapter 11.

    .venv/bin/python scripts/saturation_remedy.py            # writes book/assets/saturation_*.pt

Both models are 1 x 128 LSTMs (embedding 32) trained on the training part of the novel with
the book's truncated BPTT (64 streams, windows of 100 characters, state carried from window
to window, Adam at 2e-3, gradients clipped to norm 1) for the same number of windows, from
the same seed. Only the remedy differs: resetting the state at every window, weight decay,
or a forget-gate bias of 0 instead of 1. Each file holds the model's config and weights and
the validation loss after every epoch; chapter 11 loads them and measures the saturation itself.
"""

import argparse
import math
import time
from pathlib import Path

import torch
from torch.nn.functional import cross_entropy

from lstm_lib import CharLSTM, ModelConfig, Vocabulary
from lstm_lib.batching import batchify, split_ids
from lstm_lib.corpus import load_pride_and_prejudice

VARIANTS = {
    "baseline": {"forget_bias": 1.0, "weight_decay": 0.0, "reset_state": False},
    "reset": {"forget_bias": 1.0, "weight_decay": 0.0, "reset_state": True},  # zero state at every window
    "decay": {"forget_bias": 1.0, "weight_decay": 0.1, "reset_state": False},  # AdamW's decoupled decay
    "bias0": {"forget_bias": 0.0, "weight_decay": 0.0, "reset_state": False},  # forget gates start at 0.5
}


def validation_loss(model, val_ids):
    source = batchify(val_ids, 16)
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, len(source) - 1, 100):
            inputs, targets = source[i : i + 100], source[i + 1 : i + 101]
            inputs = inputs[: len(targets)]
            logits, state = model(inputs, state)
            total += cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum")
            count += targets.numel()
    model.train()
    return total.item() / count


def train(name, epochs, out_dir):
    options = VARIANTS[name]
    torch.manual_seed(0)
    text = load_pride_and_prejudice()
    vocab = Vocabulary.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text), 0.1)
    config = ModelConfig(
        vocab_size=len(vocab),
        embedding_size=32,
        hidden_size=128,
        num_layers=1,
        forget_bias=options["forget_bias"],
    )
    model = CharLSTM(config)
    model.lstm.set_backend("manual")
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=options["weight_decay"])
    source = batchify(train_ids, 64)
    history, started = [], time.time()
    for epoch in range(1, epochs + 1):
        state = None
        for i in range(0, len(source) - 1, 100):
            inputs, targets = source[i : i + 100], source[i + 1 : i + 101]
            inputs = inputs[: len(targets)]
            if options["reset_state"]:
                state = None
            logits, state = model(inputs, state)
            state = tuple(s.detach() for s in state)
            loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        val = validation_loss(model, val_ids)
        history.append({"epoch": epoch, "val_loss": val, "val_ppl": math.exp(val)})
        seconds = time.time() - started
        print(f"{name:8s} epoch {epoch}: val loss {val:.3f}, ppl {math.exp(val):.3f} ({seconds:.0f} s)")
    model.lstm.set_backend("autograd")
    payload = {
        "config": config.to_dict(),
        "state_dict": {k: v.clone() for k, v in model.state_dict().items()},
        "options": options,
        "history": history,
        "recipe": "scripts/saturation_remedy.py",
    }
    torch.save(payload, out_dir / f"saturation_{name}.pt")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=sorted(VARIANTS))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("book/assets"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    for variant in args.variants:
        train(variant, args.epochs, args.out)
