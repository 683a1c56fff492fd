"""Checks of ``my_lstm/sampling.py``: ``next_char_distribution``, temperature and top-k (chapter 9)."""

import torch

from ...sampling import next_char_distribution as reference
from ..compare import DTYPE, ExerciseError, expect_close, expect_tensor


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
        [("the result is not normalized: apply a softmax to the logits", logits)],
        "softmax(logits)",
    )
    expect_close(
        "temperature 0.5",
        call(0.5),
        reference(logits, 0.5),
        [("the temperature multiplies the logits; divide them by it", (logits * 0.5).softmax(-1))],
        "softmax(logits / temperature)",
    )
    expect_close(
        "temperature 0",
        call(0.0),
        reference(logits, 0.0),
        [],
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
        ],
        "softmax over the k largest logits, 0 elsewhere",
    )
    expect_close("top_k=3 at temperature 0.7", call(0.7, top_k=k), reference(logits, 0.7, k))
    expect_close(
        "top_k larger than the vocabulary",
        call(1.0, top_k=vocab + 5),
        reference(logits, 1.0),
        [],
        "every character kept",
    )
    one_row = next_char_distribution(logits[0, 0].clone(), 0.8, 4)
    expect_close("a single row of logits (vocab,)", one_row, reference(logits[0, 0], 0.8, 4))
