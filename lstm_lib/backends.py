"""Ways to run the LSTM recurrence over a whole sequence.

Every backend returns the same numbers; they differ only in how the backward
pass is produced:

- ``"autograd"``: a Python loop over :func:`lstm_lib.cell.lstm_step`;
  autograd records every step and differentiates it.
- ``"manual"``: the loops of :mod:`lstm_lib.manual_backward` inside one
  :class:`torch.autograd.Function` whose backward is written by hand, with
  the eager step kernels of :mod:`lstm_lib.step_kernels`.
- ``"compiled"``: the same loops with the step kernels that TorchInductor
  compiles on first use with each shape (:mod:`lstm_lib.compiled`).

``"manual"`` and ``"compiled"`` do their matrix products, the input projection
included, through :mod:`lstm_lib.matmul` (oneDNN on CPUs, as ``nn.LSTM`` does).
"""

from collections.abc import Callable
from typing import NamedTuple

import torch

from . import compiled, matmul
from .cell import LSTMCell, lstm_step
from .errors import UsageError
from .manual_backward import run_sequence
from .step_kernels import EAGER


class Backend(NamedTuple):
    """A named way to run a layer: ``input_projection(cell, X)`` turns
    ``(seq_len, batch, input)`` into ``X W_x + b`` ``(seq_len, batch, 4*hidden)``,
    and ``run(XW, H, C, W_h)`` walks the steps (as :func:`run_autograd`)."""

    name: str
    input_projection: Callable
    run: Callable


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


def run_manual(XW, H, C, W_h):
    """The hand-written backward with the eager step kernels; as :func:`run_autograd`."""
    return run_sequence(XW, H, C, W_h, EAGER)


def run_compiled(XW, H, C, W_h):
    """The hand-written backward with the compiled step kernels; as :func:`run_autograd`.

    Raises:
        UsageError: when TorchInductor cannot compile here.
    """
    return run_sequence(XW, H, C, W_h, compiled.compiled_kernels_for(H))


def onednn_projection(cell, X):
    """``X W_x + b`` whose product and gradient products use oneDNN where that pays."""
    return matmul.linear(X, cell.W_x, cell.b)


BACKENDS = {
    backend.name: backend
    for backend in (
        Backend("autograd", LSTMCell.input_projection, run_autograd),
        Backend("compiled", onednn_projection, run_compiled),
        Backend("manual", onednn_projection, run_manual),
    )
}


def get_backend(name: str) -> Backend:
    """The backend called ``name``; a clear error for unknown names."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise UsageError(
            f"unknown backend {name!r}; choose one of: {', '.join(sorted(BACKENDS))}", "backend"
        ) from None
