"""Cross-entropy, perplexity and bits per character, normalized by tokens."""

import math

import torch
import torch.nn.functional as F

from .batching import get_batch, window_starts
from .layer import detach_state


def perplexity(nll: float) -> float:
    """``exp`` of the mean negative log-likelihood per character (in nats)."""
    return math.exp(nll) if nll < 700 else math.inf  # exp overflows a float past ~709


def bits_per_character(nll: float) -> float:
    """Mean negative log-likelihood per character, in bits."""
    return nll / math.log(2)


def evaluate(model, source: torch.Tensor, seq_len: int) -> float:
    """Mean NLL per predicted character over ``source`` (``(rows, batch)``).

    Sums the loss of every character and divides by the number of characters,
    so windows of different lengths weigh what they contain; exp of the result
    is the perplexity. (Averaging per-window perplexities would not be.)
    """
    total_nll, total_tokens = nll_and_count(model, source, seq_len)
    return total_nll / total_tokens


@torch.no_grad()
def nll_and_count(model, source: torch.Tensor, seq_len: int) -> tuple[float, int]:
    """The summed NLL (nats) of every predicted character of ``source``, and how
    many there are: sums that processes holding parts of a text can add up."""
    was_training = model.training
    model.eval()
    state = model.init_state(source.shape[1], source.device)
    total_nll, total_tokens = 0.0, 0
    for i in window_starts(source, seq_len):
        inputs, targets = get_batch(source, i, seq_len)
        logits, state = model(inputs, state)
        state = detach_state(state)
        total_nll += F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
        ).item()
        total_tokens += targets.numel()
    model.train(was_training)
    return total_nll, total_tokens
