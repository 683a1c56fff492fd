"""Checks of ``my_lstm/batching.py``: ``batchify`` and ``get_batch`` (chapter 2)."""

import torch

from ... import batching
from ..compare import ExerciseError, close, expect_close

REMAINDER = (
    "{n} ids do not fill {b} equal streams: drop the remainder, ids[: rows * batch_size] "
    "with rows = n // batch_size"
)


def _batchify(batchify, ids, batch_size, *seq_len):
    """``batchify(ids, batch_size, *seq_len)``; an error that comes from keeping the remainder is named."""
    try:
        return batchify(ids.clone(), batch_size, *seq_len)
    except (RuntimeError, ValueError) as exc:
        fits = torch.arange(len(ids) // batch_size * batch_size)
        try:
            batchify(fits, batch_size, *seq_len)
        except Exception:
            raise exc from None
        raise ExerciseError(
            f"batchify(arange({len(ids)}), {batch_size}) raised {type(exc).__name__}: "
            + REMAINDER.format(n=len(ids), b=batch_size)
        ) from None


def check_batchify(batchify) -> None:
    ids = torch.arange(23)
    expected = batching.batchify(ids, 4)
    rows = len(ids) // 4
    result = _batchify(batchify, ids, 4)
    kept = ids[: rows * 4]
    if isinstance(result, torch.Tensor) and result.dim() == 2 and result.shape[1] == 4 and len(result) > rows:
        raise ExerciseError(
            f"the ids that do not fill a whole row must be dropped: {len(result)} rows, not {rows}; "
            + REMAINDER.format(n=len(ids), b=4)
        )
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
            (
                "the remainder is dropped from the start of the text; drop the ids at its end, "
                "ids[: rows * batch_size]",
                ids[len(ids) - rows * 4 :].view(4, rows).t(),
            ),
        ],
        "column b = ids[b*rows : (b+1)*rows], with rows = n // batch_size and the remainder dropped",
    )
    with_seq_len = _batchify(batchify, ids, 4, 2)
    if isinstance(with_seq_len, torch.Tensor) and len(with_seq_len) < rows and with_seq_len.shape[1:] == (4,):
        raise ExerciseError(
            f"batchify(arange(23), 4, seq_len=2) keeps {len(with_seq_len)} rows, not {rows}: seq_len does "
            "not change the layout, it only sets how short a text may be; keep every one of the "
            "n // batch_size rows"
        )
    expect_close("batchify(arange(23), 4, seq_len=2)", with_seq_len, expected)
    expect_close(
        "batchify(arange(10), 3)",
        _batchify(batchify, torch.arange(10), 3),
        batching.batchify(torch.arange(10), 3),
    )


def check_get_batch(get_batch) -> None:
    source = torch.arange(26).view(2, 13).t().contiguous()  # 13 rows, 2 streams
    seq_len = 5
    for i in range(0, len(source) - 1, seq_len):  # windows of 5, 5 and 2 rows
        expected_in, expected_tg = batching.get_batch(source, i, seq_len)
        T = len(expected_in)
        result = get_batch(source, i, seq_len)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ExerciseError("get_batch should return a pair (inputs, targets)")
        inputs, targets = result
        if close(inputs, expected_tg) and close(targets, expected_in):
            raise ExerciseError("get_batch returns (targets, inputs); return (inputs, targets)")
        if close(inputs, source[:, i : i + seq_len]):
            raise ExerciseError(
                "get_batch slices columns, source[:, i : …]; a window is a block of rows, source[i : i+T]"
            )
        short = i + seq_len > len(source) - 1
        if short and isinstance(inputs, torch.Tensor) and len(inputs) != T:
            raise ExerciseError(
                f"the last window is not shortened: with {len(source)} rows, the window at row {i} has "
                f"T = min(seq_len, rows - 1 - i) = {T} rows, so that its targets exist"
            )
        expect_close(
            f"the inputs at row {i}",
            inputs,
            expected_in,
            [
                ("i is a row index, not a window number", source[i * seq_len : i * seq_len + seq_len]),
                (
                    "the inputs start at row i+1; they are rows i … i+T-1 (the targets are the ones "
                    "shifted by one)",
                    expected_tg,
                ),
            ],
            "rows i … i+T-1",
        )
        if isinstance(targets, torch.Tensor) and len(targets) == T - 1 and close(targets, expected_tg[:-1]):
            raise ExerciseError(
                f"the targets have T - 1 = {T - 1} rows: they are rows i+1 … i+T, source[i+1 : i+1+T]"
            )
        expect_close(
            f"the targets at row {i}",
            targets,
            expected_tg,
            [("the targets are not shifted: they should be rows i+1 … i+T", expected_in)],
            "rows i+1 … i+T",
        )
