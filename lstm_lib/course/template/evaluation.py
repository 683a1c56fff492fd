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
    # BEGIN SOLUTION evaluate
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
    # END SOLUTION
