"""One LSTM step's elementwise work, forward and backward, as a value.

A :class:`StepKernels` is a pair of functions that the sequence loops of
:mod:`lstm_lib.backward` call once per step, around the step's one
matrix product. :data:`EAGER` holds the plain PyTorch kernels below;
:func:`lstm_lib.fast.compiled.compiled_kernels_for` returns the same arithmetic
compiled by TorchInductor. Both kinds take and return the same tensors, all of
them contiguous (the compiled kernels are compiled for exactly that layout):

``forward(HW, XW_t, C_prev) -> (gates, C_t, tanh(C_t), H_t)``
    ``HW`` ``(batch, 4*hidden)`` is the fresh recurrent product H_{t-1} W_h
    (the kernel may overwrite it), ``XW_t`` ``(batch, 4*hidden)`` is
    X_t W_x + b and ``C_prev`` ``(batch, hidden)`` is C_{t-1}. ``gates`` is
    ``(batch, 4*hidden)``, ``[I_t | F_t | O_t | C̃_t]``; the others are
    ``(batch, hidden)``.

``backward(dH_next, d_out, dC, gates, tanh_C, C_prev, dA) -> dC_prev``
    ``dH_next`` and ``d_out`` ``(batch, hidden)`` are the two parts of ∂L/∂H_t,
    through step t+1 (dA_{t+1} W_hᵀ) and from the output; ``dC`` ``(batch,
    hidden)`` is the part of ∂L/∂C_t from step t+1 (the kernel may overwrite
    it); ``gates``, ``tanh_C`` and ``C_prev`` are what ``forward`` saved. The
    kernel writes dA_t, the gradient of the pre-activations, into ``dA``
    ``(batch, 4*hidden)`` and returns ∂L/∂C_{t-1} ``(batch, hidden)``.

The pre-activations are A_t = X_t W_x + b + H_{t-1} W_h, split into the blocks
A^i_t, A^f_t, A^o_t, A^c_t in the order (i, f, o, c); the equations are those
of :mod:`lstm_lib.cell` and :mod:`lstm_lib.backward` (chapter 12).
"""

import torch

from ..backward import StepKernels

_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input  # g ⊙ y ⊙ (1 - y), one kernel
_tanh_backward = torch.ops.aten.tanh_backward.grad_input  # g ⊙ (1 - y²), one kernel

_minus_ones = {}


def _minus_one(like):
    """-1 as a 0-dimensional tensor of ``like``'s dtype and device, made once per
    kind (a Python number would be turned into a new tensor on every call)."""
    key = (like.dtype, like.device)
    value = _minus_ones.get(key)
    if value is None:
        value = _minus_ones[key] = like.new_full((), -1.0)
    return value


def _tanh_from_sigmoid_(s):
    """Turn ``s = σ(2x)`` into ``tanh(x) = 2s - 1`` in place, in one operation.

    tanh(x) = 2σ(2x) - 1 is an identity, and PyTorch's CPU ``torch.tanh`` ran
    ten times slower than ``torch.sigmoid`` where this was measured (2.5 against
    0.25 ns per float32 element, PyTorch 2.13 on an AVX-512 CPU)."""
    return torch.add(_minus_one(s), s, alpha=2, out=s)


def _tanh(x):
    """``tanh(x)`` as a new tensor, computed as 2σ(2x) - 1 (see :func:`_tanh_from_sigmoid_`)."""
    return _tanh_from_sigmoid_(torch.add(x, x).sigmoid_())


def _sigmoid_of_every_block_(A, hidden):
    """``[σ(A^i) | σ(A^f) | σ(A^o) | σ(2A^c)]`` written over ``A`` ``(batch, 4*hidden)``.

    One σ call covers all four blocks because the c block is doubled first
    (its σ(2x) becomes tanh(x) in one more operation). ``A`` is the product's
    fresh output, so the gates take its memory and nothing is copied."""
    C_block = A[:, 3 * hidden :]
    C_block.add_(C_block)
    return A.sigmoid_()


def eager_forward(HW, XW_t, C_prev):
    """One step's elementwise forward in plain PyTorch; the gates overwrite ``HW``."""
    hidden = C_prev.shape[1]
    A = HW.add_(XW_t)  # A_t = X_t W_x + b + H_{t-1} W_h
    gates = _sigmoid_of_every_block_(A, hidden)  # σ over [A^i_t | A^f_t | A^o_t | 2A^c_t]
    I, F, O, C_tilde = gates.split(hidden, dim=1)  # I_t = σ(A^i_t), F_t = σ(A^f_t), O_t = σ(A^o_t)
    _tanh_from_sigmoid_(C_tilde)  # C̃_t = tanh(A^c_t)
    C = torch.mul(F, C_prev).addcmul_(I, C_tilde)  # C_t = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t
    tanh_C = _tanh(C)
    H = torch.mul(O, tanh_C)  # H_t = O_t ⊙ tanh(C_t)
    return gates, C, tanh_C, H


def eager_backward(dH_next, d_out, dC, gates, tanh_C, C_prev, dA):
    """One step's elementwise backward in plain PyTorch; writes dA_t into ``dA``
    and returns dC_{t-1} in ``dC``'s memory."""
    hidden = C_prev.shape[1]
    I, F, O, C_tilde = gates.split(hidden, dim=1)
    dI, dF, dO, dC_tilde = dA.split(hidden, dim=1)
    dH = torch.add(dH_next, d_out)  # dH_t = ∂L/∂output_t + dA_{t+1} W_hᵀ
    torch.mul(dH, tanh_C, out=dO)  # dO_t = dH_t ⊙ tanh(C_t)
    dC.add_(_tanh_backward(dH.mul_(O), tanh_C, grad_input=dH))  # dC_t += dH_t ⊙ O_t ⊙ (1 - tanh²(C_t))
    torch.mul(dC, C_tilde, out=dI)  # dI_t = dC_t ⊙ C̃_t
    torch.mul(dC, C_prev, out=dF)  # dF_t = dC_t ⊙ C_{t-1}
    torch.mul(dC, I, out=dC_tilde)  # dC̃_t = dC_t ⊙ I_t
    # the [I | F | O] blocks are contiguous (the gate order i, f, o, c), so σ' is one call:
    dIFO, IFO = dA[:, : 3 * hidden], gates[:, : 3 * hidden]
    _sigmoid_backward(dIFO, IFO, grad_input=dIFO)  # dA^{i,f,o}_t = d[I|F|O]_t ⊙ [I|F|O]_t ⊙ (1 - [I|F|O]_t)
    _tanh_backward(dC_tilde, C_tilde, grad_input=dC_tilde)  # dA^c_t = dC̃_t ⊙ (1 - C̃_t²)
    return dC.mul_(F)  # dC_{t-1} = dC_t ⊙ F_t


EAGER = StepKernels(eager_forward, eager_backward)
"""The step kernels in plain PyTorch operations, most of them in place."""
