"""From logits to the next character's probabilities (chapter 9)."""

import torch

from lstm_lib.errors import UsageError


def next_char_distribution(logits, temperature=1.0, top_k=None):
    """Turn ``(..., vocab)`` logits into probabilities for the next character.

    Returns:
        ``(..., vocab)`` probabilities that sum to 1 along the last dimension:
        ``softmax(logits / temperature)``, where with ``top_k`` only the k largest
        logits of each row are kept (the others get probability 0) and temperature 0
        means greedy decoding: probability 1 on the largest logit (a one-hot row).
    """
    # BEGIN SOLUTION next_char_distribution from lstm_lib.sampling.next_char_distribution
    # END SOLUTION
