"""Cross-entropy over a whole text, normalized by tokens (chapter 8)."""

import torch
import torch.nn.functional as F

from .batching import get_batch


@torch.no_grad()
def evaluate(model, source, seq_len):
    """Mean negative log-likelihood per predicted character over ``source``.

    Args:
        model: a ``CharLSTM``.
        source: ``(rows, batch)`` ids from ``batchify``.
        seq_len: the window length; the last window may be shorter.

    Returns:
        ``Σ -log p(target) / (number of targets)`` over every window, a float in nats;
        ``exp`` of it is the perplexity.

    Run the model in eval mode (restore its mode afterwards), window after window
    with ``get_batch`` from row 0 in steps of ``seq_len``, carrying the state from
    one window to the next. Sum the losses (``reduction="sum"``) and divide once by
    the number of targets: averaging each window's mean would give a short last
    window the weight of a full one.
    """
    # BEGIN SOLUTION evaluate from lstm_lib.evaluation.evaluate
    # END SOLUTION
