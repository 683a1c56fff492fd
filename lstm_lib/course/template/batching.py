"""From one long id sequence to the windows that truncated BPTT trains on (chapter 2)."""

from lstm_lib.errors import UsageError


def batchify(ids, batch_size, seq_len=1):
    """Lay ``(n,)`` ids out as ``(n // batch_size, batch_size)`` parallel streams.

    Column ``b`` holds the ``b``-th consecutive chunk of ``rows = n // batch_size``
    ids of the text; the ``n - rows * batch_size`` ids left over at the end are
    dropped. ``seq_len``, the window length, only sets how short a text may be:
    it needs ``rows >= seq_len + 1``.

    Example: ids 0 … 9 with batch_size 3 give rows [0, 3, 6], [1, 4, 7], [2, 5, 8].
    """
    # BEGIN SOLUTION batchify from lstm_lib.batching.batchify
    # END SOLUTION


def get_batch(source, i, seq_len):
    """The window that starts at row ``i`` of ``source`` ``(rows, batch)``.

    Returns:
        ``(inputs, targets)``, each ``(T, batch)`` with ``T = min(seq_len, rows - 1 - i)``:
        inputs are rows ``i … i+T-1``, targets the same rows shifted by one, ``i+1 … i+T``.
    """
    # BEGIN SOLUTION get_batch from lstm_lib.batching.get_batch
    # END SOLUTION
