"""Ways to run the LSTM recurrence over a whole sequence.

Every backend takes the precomputed input projection and returns the same
numbers; they differ only in how the backward pass is produced:

- ``"autograd"``: a Python loop over :func:`lstm_lib.cell.lstm_step`;
  autograd records every step and differentiates it.
- ``"manual"``: the same loop inside one :class:`torch.autograd.Function` whose
  backward is written by hand (:mod:`lstm_lib.manual_backward`): the gate
  math in few in-place operations (tanh through σ, its faster relative), and
  dW_h as one product over all ``seq_len * batch`` rows.
- ``"compiled"``: the hand-written backward again, with each step's
  elementwise work (forward and backward) done by a kernel that
  ``torch.compile`` generates on first use (:mod:`lstm_lib.compiled`).

``"manual"`` and ``"compiled"`` do their per-step matrix products through
:mod:`lstm_lib.matmul` (oneDNN on CPUs, as ``nn.LSTM`` does).
"""

import torch

from .cell import lstm_step
from .compiled import run_compiled
from .errors import UsageError
from .manual_backward import run_manual


def run_autograd(XW, H, C, W_h):
    """Walk the time steps with a Python loop.

    Args:
        XW: ``(seq_len, batch, 4*hidden)``, ``X_t W_x + b`` for every step.
        H, C: ``(batch, hidden)``, the initial state.
        W_h: ``(hidden, 4*hidden)``.

    Returns:
        ``(outputs, H_T, C_T)`` with outputs ``(seq_len, batch, hidden)``.
    """
    outputs = []
    # unbind(0) hands out every step in one call; XW[t] would add one indexing
    # node per step, and its backward would cost O(seq_len²).
    for XW_t in XW.unbind(0):
        H, C, _ = lstm_step(XW_t, H, C, W_h)
        outputs.append(H)
    return torch.stack(outputs), H, C


BACKENDS = {"autograd": run_autograd, "compiled": run_compiled, "manual": run_manual}


def get_backend(name: str):
    """The sequence runner called ``name``; a clear error for unknown names."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; choose one of: {', '.join(sorted(BACKENDS))}") from None
