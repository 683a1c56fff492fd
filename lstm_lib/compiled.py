"""The hand-written backward with each step's elementwise work compiled by ``torch.compile``.

:mod:`lstm_lib.manual_backward` walks the sequence in Python with one matrix
product per step and, around it, about a dozen small elementwise operations
(σ, tanh, products, sums), each a separate pass over memory with its own fixed
cost. Here ``torch.compile`` turns that elementwise work into one generated
kernel per step forward (the addition of X_t W_x + b to the recurrent product,
gates, C_t, tanh(C_t), H_t) and one per step backward (dH_t from its two
parts, dA_t and dC_{t-1}); the matrix products, the Python time loop and the
one-product weight gradient stay as they are.

The kernels return new tensors, which the forward loop keeps as they are and
the backward loop copies into ``dA``: a compiled function that writes into
slices of a larger tensor itself ran up to 20× slower (1.4 ms against 70 µs
per call at hidden 384).

``fullgraph=True``: each step function must become a single graph;
``dynamic=False``: shapes are specialized, so a new (batch, hidden, dtype,
device) compiles again (which is why the trainer can drop the short last window
with ``TrainConfig.drop_last``). Compilation happens on the first call with each
shape and takes seconds; a C++ compiler is needed on the CPU (Triton on a GPU).
"""

from collections.abc import Callable
from typing import NamedTuple

import torch

from .errors import UsageError
from .manual_backward import backward_sequence, forward_sequence, run_manual


class FusedGates(NamedTuple):
    """The two compiled step kernels :func:`~lstm_lib.manual_backward.forward_sequence`
    and :func:`~lstm_lib.manual_backward.backward_sequence` call when given them."""

    forward: Callable
    backward: Callable


def _tanh(x):
    # tanh(x) = 2σ(2x) - 1 exactly, and σ is the faster kernel on CPUs (see
    # lstm_lib.manual_backward).
    return 2 * torch.sigmoid(2 * x) - 1


def gates_forward(HW, XW_t, C_prev):
    """One step's elementwise forward.

    Args:
        HW: ``(batch, 4*hidden)``, the recurrent product H_{t-1} W_h.
        XW_t: ``(batch, 4*hidden)``, X_t W_x + b.
        C_prev: ``(batch, hidden)``, C_{t-1}.

    Returns:
        ``(gates, C_t, tanh(C_t), H_t)``: gates is ``(batch, 4*hidden)``,
        ``[I_t | F_t | O_t | C̃_t]``; the others are ``(batch, hidden)``.
    """
    hidden = C_prev.shape[1]
    pre = HW + XW_t
    ifo = torch.sigmoid(pre[:, : 3 * hidden])
    C_tilde = _tanh(pre[:, 3 * hidden :])
    I, F, O = ifo.split(hidden, dim=1)
    C = F * C_prev + I * C_tilde
    tanh_C = _tanh(C)
    return torch.cat([ifo, C_tilde], dim=1), C, tanh_C, O * tanh_C


def gates_backward(dH_next, d_out, dC, gates, tanh_C, C_prev):
    """One step's elementwise backward (the equations in :mod:`lstm_lib.manual_backward`).

    Args:
        dH_next, d_out: ``(batch, hidden)``, the two parts of ∂L/∂H_t: through
            step t+1 (``dA_{t+1} W_hᵀ``) and from the output.
        dC: ``(batch, hidden)``, ∂L/∂C_t from step t+1.
        gates: ``(batch, 4*hidden)``, ``[I_t | F_t | O_t | C̃_t]``.
        tanh_C, C_prev: ``(batch, hidden)``, tanh(C_t) and C_{t-1}.

    Returns:
        ``(dA, dC_prev)``: ``(batch, 4*hidden)``, the gradient of the
        pre-activations, and ``(batch, hidden)``, ∂L/∂C_{t-1}.
    """
    hidden = C_prev.shape[1]
    I, F, O, C_tilde = gates.split(hidden, dim=1)
    dH = dH_next + d_out
    dO = dH * tanh_C
    dC = dC + dH * O * (1 - tanh_C * tanh_C)
    dI, dF, dC_tilde = dC * C_tilde, dC * C_prev, dC * I
    dA = torch.cat(
        [dI * I * (1 - I), dF * F * (1 - F), dO * O * (1 - O), dC_tilde * (1 - C_tilde * C_tilde)],
        dim=1,
    )
    return dA, dC * F


_fused_gates = None
_compiled_for = set()  # (batch, hidden, dtype, device) already compiled


def fused_gates() -> FusedGates:
    """The compiled kernels, built on first use and shared by every layer."""
    global _fused_gates
    if _fused_gates is None:
        if not hasattr(torch, "compile"):
            raise UsageError("this PyTorch has no torch.compile; use --backend manual")
        _fused_gates = FusedGates(
            torch.compile(gates_forward, fullgraph=True, dynamic=False),
            torch.compile(gates_backward, fullgraph=True, dynamic=False),
        )
    return _fused_gates


def _compile_errors():
    """Exception types that mean "compilation is unavailable here" (and not a
    mistake in the inputs, which should surface as it is)."""
    errors = [OSError]
    try:
        from torch._dynamo.exc import BackendCompilerFailed, Unsupported

        errors += [BackendCompilerFailed, Unsupported]
        from torch._inductor.exc import CppCompileError

        errors.append(CppCompileError)
    except ImportError:  # pragma: no cover - older or stripped-down PyTorch
        pass
    return tuple(errors)


def _compile_now(H, fused):
    """Compile both kernels for H's shape by running two steps on zeros, so
    that a machine that cannot compile fails here, not in the middle of
    ``loss.backward()``."""
    key = (*H.shape, H.dtype, H.device)
    if key in _compiled_for:
        return
    batch, hidden = H.shape
    XW = H.new_zeros(2, batch, 4 * hidden)
    W_h = H.new_zeros(hidden, 4 * hidden)
    zeros = H.new_zeros(H.shape)  # only read: the initial state, then the final state's gradients
    with torch.no_grad():
        H_all, _, (C_prev, gates, tanh_C) = forward_sequence(XW, zeros, zeros, W_h, fused=fused)
        backward_sequence(H_all[1:], zeros, zeros, W_h, C_prev, gates, tanh_C, fused=fused)
    _compiled_for.add(key)


def run_compiled(XW, H, C, W_h):
    """The hand-written forward and backward with compiled step kernels.

    Args and returns as for :func:`lstm_lib.backends.run_autograd`.

    Raises:
        UsageError: when ``torch.compile`` cannot compile here (no C++ compiler,
            unsupported Python or platform); the message names the eager
            alternatives.
    """
    try:
        fused = fused_gates()
        _compile_now(H, fused)
    except _compile_errors() as error:
        raise UsageError(
            "torch.compile could not compile the LSTM step on this machine "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
            "use --backend manual (the same without compiled kernels) or --backend autograd"
        ) from error
    return run_manual(XW, H, C, W_h, fused)
