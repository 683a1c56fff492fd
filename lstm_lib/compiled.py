"""The LSTM step compiled with ``torch.compile``; the time loop stays in Python.

``torch.compile`` traces :func:`lstm_lib.cell.lstm_step` once per input shape
(``fullgraph=True``: the whole step must become one graph, ``dynamic=False``:
shapes are specialized, which is why the trainer can drop the short last
window with ``TrainConfig.drop_last``) and generates one fused kernel for the
gate arithmetic of the forward step and one for its backward, instead of the
dozen small operations eager PyTorch runs. Compilation happens lazily, on the
first call with each new shape, and takes seconds; a C++ compiler is needed on
the CPU (Triton on a GPU).
"""

import torch

from .cell import lstm_step
from .errors import UsageError

_compiled_step = None


def _step(XW_t, H_prev, C_prev, W_h):
    """:func:`lstm_step` without the gate tuple, so that only (H_t, C_t) leave the kernel."""
    H, C, _ = lstm_step(XW_t, H_prev, C_prev, W_h)
    return H, C


def compiled_step():
    """The compiled step, built on first use and shared by every layer."""
    global _compiled_step
    if _compiled_step is None:
        if not hasattr(torch, "compile"):
            raise UsageError("this PyTorch has no torch.compile; use --backend manual")
        _compiled_step = torch.compile(_step, fullgraph=True, dynamic=False)
    return _compiled_step


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


def run_compiled(XW, H, C, W_h):
    """Walk the time steps in Python, each step one call of the compiled cell.

    Args and returns as for :func:`lstm_lib.backends.run_autograd`.

    Raises:
        UsageError: when ``torch.compile`` cannot compile here (no C++ compiler,
            unsupported Python or platform); the message names the eager
            alternatives.
    """
    step = compiled_step()
    steps = XW.unbind(0)
    try:
        H, C = step(steps[0], H, C, W_h)  # the call that may compile
    except _compile_errors() as error:
        raise UsageError(
            "torch.compile could not compile the LSTM step on this machine "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
            "use --backend manual (as fast without a compiler) or --backend autograd"
        ) from error
    outputs = [H]
    for XW_t in steps[1:]:
        H, C = step(XW_t, H, C, W_h)
        outputs.append(H)
    return torch.stack(outputs), H, C
