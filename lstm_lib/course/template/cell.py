"""{docstring of lstm_lib.cell}

Chapter 4 writes the step gate by gate ("The gates, one equation at a time"); ``GATES``
and ``LSTMCell``, the parameters of one layer, are ready-made: they are lstm_lib's.
"""

import torch

from lstm_lib.cell import GATES, LSTMCell


def lstm_step(XW_t, H_prev, C_prev, W_h):
    """Advance the LSTM by one time step.

    Args:
        XW_t: ``(batch, 4*hidden)``, the input's share of all four gates, ``X_t W_x + b``.
        H_prev: ``(batch, hidden)``, the hidden state H_{t-1}.
        C_prev: ``(batch, hidden)``, the cell state C_{t-1}.
        W_h: ``(hidden, 4*hidden)``, the recurrent weights ``[W_hi | W_hf | W_ho | W_hc]``.

    Returns:
        ``(H_t, C_t, (I_t, F_t, O_t, C̃_t))``, every tensor ``(batch, hidden)``.

    Add ``H_prev @ W_h`` to ``XW_t``, split the sum into its four ``(batch, hidden)``
    blocks (i, f, o, c), then apply the six equations at the top of this file.
    """
    # BEGIN SOLUTION lstm_step from lstm_lib.cell.lstm_step
    # END SOLUTION
