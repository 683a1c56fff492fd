"""From logits to the next character's probabilities (chapter 9)."""

import torch


def next_char_distribution(logits, temperature=1.0, top_k=None):
    """Turn ``(..., vocab)`` logits into probabilities for the next character.

    Returns:
        ``(..., vocab)`` probabilities that sum to 1 along the last dimension:
        ``softmax(logits / temperature)``, where with ``top_k`` only the k largest
        logits of each row are kept (the others get probability 0) and temperature 0
        means greedy decoding: probability 1 on the largest logit (a one-hot row).
    """
    # BEGIN SOLUTION next_char_distribution
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth_largest = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    return torch.softmax(logits, dim=-1)
    # END SOLUTION
