"""Small, fast training setups shared by the tests."""

import torch

from lstm_lib import CharLSTM, ModelConfig, TrainConfig, Trainer, Vocabulary, split_ids
from lstm_lib.runs.safety import LOCK_NAME

TEXT = (
    "It is a truth universally acknowledged, that a single man in possession "
    "of a good fortune, must be in want of a wife.\n"
) * 12

RUN_FILES = sorted(["best.pt", "last.pt", LOCK_NAME])
"""What a finished run leaves in its folder: both checkpoints, and the (released) lock
file of :class:`lstm_lib.runs.safety.RunLock`; nothing half-written."""


def tiny_trainer(
    checkpoint_dir=None, epochs=2, dropout=0.0, num_layers=1, seed=0, overwrite=False, **train_options
):
    """A 16-unit model on a short repeated text: a dozen steps per epoch; ``train_options``
    go to :class:`TrainConfig`, ``overwrite`` to the :class:`Trainer`."""
    vocab = Vocabulary.from_text(TEXT)
    config = TrainConfig(epochs=epochs, batch_size=4, seq_len=20, lr=1e-2, seed=seed, **train_options)
    torch.manual_seed(seed)
    model = CharLSTM(
        ModelConfig(len(vocab), embedding_size=8, hidden_size=16, num_layers=num_layers, dropout=dropout)
    )
    train_ids, val_ids = split_ids(vocab.encode(TEXT), config.val_fraction)
    return Trainer(model, vocab, train_ids, val_ids, config, checkpoint_dir, overwrite=overwrite)


def without_a_cpp_compiler(function, example_inputs):
    """Stands in for ``lstm_lib.fast.compiled._compile_graph`` on a machine with no C++ compiler."""
    from torch._inductor.exc import CppCompileError

    raise CppCompileError(["c++", "step.cpp"], "c++: command not found")
