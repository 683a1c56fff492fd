"""One LSTM time step, gate by gate (chapter 4, "The gates, one equation at a time").

Rows are examples, so every product is ``X @ W``:

    I_t  = σ(X_t W_xi + H_{t-1} W_hi + b_i)        input gate
    F_t  = σ(X_t W_xf + H_{t-1} W_hf + b_f)        forget gate
    O_t  = σ(X_t W_xo + H_{t-1} W_ho + b_o)        output gate
    C̃_t  = tanh(X_t W_xc + H_{t-1} W_hc + b_c)     candidate memory
    C_t  = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t               cell state
    H_t  = O_t ⊙ tanh(C_t)                          hidden state

The four weight matrices of each kind sit side by side in the gate order
(i, f, o, c): ``W_h = [W_hi | W_hf | W_ho | W_hc]`` is ``(hidden, 4*hidden)``.
"""

import math

import torch
from torch import nn

GATES = ("i", "f", "o", "c")
"""Order of the four gate blocks inside ``W_x``, ``W_h`` and ``b``."""


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
    # BEGIN SOLUTION lstm_step
    pre_I, pre_F, pre_O, pre_C = (XW_t + H_prev @ W_h).chunk(4, dim=1)
    I = torch.sigmoid(pre_I)
    F = torch.sigmoid(pre_F)
    O = torch.sigmoid(pre_O)
    C_tilde = torch.tanh(pre_C)
    C = F * C_prev + I * C_tilde
    H = O * torch.tanh(C)
    return H, C, (I, F, O, C_tilde)
    # END SOLUTION


class LSTMCell(nn.Module):
    """The parameters of one LSTM layer (ready-made: nothing to write here).

    ``W_x`` ``(input, 4*hidden)``, ``W_h`` ``(hidden, 4*hidden)`` and ``b``
    ``(4*hidden,)``, gate blocks in the order (i, f, o, c); ``b_f`` starts at
    ``forget_bias`` so that memory flows through time from the start.
    """

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 1.0):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.W_x = nn.Parameter(torch.empty(input_size, 4 * hidden_size))
        self.W_h = nn.Parameter(torch.empty(hidden_size, 4 * hidden_size))
        self.b = nn.Parameter(torch.empty(4 * hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        with torch.no_grad():
            self.W_x.uniform_(-bound, bound)
            self.W_h.uniform_(-bound, bound)
            self.b.zero_()
            self.b[hidden_size : 2 * hidden_size].fill_(forget_bias)

    def input_projection(self, X):
        """``X W_x + b`` for every row at once: ``(..., input)`` -> ``(..., 4*hidden)``."""
        return X @ self.W_x + self.b

    def forward(self, X_t, state):
        """One step: ``X_t`` ``(batch, input)``, ``state`` ``(H_{t-1}, C_{t-1})`` -> ``(H_t, C_t)``."""
        H_prev, C_prev = state
        H, C, _ = lstm_step(self.input_projection(X_t), H_prev, C_prev, self.W_h)
        return H, C
