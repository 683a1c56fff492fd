"""One LSTM time step, written the way the book writes the equations.

Notation (rows are examples, so every product is ``X @ W``):

    I_t  = σ(X_t W_xi + H_{t-1} W_hi + b_i)        input gate
    F_t  = σ(X_t W_xf + H_{t-1} W_hf + b_f)        forget gate
    O_t  = σ(X_t W_xo + H_{t-1} W_ho + b_o)        output gate
    C̃_t  = tanh(X_t W_xc + H_{t-1} W_hc + b_c)     candidate memory
    C_t  = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t               cell state
    H_t  = O_t ⊙ tanh(C_t)                          hidden state

The four weight matrices of each kind are stored side by side, in the order
``GATES`` = (i, f, o, c), so that one matrix product computes all four gates:
``W_x = [W_xi | W_xf | W_xo | W_xc]`` has shape ``(input, 4*hidden)``.
The named pieces stay available as ``cell.W_xi``, ``cell.W_hf``, ``cell.b_o`` ...
"""

import math

import torch
from torch import nn

GATES = ("i", "f", "o", "c")
"""Order of the four gate blocks inside ``W_x``, ``W_h`` and ``b``."""


def lstm_step(XW_t, H_prev, C_prev, W_h):
    """Advance the LSTM by one time step.

    Args:
        XW_t: ``(batch, 4*hidden)``, the input's share of all four gates,
            ``X_t W_x + b``, usually precomputed for every step at once.
        H_prev: ``(batch, hidden)``, the hidden state H_{t-1}.
        C_prev: ``(batch, hidden)``, the cell state C_{t-1}.
        W_h: ``(hidden, 4*hidden)``, the recurrent weights ``[W_hi|W_hf|W_ho|W_hc]``.

    Returns:
        ``(H_t, C_t, (I_t, F_t, O_t, C̃_t))``, every tensor ``(batch, hidden)``.
    """
    pre_I, pre_F, pre_O, pre_C = (XW_t + H_prev @ W_h).chunk(4, dim=1)
    I = torch.sigmoid(pre_I)  # I_t = σ(X_t W_xi + H_{t-1} W_hi + b_i)
    F = torch.sigmoid(pre_F)  # F_t = σ(X_t W_xf + H_{t-1} W_hf + b_f)
    O = torch.sigmoid(pre_O)  # O_t = σ(X_t W_xo + H_{t-1} W_ho + b_o)
    C_tilde = torch.tanh(pre_C)  # C̃_t = tanh(X_t W_xc + H_{t-1} W_hc + b_c)
    C = F * C_prev + I * C_tilde  # C_t = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t
    H = O * torch.tanh(C)  # H_t = O_t ⊙ tanh(C_t)
    return H, C, (I, F, O, C_tilde)


class LSTMCell(nn.Module):
    """The parameters of one LSTM layer and its single-step computation.

    Args:
        input_size: features per input row, the width of X_t.
        hidden_size: width of H_t and C_t.
        forget_bias: initial value of b_f; 0 starts the forget gates half open
            (σ(0) = 0.5), 1 more open (σ(1) ≈ 0.73). The default, 0, is what chapter 10
            measured to train the book's model best (over seeds, on two recipes).
    """

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.W_x = nn.Parameter(torch.empty(input_size, 4 * hidden_size))
        self.W_h = nn.Parameter(torch.empty(hidden_size, 4 * hidden_size))
        self.b = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters(forget_bias)

    def reset_parameters(self, forget_bias: float = 0.0) -> None:
        """Uniform(-1/√hidden, 1/√hidden) weights, zero biases except b_f."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            self.W_x.uniform_(-bound, bound)
            self.W_h.uniform_(-bound, bound)
            self.b.zero_()
            self.gate_slice(self.b, "f").fill_(forget_bias)

    def gate_slice(self, tensor: torch.Tensor, gate: str) -> torch.Tensor:
        """The block of a fused ``(..., 4*hidden)`` tensor that belongs to ``gate``."""
        k = GATES.index(gate)
        H = self.hidden_size
        return tensor[..., k * H : (k + 1) * H]

    def input_projection(self, X: torch.Tensor) -> torch.Tensor:
        """``X W_x + b`` for every row at once: ``(..., input)`` -> ``(..., 4*hidden)``."""
        return torch.addmm(self.b, X.reshape(-1, self.input_size), self.W_x).view(
            *X.shape[:-1], 4 * self.hidden_size
        )

    def forward(self, X_t, state):
        """One step from raw input: ``X_t`` is ``(batch, input)``, ``state`` is
        ``(H_{t-1}, C_{t-1})``, each ``(batch, hidden)``. Returns ``(H_t, C_t)``."""
        H_prev, C_prev = state
        H, C, _ = lstm_step(self.input_projection(X_t), H_prev, C_prev, self.W_h)
        return H, C

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}, gates={''.join(GATES)}"


def _named_block(kind: str, gate: str):
    def getter(self):
        return self.gate_slice(getattr(self, kind), gate)

    getter.__doc__ = f"``{kind}{gate}``: the {gate!r} block of ``{kind}`` (a view)."
    return property(getter)


for _gate in GATES:
    setattr(LSTMCell, f"W_x{_gate}", _named_block("W_x", _gate))
    setattr(LSTMCell, f"W_h{_gate}", _named_block("W_h", _gate))
    setattr(LSTMCell, f"b_{_gate}", _named_block("b", _gate))
