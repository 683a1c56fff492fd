"""From one long id sequence to the windows that truncated BPTT trains on.

The text is cut into ``batch`` equally long streams laid side by side as
columns; window ``i`` takes rows ``i .. i+seq_len`` of every column, and its
targets are the same rows shifted by one. Row ``i`` of column ``b`` follows row
``i-1`` of column ``b`` in the text, so the state left by one window is the
right starting state for the next.
"""

import torch

from .errors import UsageError


def split_ids(ids: torch.Tensor, val_fraction: float = 0.1):
    """Contiguous train/validation split: the last ``val_fraction`` is validation.

    Contiguous (not shuffled characters or lines), so validation text is
    unseen prose and the streams stay continuous.
    """
    if not 0.0 < val_fraction < 1.0:
        raise UsageError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")
    n_val = int(len(ids) * val_fraction)
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


def batchify(ids: torch.Tensor, batch_size: int, seq_len: int = 1) -> torch.Tensor:
    """Lay ``(n,)`` ids out as ``(n // batch_size, batch_size)`` parallel streams.

    Column ``b`` holds the ``b``-th consecutive chunk of the text; the
    remainder that does not fill a whole row is dropped.
    """
    if batch_size <= 0:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}", "batch_size")
    if seq_len <= 0:
        raise UsageError(
            f"seq_len (the window length) must be a positive integer, got {seq_len!r}", "seq_len"
        )
    rows = len(ids) // batch_size
    if rows < seq_len + 1:
        raise UsageError(
            f"a text of {len(ids):,} character{'' if len(ids) == 1 else 's'} is too short for "
            f"batch size {batch_size} x window {seq_len}: it needs at least {batch_size * (seq_len + 1):,}; "
            "use a longer text or a smaller batch_size or seq_len",
            "batch_size",
        )
    return ids[: rows * batch_size].view(batch_size, rows).t().contiguous()


def get_batch(source: torch.Tensor, i: int, seq_len: int):
    """Window starting at row ``i``: ``(inputs, targets)``, each ``(T, batch)``,
    with ``T = min(seq_len, rows - 1 - i)``; targets are inputs shifted by one."""
    T = min(seq_len, len(source) - 1 - i)
    return source[i : i + T], source[i + 1 : i + 1 + T]


def window_starts(source: torch.Tensor, seq_len: int) -> list[int]:
    """First rows of the windows that cover ``source`` (the last may be shorter)."""
    return list(range(0, len(source) - 1, seq_len))
