"""The step kernels compiled by ``torch.compile``.

The eager kernels of :mod:`lstm_lib.step_kernels` do a step's elementwise work
in about a dozen small operations each way (σ, tanh, products, sums), each a
separate pass over memory with its own fixed cost. Here ``torch.compile`` turns
the same equations into one generated kernel per step forward (the addition of
X_t W_x + b to the recurrent product, the gates, C_t, tanh(C_t), H_t) and one
per step backward (dH_t from its two parts, dA_t and dC_{t-1}); the matrix
products and the sequence loops of :mod:`lstm_lib.manual_backward` stay as
they are.

The functions compiled here are written out of place: a compiled function
that writes into slices of a larger tensor itself ran up to 20× slower (1.4 ms
against 70 µs per call at hidden 384), so the backward kernel returns dA_t and
a small wrapper copies it into the loop's ``dA``.

``fullgraph=True``: each step function must become a single graph;
``dynamic=False``: shapes are specialized, so a new (batch, hidden, dtype,
device) compiles again (which is why the trainer can drop the short last window
with ``TrainConfig.drop_last``). Compilation happens on the first call with each
shape and takes seconds; a C++ compiler is needed on the CPU (Triton on a GPU).
"""

import getpass
import os
import tempfile
import time

import torch

from .errors import UsageError
from .manual_backward import backward_sequence, forward_sequence
from .step_kernels import StepKernels


def _tanh(x):
    # tanh(x) = 2σ(2x) - 1 exactly, and σ is the faster kernel on CPUs (see
    # lstm_lib.step_kernels).
    return 2 * torch.sigmoid(2 * x) - 1


def step_forward(HW, XW_t, C_prev):
    """One step's elementwise forward, out of place (the signature of
    :class:`~lstm_lib.step_kernels.StepKernels`' ``forward``)."""
    hidden = C_prev.shape[1]
    A = HW + XW_t  # A_t = X_t W_x + b + H_{t-1} W_h
    IFO = torch.sigmoid(A[:, : 3 * hidden])  # I_t, F_t, O_t = σ(A^i_t), σ(A^f_t), σ(A^o_t)
    C_tilde = _tanh(A[:, 3 * hidden :])  # C̃_t = tanh(A^c_t)
    I, F, O = IFO.split(hidden, dim=1)
    C = F * C_prev + I * C_tilde  # C_t = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t
    tanh_C = _tanh(C)
    H = O * tanh_C  # H_t = O_t ⊙ tanh(C_t)
    return torch.cat([IFO, C_tilde], dim=1), C, tanh_C, H


def step_backward(dH_next, d_out, dC, gates, tanh_C, C_prev):
    """One step's elementwise backward, out of place: returns ``(dA_t, dC_{t-1})``
    (arguments as for :class:`~lstm_lib.step_kernels.StepKernels`' ``backward``)."""
    hidden = C_prev.shape[1]
    I, F, O, C_tilde = gates.split(hidden, dim=1)
    dH = dH_next + d_out  # dH_t = ∂L/∂output_t + dA_{t+1} W_hᵀ
    dO = dH * tanh_C  # dO_t = dH_t ⊙ tanh(C_t)
    dC = dC + dH * O * (1 - tanh_C * tanh_C)  # dC_t += dH_t ⊙ O_t ⊙ (1 - tanh²(C_t))
    dI = dC * C_tilde  # dI_t = dC_t ⊙ C̃_t
    dF = dC * C_prev  # dF_t = dC_t ⊙ C_{t-1}
    dC_tilde = dC * I  # dC̃_t = dC_t ⊙ I_t
    dA = torch.cat(
        [
            dI * I * (1 - I),  # dA^i_t = dI_t ⊙ I_t ⊙ (1 - I_t)
            dF * F * (1 - F),  # dA^f_t = dF_t ⊙ F_t ⊙ (1 - F_t)
            dO * O * (1 - O),  # dA^o_t = dO_t ⊙ O_t ⊙ (1 - O_t)
            dC_tilde * (1 - C_tilde * C_tilde),  # dA^c_t = dC̃_t ⊙ (1 - C̃_t²)
        ],
        dim=1,
    )
    return dA, dC * F  # dC_{t-1} = dC_t ⊙ F_t


