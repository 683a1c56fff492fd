"""One update of truncated backpropagation through time (chapters 6 and 7)."""

import math

import torch
import torch.nn.functional as F


def train_step(model, optimizer, inputs, targets, state, clip):
    """One truncated-BPTT update on one window.

    Args:
        model: a ``CharLSTM``: ``model(inputs, state) -> (logits (T, batch, vocab), state)``.
        optimizer: the optimizer of ``model``'s parameters.
        inputs, targets: ``(T, batch)`` ids; targets are inputs shifted by one.
        state: ``(H, C)`` left by the previous window, each ``(num_layers, batch, hidden)``,
            or None for zeros.
        clip: the largest allowed global gradient norm; 0 turns clipping off.

    Returns:
        ``(loss, grad_norm, state)``: the mean cross-entropy per character (a float),
        the global gradient norm ``sqrt(Σ ‖∇θ‖²)`` *before* clipping (a float), and
        the final state, detached.

    In order: detach the incoming state (backpropagation must stop at the window's
    start, chapter 6); run the model; average the cross-entropy over all T × batch
    characters; zero the gradients; backward; clip the gradients' global norm to
    ``clip`` (``torch.nn.utils.clip_grad_norm_``, chapter 7); take the optimizer step.
    """
    # BEGIN SOLUTION train_step from lstm_lib.train.train_step
    # END SOLUTION
