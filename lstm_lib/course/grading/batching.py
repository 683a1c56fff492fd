"""Checks of ``my_lstm/batching.py``: ``batchify`` and ``get_batch`` (chapter 2)."""

import torch

from ... import batching
from ..compare import ExerciseError, expect_close


def check_batchify(batchify) -> None:
    ids = torch.arange(23)
    expected = batching.batchify(ids, 4)
    rows = len(ids) // 4
    result = batchify(ids.clone(), 4)
    kept = ids[: rows * 4]
    expect_close(
        "batchify(arange(23), 4)",
        result,
        expected,
        [
            (
                "the columns are not consecutive chunks of the text (view(rows, batch_size) interleaves "
                "them): use view(batch_size, rows).t()",
                kept.view(rows, 4),
            ),
            ("the result is (batch_size, rows); transpose it to (rows, batch_size)", expected.t()),
        ],
        "column b = ids[b*rows : (b+1)*rows], with rows = n // batch_size and the remainder dropped",
    )
    if isinstance(result, torch.Tensor) and result.shape != expected.shape and result.numel() == len(ids):
        raise ExerciseError("the ids that do not fill a whole row must be dropped")
    expect_close("batchify(arange(23), 4, seq_len=2)", batchify(ids.clone(), 4, 2), expected)
    expect_close(
        "batchify(arange(10), 3)", batchify(torch.arange(10), 3), batching.batchify(torch.arange(10), 3)
    )


def check_get_batch(get_batch) -> None:
    source = torch.arange(26).view(2, 13).t().contiguous()  # 13 rows, 2 streams
    seq_len = 5
    for i in range(0, len(source) - 1, seq_len):  # windows of 5, 5 and 2 rows
        expected_in, expected_tg = batching.get_batch(source, i, seq_len)
        result = get_batch(source, i, seq_len)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ExerciseError("get_batch should return a pair (inputs, targets)")
        inputs, targets = result
        short = i + seq_len > len(source) - 1
        if short and isinstance(inputs, torch.Tensor) and len(inputs) != len(expected_in):
            raise ExerciseError(
                f"the last window is not shortened: with {len(source)} rows, the window at row {i} has "
                f"T = min(seq_len, rows - 1 - i) = {len(expected_in)} rows, so that its targets exist"
            )
        expect_close(
            f"the inputs at row {i}",
            inputs,
            expected_in,
            [("i is a row index, not a window number", source[i * seq_len : i * seq_len + seq_len])],
            "rows i … i+T-1",
        )
        expect_close(
            f"the targets at row {i}",
            targets,
            expected_tg,
            [("the targets are not shifted: they should be rows i+1 … i+T", expected_in)],
            "rows i+1 … i+T",
        )