_kernels = None
_compiled_for = {}  # (batch, hidden, dtype, device) already compiled -> seconds it took


def _keep_capped_kernels_apart() -> None:
    """Give each ``ATEN_CPU_CAPABILITY`` its own ``torch.compile`` disk cache.

    The cache (PyTorch 2.13) does not tell kernels built under different values
    of that variable apart: a kernel cached by an uncapped run gave wrong numbers
    (a loss of 4e34) in a run capped to AVX2. Unless ``TORCHINDUCTOR_CACHE_DIR``
    names a folder already, a capped process uses one named after its capability.
    Called when this module is imported: the folder must be chosen before anything
    in the process (``torch.optim`` included) first asks ``torch.compile`` for it."""
    capability = os.environ.get("ATEN_CPU_CAPABILITY")
    if capability and not os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        folder = f"torchinductor_{getpass.getuser()}_{capability.lower()}"
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), folder)


_keep_capped_kernels_apart()


def compiled_kernels() -> StepKernels:
    """The compiled step kernels, built on first use and shared by every layer.

    Compilation itself happens on each kernel's first call with a new shape."""
    global _kernels
    if _kernels is None:
        if not hasattr(torch, "compile"):
            raise UsageError("this PyTorch has no torch.compile; choose the backend manual", "backend")
        forward = torch.compile(step_forward, fullgraph=True, dynamic=False)
        backward = torch.compile(step_backward, fullgraph=True, dynamic=False)

        def backward_into(dH_next, d_out, dC, gates, tanh_C, C_prev, dA):
            dA_t, dC_prev = backward(dH_next, d_out, dC, gates, tanh_C, C_prev)
            dA.copy_(dA_t)
            return dC_prev

        _kernels = StepKernels(forward, backward_into)
    return _kernels


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


def _compile_now(H, kernels):
    """Compile both kernels for H's shape by running two steps on zeros, so
    that a machine that cannot compile fails here, not in the middle of
    ``loss.backward()``."""
    key = (*H.shape, H.dtype, H.device)
    if key in _compiled_for:
        return
    start = time.perf_counter()
    batch, hidden = H.shape
    XW = H.new_zeros(2, batch, 4 * hidden)
    W_h = H.new_zeros(hidden, 4 * hidden)
    zeros = H.new_zeros(H.shape)  # only read: the initial state, then the final state's gradients
    with torch.no_grad():
        H_all, _, (C_prev, gates, tanh_C) = forward_sequence(XW, zeros, zeros, W_h, kernels)
        backward_sequence(H_all[1:], zeros, zeros, W_h, C_prev, gates, tanh_C, kernels)
    _compiled_for[key] = time.perf_counter() - start


def compiled_kernels_for(H) -> StepKernels:
    """The compiled kernels, compiled already for the shape, dtype and device of
    the state ``H`` ``(batch, hidden)``.

    Raises:
        UsageError: when ``torch.compile`` cannot compile here (no C++ compiler,
            unsupported Python or platform); the message names the eager
            alternatives.
    """
    try:
        kernels = compiled_kernels()
        _compile_now(H, kernels)
    except _compile_errors() as error:
        raise UsageError(
            "torch.compile could not compile the LSTM step on this machine "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
            "choose the backend manual (the same without compiled kernels) or autograd",
            "backend",
        ) from error
    return kernels


def compile_for(batch, hidden, dtype=torch.float32, device="cpu") -> float:
    """Compile the kernels for a ``(batch, hidden)`` state now, rather than in the
    first training step; returns the seconds it took (0 when already compiled).
    Raises :class:`UsageError` as :func:`compiled_kernels_for` does."""
    H = torch.zeros(batch, hidden, dtype=dtype, device=device)
    key = (*H.shape, H.dtype, H.device)
    before = _compiled_for.get(key)
    compiled_kernels_for(H)
    return 0.0 if before is not None else _compiled_for[key]
