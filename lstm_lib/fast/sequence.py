"""The whole sequence as one autograd node whose backward is written by hand.

The loops of :mod:`lstm_lib.backward` walk the steps each way; here they run
with the step kernels they are handed (eager or compiled) and with the products
of :mod:`lstm_lib.fast.matmul` (oneDNN on CPUs), and the weight gradient of all
steps is one product:

    dW_h = [H_0; …; H_{T-1}]ᵀ [dA_1; …; dA_T]
    d(XW) = dA                                            (one ``(T, batch, 4*hidden)`` tensor)

``d(XW)`` is handed back to autograd, which finishes dW_x, db and dX through the
input projection ``X W_x + b`` with its own large products. Each step's gates,
C_t and tanh(C_t) are new tensors kept in lists, not slices of one
``(T, batch, ·)`` buffer: nothing is copied into a large buffer that is no
longer in cache.
"""

import torch
from torch.autograd.function import once_differentiable

from ..backward import backward_sequence, forward_sequence
from .matmul import FixedWeightProduct, summed_outer_products


class LSTMSequence(torch.autograd.Function):
    """The whole sequence as one autograd node, with the backward above.

    ``apply(XW, H0, C0, W_h, kernels) -> (outputs (T, batch, hidden), H_T, C_T)``,
    with ``kernels`` as for :func:`lstm_lib.backward.forward_sequence`.
    """

    @staticmethod
    def forward(ctx, XW, H0, C0, W_h, kernels):
        XW, H0, C0, W_h = (t.contiguous() for t in (XW, H0, C0, W_h))
        H_all, C_T, (C_prev, gates, tanh_C) = forward_sequence(
            XW, H0, C0, W_h, kernels, product=FixedWeightProduct
        )
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
            d_outputs.contiguous(),
            dH_T,
            dC_T,
            W_h,
            C_prev,
            gates,
            tanh_C,
            ctx.kernels,
            need_dH0=need_H0,
            product=FixedWeightProduct,
        )
        dW_h = None
        if need_W_h:  # one (hidden, T*batch) @ (T*batch, 4*hidden) product for all steps
            dW_h = summed_outer_products(H_all[:-1].flatten(0, 1), dA.flatten(0, 1))
        return (dA if need_XW else None), dH0, (dC0 if need_C0 else None), dW_h, None


def run_sequence(XW, H, C, W_h, kernels):
    """The recurrence with the hand-written backward of :class:`LSTMSequence`.

    Args and returns as for :func:`lstm_lib.fast.backends.run_autograd`, with
    ``kernels`` as for :func:`forward_sequence`. Without gradients
    (``torch.no_grad()`` or no input requiring grad) it runs the forward loop
    alone, keeping no per-step activations.
    """
    if torch.is_grad_enabled() and any(t.requires_grad for t in (XW, H, C, W_h)):
        return LSTMSequence.apply(XW, H, C, W_h, kernels)
    H_all, C_T, _ = forward_sequence(
        XW.contiguous(), H, C, W_h.contiguous(), kernels, keep_activations=False, product=FixedWeightProduct
    )
    return H_all[1:], H_all[-1], C_T
