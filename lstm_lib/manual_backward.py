"""The LSTM's backward pass through time, written by hand: one loop each way.

Walking t = T … 1 with dH = ∂L/∂H_t (from the output and from step t+1) and
dC = ∂L/∂C_t (from step t+1), each step of the backward pass does

    dO_t  = dH ⊙ tanh(C_t)
    dC   += dH ⊙ O_t ⊙ (1 - tanh²(C_t))
    dI_t  = dC ⊙ C̃_t,   dF_t = dC ⊙ C_{t-1},   dC̃_t = dC ⊙ I_t
    dA_t  = [dI_t ⊙ I_t(1-I_t) | dF_t ⊙ F_t(1-F_t) | dO_t ⊙ O_t(1-O_t) | dC̃_t ⊙ (1-C̃_t²)]
    dC_{t-1} = dC ⊙ F_t
    dH_{t-1} = dA_t W_hᵀ + ∂L/∂(output_{t-1})

and, once for the whole sequence, with every step's rows stacked into ``(T*batch, ·)``:

    dW_h = [H_0; …; H_{T-1}]ᵀ [dA_1; …; dA_T]
    d(XW) = dA                                            (one ``(T, batch, 4*hidden)`` tensor)

``d(XW)`` is handed back to autograd, which finishes dW_x, db and dX through the
input projection ``X W_x + b`` with its own large products.

The loops below do each step's matrix product (H_{t-1} W_h forward,
dA_t W_hᵀ backward, through :mod:`lstm_lib.matmul`) and leave the elementwise
equations to a :class:`~lstm_lib.step_kernels.StepKernels` value: the eager
kernels of :mod:`lstm_lib.step_kernels` or the compiled ones of
:mod:`lstm_lib.compiled`. Each step's gates, C_t and tanh(C_t) are new tensors
kept in lists, not slices of one ``(T, batch, ·)`` buffer: nothing is copied
into a large buffer that is no longer in cache.
"""

import torch
from torch.autograd.function import once_differentiable

from .matmul import FixedWeightProduct, summed_outer_products


def forward_sequence(XW, H0, C0, W_h, kernels, keep_activations=True):
    """Run the recurrence without autograd.

    Args:
        XW: ``(T, batch, 4*hidden)``, ``X_t W_x + b`` for every step.
        H0, C0: ``(batch, hidden)``.
        W_h: ``(hidden, 4*hidden)``.
        kernels: the :class:`~lstm_lib.step_kernels.StepKernels` of each step.
        keep_activations: keep what the backward pass needs; False for inference.

    Returns:
        ``(H_all, C_T, saved)``: ``H_all`` is ``(T+1, batch, hidden)`` with H_0
        in row 0, ``C_T`` is ``(batch, hidden)``; ``saved`` is
        ``(C_prev, gates, tanh_C)``, three lists with one tensor per step:
        C_{t-1} ``(batch, hidden)``, ``[I_t | F_t | O_t | C̃_t]``
        ``(batch, 4*hidden)`` and tanh(C_t) ``(batch, hidden)`` (empty lists when
        ``keep_activations`` is False).
    """
    recurrent_product = FixedWeightProduct(W_h, XW.shape[1])
    # Detached and contiguous, C_0 is a plain tensor like every later C_t (what
    # the compiled kernels of lstm_lib.compiled are compiled for).
    H, C = H0, C0.detach().contiguous()
    H_steps = [H0]
    saved = ([], [], [])
    for XW_t in XW.detach().unbind(0):
        gates, C_next, tanh_C, H = kernels.forward(recurrent_product(H), XW_t, C)
        if keep_activations:
            for kept, value in zip(saved, (C, gates, tanh_C)):
                kept.append(value)
        H_steps.append(H)
        C = C_next
    return torch.stack(H_steps), C, saved


