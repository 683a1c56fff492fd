"""The backends that run a layer with the hand-written backward (chapters 12-13).

Both return the numbers of :meth:`lstm_lib.layer.LSTMLayer.forward`'s loop
(``"autograd"``); they differ in how the backward pass is produced:

- ``"manual"``: the loops of :mod:`lstm_lib.backward` inside one
  :class:`torch.autograd.Function` whose backward is written by hand
  (:mod:`lstm_lib.fast.sequence`), with the eager step kernels of
  :mod:`lstm_lib.fast.step_kernels`;
- ``"compiled"``: the same loops with the step kernels that TorchInductor
  compiles on first use with each shape (:mod:`lstm_lib.fast.compiled`).

Both do their matrix products, the input projection included, through
:mod:`lstm_lib.fast.matmul` (oneDNN on CPUs, as ``nn.LSTM`` does).
"""

from ..layer import Backend, register_backend
from . import compiled, matmul
from .sequence import run_sequence
from .step_kernels import EAGER


def run_manual(XW, H, C, W_h):
    """The hand-written backward with the eager step kernels.

    Args:
        XW: ``(seq_len, batch, 4*hidden)``, ``X_t W_x + b`` for every step.
        H, C: ``(batch, hidden)``, the initial state.
        W_h: ``(hidden, 4*hidden)``.

    Returns:
        ``(outputs, H_T, C_T)`` with outputs ``(seq_len, batch, hidden)``.
    """
    return run_sequence(XW, H, C, W_h, EAGER)


def run_compiled(XW, H, C, W_h):
    """The hand-written backward with the compiled step kernels; as :func:`run_manual`.

    Raises:
        UsageError: when TorchInductor cannot compile here.
    """
    return run_sequence(XW, H, C, W_h, compiled.compiled_kernels_for(H))


def onednn_projection(cell, X):
    """``X W_x + b`` whose product and gradient products use oneDNN where that pays."""
    return matmul.linear(X, cell.W_x, cell.b)


MANUAL = Backend("manual", onednn_projection, run_manual)
COMPILED = Backend("compiled", onednn_projection, run_compiled)
for _backend in (MANUAL, COMPILED):
    register_backend(_backend)
