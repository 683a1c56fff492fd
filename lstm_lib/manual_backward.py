"""The LSTM's backward pass through time, written by hand.

Forward, for every step t (rows are examples, gate blocks in the order i, f, o, c):

    A_t  = X_t W_x + b + H_{t-1} W_h                    (batch, 4*hidden)
    I_t, F_t, O_t = σ(A_t[i]), σ(A_t[f]), σ(A_t[o])     one sigmoid on the first 3H columns
    C̃_t  = tanh(A_t[c])
    C_t  = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t
    H_t  = O_t ⊙ tanh(C_t)

Backward, walking t = T … 1 with dH = ∂L/∂H_t (from the output and from step t+1)
and dC = ∂L/∂C_t (from step t+1):

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
"""

import torch
from torch.autograd.function import once_differentiable

from .matmul import FixedWeightProduct, summed_outer_products

_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input  # g ⊙ y ⊙ (1 - y), one kernel
_tanh_backward = torch.ops.aten.tanh_backward.grad_input  # g ⊙ (1 - y²), one kernel


def forward_sequence(XW, H0, C0, W_h, keep_activations=True, fused=None):
    """Run the recurrence into preallocated buffers, without autograd.

    Args:
        XW: ``(T, batch, 4*hidden)``, ``X_t W_x + b`` for every step.
        H0, C0: ``(batch, hidden)``.
        W_h: ``(hidden, 4*hidden)``.
        keep_activations: keep every step's gates and tanh(C_t) for the backward
            pass; False reuses one step's worth of scratch space (inference).
        fused: ``None`` for the eager operations below, or the compiled
            :class:`lstm_lib.compiled.FusedGates` that do a step's elementwise
            work in one kernel each way.

    Returns:
        ``(H_all, C_all, gates, tanh_C)``: ``H_all`` and ``C_all`` are
        ``(T+1, batch, hidden)`` with the initial state in row 0; ``gates`` is
        ``(T, batch, 4*hidden)`` holding I, F, O, C̃ and ``tanh_C`` is
        ``(T, batch, hidden)`` (both ``(1, …)`` scratch when not kept).
    """
    T, B, four_h = XW.shape
    Hd = four_h // 4
    H_all = XW.new_empty(T + 1, B, Hd)
    C_all = XW.new_empty(T + 1, B, Hd)
    H_all[0] = H0
    C_all[0] = C0
    steps_kept = T if keep_activations else 1
    gates = XW.new_empty(steps_kept, B, four_h)
    tanh_C = XW.new_empty(steps_kept, B, Hd)
    H_steps, C_steps = H_all.unbind(0), C_all.unbind(0)
    gate_steps, tanh_steps = gates.unbind(0), tanh_C.unbind(0)
    recurrent_product = FixedWeightProduct(W_h, B)
    for t, XW_t in enumerate(XW.unbind(0)):
        A = gate_steps[t if keep_activations else 0]
        tc = tanh_steps[t if keep_activations else 0]
        pre = recurrent_product(H_steps[t], XW_t)  # X_t W_x + b + H_{t-1} W_h
        if fused is not None:  # the compiled kernel does the rest of the step in one pass
            for buffer, value in zip((A, C_steps[t + 1], tc, H_steps[t + 1]), fused.forward(pre, C_steps[t])):
                buffer.copy_(value)
            continue
        # I, F, O are contiguous blocks: that is why the order is i, f, o, c.
        torch.sigmoid(pre[:, : 3 * Hd], out=A[:, : 3 * Hd])
        torch.tanh(pre[:, 3 * Hd :], out=A[:, 3 * Hd :])
        I, F, O, C_tilde = A.split(Hd, dim=1)
        C = C_steps[t + 1]
        torch.mul(F, C_steps[t], out=C)
        C.addcmul_(I, C_tilde)
        torch.tanh(C, out=tc)
        torch.mul(O, tc, out=H_steps[t + 1])
    return H_all, C_all, gates, tanh_C