def backward_sequence(d_outputs, dH_T, dC_T, W_h, C_prev, gates, tanh_C, kernels, need_dH0=True):
    """Backpropagate through every step; the inverse of :func:`forward_sequence`.

    Args:
        d_outputs: ``(T, batch, hidden)``, ∂L/∂H_t from above (the outputs).
        dH_T, dC_T: ``(batch, hidden)``, gradients of the final state.
        W_h: ``(hidden, 4*hidden)``.
        C_prev, gates, tanh_C: per step, as saved by :func:`forward_sequence`
            (lists, or ``(T, batch, ·)`` tensors).
        kernels: the :class:`~lstm_lib.step_kernels.StepKernels` of each step.
        need_dH0: False skips the last ``dA_1 W_hᵀ`` product.

    Returns:
        ``(dA, dH0, dC0)``: ``dA`` is ``(T, batch, 4*hidden)``, the gradient of
        every step's gate pre-activations (which is also ∂L/∂XW), and
        ``dH0``, ``dC0`` are ``(batch, hidden)`` (``dH0`` None when not needed).
    """
    T, batch, hidden = d_outputs.shape
    recurrent_product = FixedWeightProduct(W_h.t(), batch)
    dA_all = d_outputs.new_empty(T, batch, 4 * hidden)
    dH_next = dH_T.contiguous()  # the part of ∂L/∂H_t through step t+1 (autograd may pass it expanded)
    dC = dC_T.clone(memory_format=torch.contiguous_format)  # a kernel may overwrite it
    steps = zip(range(T - 1, -1, -1), reversed(d_outputs.unbind(0)), reversed(dA_all.unbind(0)))
    for t, d_out, dA in steps:
        dC = kernels.backward(dH_next, d_out, dC, gates[t], tanh_C[t], C_prev[t], dA)
        if t > 0 or need_dH0:
            dH_next = recurrent_product(dA)  # dA_t W_hᵀ, the part of dH_{t-1} through step t
    return dA_all, (dH_next if need_dH0 else None), dC


class LSTMSequence(torch.autograd.Function):
    """The whole sequence as one autograd node, with the backward above.

    ``apply(XW, H0, C0, W_h, kernels) -> (outputs (T, batch, hidden), H_T, C_T)``,
    with ``kernels`` as for :func:`forward_sequence`.
    """

    @staticmethod
    def forward(ctx, XW, H0, C0, W_h, kernels):
        XW, H0, C0, W_h = (t.contiguous() for t in (XW, H0, C0, W_h))
        H_all, C_T, (C_prev, gates, tanh_C) = forward_sequence(XW, H0, C0, W_h, kernels)
        ctx.save_for_backward(W_h, H_all, *C_prev, *gates, *tanh_C)
        ctx.kernels = kernels
        return H_all[1:], H_all[-1], C_T

    @staticmethod
    @once_differentiable
    def backward(ctx, d_outputs, dH_T, dC_T):
        W_h, H_all, *per_step = ctx.saved_tensors
        T = H_all.shape[0] - 1
        C_prev, gates, tanh_C = per_step[:T], per_step[T : 2 * T], per_step[2 * T :]
        need_XW, need_H0, need_C0, need_W_h = ctx.needs_input_grad[:4]
        dA, dH0, dC0 = backward_sequence(
            d_outputs.contiguous(), dH_T, dC_T, W_h, C_prev, gates, tanh_C, ctx.kernels, need_dH0=need_H0
        )
        dW_h = None
        if need_W_h:  # one (hidden, T*batch) @ (T*batch, 4*hidden) product for all steps
            dW_h = summed_outer_products(H_all[:-1].flatten(0, 1), dA.flatten(0, 1))
        return (dA if need_XW else None), dH0, (dC0 if need_C0 else None), dW_h, None


def run_sequence(XW, H, C, W_h, kernels):
    """The recurrence with the hand-written backward of :class:`LSTMSequence`.

    Args and returns as for :func:`lstm_lib.backends.run_autograd`, with
    ``kernels`` as for :func:`forward_sequence`. Without gradients
    (``torch.no_grad()`` or no input requiring grad) it runs the forward loop
    alone, keeping no per-step activations.
    """
    if torch.is_grad_enabled() and any(t.requires_grad for t in (XW, H, C, W_h)):
        return LSTMSequence.apply(XW, H, C, W_h, kernels)
    H_all, C_T, _ = forward_sequence(XW.contiguous(), H, C, W_h.contiguous(), kernels, keep_activations=False)
    return H_all[1:], H_all[-1], C_T
