"""Checks of ``my_lstm/sampling.py``: ``next_char_distribution``, temperature and top-k (chapter 9)."""

import torch

from ...sampling import next_char_distribution as reference
from ..compare import DTYPE, ExerciseError, expect_close, expect_tensor, mistaken

NO_GREEDY = ("if temperature == 0:", "if False:")
"""lstm_lib's next_char_distribution without its case for temperature 0: it divides by 0."""


def check_next_char_distribution(next_char_distribution) -> None:
    g = torch.Generator().manual_seed(16)
    vocab = 10
    logits = torch.randn(2, 3, vocab, generator=g, dtype=DTYPE) * 2

    def call(*args, **kwargs):
        result = next_char_distribution(logits.clone(), *args, **kwargs)
        expect_tensor("the distribution", result, tuple(logits.shape))
        return result

    expect_close(
        "temperature 1",
        call(1.0),
        reference(logits, 1.0),
        [
            ("the result is not normalized: apply a softmax to the logits", logits),
            (
                "the result is log-probabilities (a log-softmax); return probabilities, a softmax",
                logits.log_softmax(-1),
            ),
            *(
                (
                    f"the softmax is taken over dim {dim}; normalize over the last dim, the vocabulary",
                    logits.softmax(dim),
                )
                for dim in (0, 1)
            ),
        ],
        "softmax(logits)",
    )
    expect_close(
        "temperature 0.5",
        call(0.5),
        reference(logits, 0.5),
        [
            ("the temperature multiplies the logits; divide them by it", (logits * 0.5).softmax(-1)),
            (
                "the probabilities are divided by the temperature; divide the logits, then take the softmax",
                logits.softmax(-1) / 0.5,
            ),
            ("the temperature is ignored: divide the logits by it", logits.softmax(-1)),
        ],
        "softmax(logits / temperature)",
    )
    expect_close(
        "temperature 0",
        call(0.0),
        reference(logits, 0.0),
        [
            (
                "temperature 0 divides the logits by zero (NaN): handle it first, with a one-hot row on "
                "the largest logit (greedy decoding)",
                mistaken(reference, NO_GREEDY)(logits, 0.0),
            ),
            (
                "greedy decoding puts all the probability on the smallest logit; use argmax",
                reference(-logits, 0.0),
            ),
        ],
        "greedy decoding: a one-hot row on the largest logit (dividing by 0 gives NaN)",
    )
    k = 3
    result = call(1.0, top_k=k)
    kept = (result > 0).sum(-1)
    for count, message in ((k + 1, "top-k keeps k+1 characters"), (k - 1, "top-k keeps k-1 characters")):
        if bool((kept == count).all()):
            raise ExerciseError(f"{message} (top_k={k} kept {count}); keep the logits >= the k-th largest")
    expected = reference(logits, 1.0, k)
    expect_close(
        f"top_k={k}",
        result,
        expected,
        [
            (
                "top-k probabilities do not sum to 1: mask the logits before the softmax",
                logits.softmax(-1) * (expected > 0),
            ),
            ("top-k keeps the k smallest logits instead of the k largest", reference(-logits, 1.0, k)),
            (
                "the logits outside the top k are set to 0, not -inf: their probabilities must be 0",
                logits.masked_fill(expected == 0, 0.0).softmax(-1),
            ),
        ],
        "softmax over the k largest logits, 0 elsewhere",
    )
    expect_close("top_k=3 at temperature 0.7", call(0.7, top_k=k), reference(logits, 0.7, k))
    try:
        everything = call(1.0, top_k=vocab + 5)
    except RuntimeError as exc:
        raise ExerciseError(
            f"top_k larger than the vocabulary raised RuntimeError ({str(exc).splitlines()[0]}): keep every "
            "character when top_k >= vocab_size"
        ) from None
    expect_close(
        "top_k larger than the vocabulary", everything, reference(logits, 1.0), [], "every character kept"
    )
    try:
        one_row = next_char_distribution(logits[0, 0].clone(), 0.8, 4)
    except IndexError as exc:
        raise ExerciseError(
            f"a single row of logits (vocab,) raised IndexError ({exc}): index the last dimension, "
            "[..., -1:], so that any number of leading dimensions works"
        ) from None
    expect_close("a single row of logits (vocab,)", one_row, reference(logits[0, 0], 0.8, 4))
