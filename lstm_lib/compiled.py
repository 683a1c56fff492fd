"""The step kernels compiled by TorchInductor, the compiler behind ``torch.compile``.

The eager kernels of :mod:`lstm_lib.step_kernels` do a step's elementwise work
in about a dozen small operations each way (σ, tanh, products, sums), each a
separate pass over memory with its own fixed cost. Here TorchInductor turns
the same equations into one generated kernel per step forward (the addition of
X_t W_x + b to the recurrent product, the gates, C_t, tanh(C_t), H_t) and one
per step backward (dH_t from its two parts, dA_t written into the loop's
``dA``, and dC_{t-1}); the matrix products and the sequence loops of
:mod:`lstm_lib.manual_backward` stay as they are.

Each kernel is compiled for one (batch, hidden, dtype, device): the step
function is traced into a graph (``make_fx``) on zeros of those shapes and the
graph is handed to ``torch._inductor.compile``. ``torch.compile`` would do the
same from the Python source, but every call of a ``torch.compile``'d function
first checks its guards and goes through autograd's wrappers, and the kernels
are called 200 times per training step of the book's model. For a trivial
kernel that fixed cost was 21.7 µs a call through ``torch.compile`` against
5.2 µs called directly, on a 2-core AMD EPYC; chapter 13 measures it for the
step's own kernel. The price is that nothing guards the inputs: the kernels
are handed contiguous tensors of exactly the shapes they were compiled for,
which the sequence loops guarantee.

Compiling takes seconds the first time a shape is seen in a process (less when
TorchInductor's on-disk cache has it); a C++ compiler is needed on the CPU
(Triton on a GPU).
"""

import getpass
import os
import tempfile
import time

import torch

from .errors import UsageError
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


def step_backward_into(dH_next, d_out, dC, gates, tanh_C, C_prev, dA):
    """:func:`step_backward` that writes dA_t into ``dA`` and returns dC_{t-1}:
    the signature of :class:`~lstm_lib.step_kernels.StepKernels`' ``backward``.
    Compiled, the generated kernel writes straight into ``dA``."""
    dA_t, dC_prev = step_backward(dH_next, d_out, dC, gates, tanh_C, C_prev)
    dA.copy_(dA_t)
    return dC_prev


_compiled = {}  # _shape_key(H) -> StepKernels


def _shape_key(H):
    """``(batch, hidden, dtype, device)`` of a state ``H``: what a compiled kernel is specialized to."""
    return (*H.shape, H.dtype, H.device)


def _keep_capped_kernels_apart() -> None:
    """Give each ``ATEN_CPU_CAPABILITY`` its own TorchInductor disk cache.

    The cache (PyTorch 2.13) does not tell kernels built under different values
    of that variable apart: a kernel cached by an uncapped run gave wrong numbers
    (a loss of 4e34) in a run capped to AVX2. Unless ``TORCHINDUCTOR_CACHE_DIR``
    names a folder already, a capped process uses one named after its capability.
    Called when this module is imported: the folder must be chosen before anything
    in the process (``torch.optim`` included) first asks TorchInductor for it."""
    capability = os.environ.get("ATEN_CPU_CAPABILITY")
    if capability and not os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        folder = f"torchinductor_{getpass.getuser()}_{capability.lower()}"
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), folder)


_keep_capped_kernels_apart()


def _compile_graph(function, example_inputs):
    """``function`` traced on ``example_inputs`` and compiled by TorchInductor, for
    inputs of exactly their shapes, dtypes and device."""
    import torch._inductor  # imported here: it takes seconds, and only this backend needs it
    from torch.fx.experimental.proxy_tensor import make_fx

    graph = make_fx(function)(*example_inputs)
    return torch._inductor.compile(graph, list(example_inputs))


def _compile_kernels(batch, hidden, dtype, device) -> StepKernels:
    """Both step kernels compiled for a ``(batch, hidden)`` state."""

    def zeros(*widths):  # one distinct tensor per argument: the tracer tells inputs apart by identity
        return [torch.zeros(batch, width * hidden, dtype=dtype, device=device) for width in widths]

    forward = _compile_graph(step_forward, zeros(4, 4, 1))  # HW, XW_t, C_prev
    backward = _compile_graph(step_backward_into, zeros(1, 1, 1, 4, 1, 1, 4))  # dH_next ... dA
    return StepKernels(forward, backward)


def _compile_errors():
    """Exception types that mean "compilation is unavailable here" (and not a
    mistake in the inputs, which should surface as it is)."""
    errors = [OSError, ImportError]  # ImportError: a PyTorch without TorchInductor
    try:
        from torch._inductor.exc import CppCompileError

        errors.append(CppCompileError)
        from torch._dynamo.exc import BackendCompilerFailed

        errors.append(BackendCompilerFailed)
    except ImportError:  # pragma: no cover - older or stripped-down PyTorch
        pass
    return tuple(errors)


def compiled_kernels_for(H) -> StepKernels:
    """The step kernels compiled for the shape, dtype and device of the state
    ``H`` ``(batch, hidden)``: compiled on the first call with each, then kept.

    Raises:
        UsageError: when TorchInductor cannot compile here (no C++ compiler,
            unsupported Python or platform); the message names the eager
            alternatives.
    """
    key = _shape_key(H)
    kernels = _compiled.get(key)
    if kernels is None:
        try:
            kernels = _compile_kernels(*key)
        except _compile_errors() as error:
            raise UsageError(
                "TorchInductor could not compile the LSTM step on this machine "
                f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                "choose the backend manual (the same without compiled kernels) or autograd",
                "backend",
            ) from error
        _compiled[key] = kernels
    return kernels


def compile_for(batch, hidden, dtype=torch.float32, device="cpu") -> float:
    """Compile the kernels for a ``(batch, hidden)`` state now, rather than in the
    first training step; returns the seconds it took (0 when already compiled).
    Raises :class:`UsageError` as :func:`compiled_kernels_for` does."""
    H = torch.zeros(batch, hidden, dtype=dtype, device=torch.device(device))
    if _shape_key(H) in _compiled:
        return 0.0
    start = time.perf_counter()
    compiled_kernels_for(H)
    return time.perf_counter() - start
