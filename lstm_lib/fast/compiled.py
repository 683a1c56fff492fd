"""The step kernels compiled by TorchInductor, the compiler behind ``torch.compile``.

The eager kernels of :mod:`lstm_lib.fast.step_kernels` do a step's elementwise work
in about a dozen small operations each way (σ, tanh, products, sums), each a
separate pass over memory with its own fixed cost. Here TorchInductor turns
the same equations into one generated kernel per step forward (the addition of
X_t W_x + b to the recurrent product, the gates, C_t, tanh(C_t), H_t) and one
per step backward (dH_t from its two parts, dA_t written into the loop's
``dA``, and dC_{t-1}); the matrix products and the sequence loops of
:mod:`lstm_lib.backward` stay as they are.

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

import time

import torch

from .. import backward
from ..backward import StepKernels
from ..errors import UsageError


def tanh_via_sigmoid(x):
    """tanh(x) = 2σ(2x) - 1 exactly, and σ is the faster kernel on CPUs (see
    :mod:`lstm_lib.fast.step_kernels`)."""
    return 2 * torch.sigmoid(2 * x) - 1


def step_forward(HW, XW_t, C_prev):
    """The step's elementwise forward that is compiled: :func:`lstm_lib.backward.step_forward`
    with tanh computed through σ."""
    return backward.step_forward(HW, XW_t, C_prev, tanh=tanh_via_sigmoid)


_compiled = {}  # _shape_key(H) -> StepKernels


def _shape_key(H):
    """``(batch, hidden, dtype, device)`` of a state ``H``: what a compiled kernel is specialized to."""
    return (*H.shape, H.dtype, H.device)


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

    return StepKernels(
        _compile_graph(step_forward, zeros(4, 4, 1)),  # HW, XW_t, C_prev
        _compile_graph(backward.step_backward_into, zeros(1, 1, 1, 4, 1, 1, 4)),  # dH_next ... dA
    )


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
