"""One rank of the distributed-training tests, started by torchrun (tests/test_distributed.py).

    torchrun --standalone --nproc-per-node 2 tests/ddp_worker.py MODE OUT

MODE ``straight`` trains two epochs in one go into OUT/straight; ``first`` stops
after 7 steps (mid-epoch) into OUT/run; ``resume`` continues OUT/run/last.pt.
"""

import sys
from pathlib import Path

import torch

from lstm_lib import CharLSTM, ModelConfig, TrainConfig, Trainer, Vocabulary, split_ids
from lstm_lib.runs import distributed

TEXT = (
    "It is a truth universally acknowledged, that a single man in possession "
    "of a good fortune, must be in want of a wife.\n"
) * 12


def main(mode: str, out: Path) -> None:
    world = distributed.init(torch.device("cpu"))
    if mode == "resume":
        trainer = Trainer.resume(out / "run" / "last.pt", TEXT, world=world)
    else:
        vocab = Vocabulary.from_text(TEXT)
        ids = split_ids(vocab.encode(TEXT), 0.1)
        config = TrainConfig(epochs=2, batch_size=4, seq_len=20, lr=1e-2, lr_schedule="cosine")
        torch.manual_seed(config.seed)
        model = CharLSTM(ModelConfig(len(vocab), embedding_size=8, hidden_size=16, num_layers=2))
        folder = out / ("straight" if mode == "straight" else "run")
        trainer = Trainer(model, vocab, *ids, config, folder, world=world)
    trainer.fit(progress=False, max_steps=7 if mode == "first" else None)
    distributed.shutdown(world)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
