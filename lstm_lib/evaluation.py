"""Cross-entropy, perplexity and bits per character, normalized by tokens."""

import math

import torch
import torch.nn.functional as F

from .batching import get_batch


def perplexity(nll: float) -> float:
    """``exp`` of the mean negative log-likelihood per character (in nats)."""
    return math.exp(nll) if nll < 700 else math.inf  # exp overflows a float past ~709


def bits_per_character(nll: float) -> float:
    """Mean negative log-likelihood per character, in bits."""
    return nll / math.log(2)


@torch.no_grad()
def evaluate(model, source: torch.Tensor, seq_len: int) -> float:
    """Mean negative log-likelihood per predicted character over ``source``.

    Args:
        model: a :class:`~lstm_lib.model.CharLSTM` (or anything with its call signature).
        source: ``(rows, batch)`` ids from :func:`~lstm_lib.batching.batchify`.
        seq_len: the window length; the last window may be shorter.

    Returns:
        ``Σ -log p(target) / (number of targets)`` over every window, in nats; exp of
        it is the perplexity. Summing every character's loss and dividing once lets
        windows of different lengths weigh what they contain (averaging per-window
        perplexities would not). The model's training mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    state = model.init_state(source.shape[1], source.device)
    total_nll, total_tokens = 0.0, 0
    for i in range(0, len(source) - 1, seq_len):
        inputs, targets = get_batch(source, i, seq_len)
        logits, state = model(inputs, state)
        total_nll += F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
        ).item()
        total_tokens += targets.numel()
    model.train(was_training)
    return total_nll / total_tokens


def nll_and_count(model, source: torch.Tensor, seq_len: int) -> tuple[float, int]:
    """The summed NLL (nats) of every predicted character of ``source``, and how many
    there are: sums that processes holding parts of a text can add up."""
    count = (len(source) - 1) * source.shape[1]
    return evaluate(model, source, seq_len) * count, count