def backward_sequence(d_outputs, dH_T, dC_T, W_h, C_all, gates, tanh_C, need_dH0=True, fused=None):
    """Backpropagate through every step; the inverse of :func:`forward_sequence`.

    Args:
        d_outputs: ``(T, batch, hidden)``, ∂L/∂H_t from above (the outputs).
        dH_T, dC_T: ``(batch, hidden)``, gradients of the final state.
        W_h, C_all, gates, tanh_C: as saved by :func:`forward_sequence`.
        need_dH0: False skips the last ``dA_1 W_hᵀ`` product.
        fused: as for :func:`forward_sequence`.

    Returns:
        ``(dA, dH0, dC0)``: ``dA`` is ``(T, batch, 4*hidden)``, the gradient of
        every step's gate pre-activations (which is also ∂L/∂XW), and
        ``dH0``, ``dC0`` are ``(batch, hidden)`` (``dH0`` None when not needed).
    """
    T, B, four_h = gates.shape
    Hd = four_h // 4
    three_h = 3 * Hd
    W_h_T = W_h.t()
    recurrent_product = FixedWeightProduct(W_h_T, B)
    dA_all = torch.empty_like(gates)
    dH = d_outputs[T - 1] + dH_T
    dC = dC_T.clone(memory_format=torch.contiguous_format)
    scratch = torch.empty_like(dC)
    d_out_steps = d_outputs.unbind(0)
    C_steps = C_all.unbind(0)
    for t in range(T - 1, -1, -1):
        A, dA, tc = gates[t], dA_all[t], tanh_C[t]
        if fused is not None:  # the compiled kernel does the same arithmetic in one pass
            dA_t, dC = fused.backward(dH, dC, A, tc, C_steps[t])
            dA.copy_(dA_t)
        else:
            I, F, O, C_tilde = A.split(Hd, dim=1)
            dI, dF, dO, dC_tilde = dA.split(Hd, dim=1)
            torch.mul(dH, tc, out=dO)  # dO_t = dH ⊙ tanh(C_t)
            torch.mul(dH, O, out=scratch)
            dC.add_(_tanh_backward(scratch, tc, grad_input=scratch))  # += dH ⊙ O ⊙ (1 - tanh²C)
            torch.mul(dC, C_tilde, out=dI)
            torch.mul(dC, C_steps[t], out=dF)
            torch.mul(dC, I, out=dC_tilde)
            _sigmoid_backward(dA[:, :three_h], A[:, :three_h], grad_input=dA[:, :three_h])
            _tanh_backward(dC_tilde, C_tilde, grad_input=dC_tilde)
            dC.mul_(F)  # dC_{t-1}
        if t > 0:
            dH = recurrent_product(dA, d_out_steps[t - 1])  # dH_{t-1}
        elif need_dH0:
            dH = dA @ W_h_T
    return dA_all, (dH if need_dH0 else None), dC


class LSTMSequence(torch.autograd.Function):
    """The whole sequence as one autograd node, with the backward above.

    ``apply(XW, H0, C0, W_h[, fused]) -> (outputs (T, batch, hidden), H_T, C_T)``;
    ``fused`` as for :func:`forward_sequence`.
    """

    @staticmethod
    def forward(ctx, XW, H0, C0, W_h, fused=None):
        XW, H0, C0, W_h = (t.contiguous() for t in (XW, H0, C0, W_h))
        H_all, C_all, gates, tanh_C = forward_sequence(XW, H0, C0, W_h, fused=fused)
        ctx.save_for_backward(W_h, H_all, C_all, gates, tanh_C)
        ctx.fused = fused
        return H_all[1:], H_all[-1], C_all[-1]

    @staticmethod
    @once_differentiable
    def backward(ctx, d_outputs, dH_T, dC_T):
        W_h, H_all, C_all, gates, tanh_C = ctx.saved_tensors
        need_XW, need_H0, need_C0, need_W_h = ctx.needs_input_grad[:4]
        dA, dH0, dC0 = backward_sequence(
            d_outputs.contiguous(), dH_T, dC_T, W_h, C_all, gates, tanh_C, need_dH0=need_H0, fused=ctx.fused
        )
        dW_h = None
        if need_W_h:  # one (hidden, T*batch) @ (T*batch, 4*hidden) product for all steps
            T, B, four_h = dA.shape
            dW_h = summed_outer_products(H_all[:-1].reshape(T * B, -1), dA.view(T * B, four_h))
        return (dA if need_XW else None), dH0, (dC0 if need_C0 else None), dW_h, None


def run_manual(XW, H, C, W_h, fused=None):
    """The recurrence with the hand-written backward of :class:`LSTMSequence`.

    Args and returns as for :func:`lstm_lib.backends.run_autograd` (``fused`` as
    for :func:`forward_sequence`). Without gradients (``torch.no_grad()`` or no
    input requiring grad) it runs the forward loop alone, keeping no per-step
    activations.
    """
    if torch.is_grad_enabled() and any(t.requires_grad for t in (XW, H, C, W_h)):
        return LSTMSequence.apply(XW, H, C, W_h, fused)
    H_all, C_all, _, _ = forward_sequence(
        XW.contiguous(), H, C, W_h.contiguous(), keep_activations=False, fused=fused
    )
    return H_all[1:], H_all[-1], C_all[-1]
