"""The LSTM's backward pass through time, written by hand.

Forward, for every step t (rows are examples, gate blocks in the order i, f, o, c):

    A_t  = X_t W_x + b + H_{t-1} W_h                    (batch, 4*hidden)
    I_t, F_t, O_t = σ(A_t[i]), σ(A_t[f]), σ(A_t[o])
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

Two choices below are about speed, not math:

- tanh is computed as ``2σ(2x) - 1`` (an identity): PyTorch's CPU
  ``torch.tanh`` ran ten times slower than ``torch.sigmoid`` where this was
  measured (2.5 against 0.25 ns per float32 element, PyTorch 2.13 on an
  AVX-512 CPU), and a step's two tanh were half of its elementwise time.
  One σ then covers all four gate blocks.
- each step's gates, C_t and tanh(C_t) are new tensors kept in lists, not
  slices of one ``(T, batch, ·)`` buffer: the product's fresh output becomes
  the gates in place, and nothing is copied into a large buffer that is no
  longer in cache.
"""

import torch
from torch.autograd.function import once_differentiable

from .matmul import FixedWeightProduct, summed_outer_products

_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input  # g ⊙ y ⊙ (1 - y), one kernel
_tanh_backward = torch.ops.aten.tanh_backward.grad_input  # g ⊙ (1 - y²), one kernel


def _tanh_from_sigmoid_(s, minus_one):
    """Turn ``s = σ(2x)`` into ``tanh(x) = 2s - 1``, in place, in one operation.

    ``minus_one`` is a 0-dimensional tensor of s's dtype and device (a Python
    number would be converted to a tensor on every call)."""
    return torch.add(minus_one, s, alpha=2, out=s)


def step_forward(HW, XW_t, C_prev, minus_one):
    """One step's elementwise forward, turning ``HW`` into the gates in place.

    Args:
        HW: ``(batch, 4*hidden)``, the recurrent product H_{t-1} W_h, a new
            tensor that becomes ``[I_t | F_t | O_t | C̃_t]``.
        XW_t: ``(batch, 4*hidden)``, X_t W_x + b.
        C_prev: ``(batch, hidden)``, C_{t-1}.
        minus_one: a 0-dimensional tensor holding -1, as for :func:`_tanh_from_sigmoid_`.

    Returns:
        ``(gates, C_t, tanh(C_t), H_t)``: gates is ``HW``; the others are new
        ``(batch, hidden)`` tensors.
    """
    hidden = C_prev.shape[1]
    pre = HW.add_(XW_t)  # A_t, the pre-activations
    C_block = pre[:, 3 * hidden :]
    C_block.add_(C_block)  # 2x, so that one σ over all four blocks also gives tanh(x)
    gates = pre.sigmoid_()
    I, F, O, C_tilde = gates.split(hidden, dim=1)
    _tanh_from_sigmoid_(C_tilde, minus_one)
    C = torch.mul(F, C_prev).addcmul_(I, C_tilde)
    tanh_C = _tanh_from_sigmoid_(torch.add(C, C).sigmoid_(), minus_one)
    return gates, C, tanh_C, torch.mul(O, tanh_C)


def forward_sequence(XW, H0, C0, W_h, keep_activations=True, fused=None):
    """Run the recurrence without autograd.

    Args:
        XW: ``(T, batch, 4*hidden)``, ``X_t W_x + b`` for every step.
        H0, C0: ``(batch, hidden)``.
        W_h: ``(hidden, 4*hidden)``.
        keep_activations: keep what the backward pass needs; False for inference.
        fused: ``None`` for :func:`step_forward`, or the compiled
            :class:`lstm_lib.compiled.FusedGates`, which do a step's elementwise
            work in one kernel each way.

    Returns:
        ``(H_all, C_T, saved)``: ``H_all`` is ``(T+1, batch, hidden)`` with H_0
        in row 0, ``C_T`` is ``(batch, hidden)``; ``saved`` is
        ``(C_prev, gates, tanh_C)``, three lists with one tensor per step:
        C_{t-1} ``(batch, hidden)``, ``[I_t | F_t | O_t | C̃_t]``
        ``(batch, 4*hidden)`` and tanh(C_t) ``(batch, hidden)`` (empty lists when
        ``keep_activations`` is False).
    """
    recurrent_product = FixedWeightProduct(W_h, XW.shape[1])
    minus_one = XW.new_full((), -1.0)
    # Detached, XW and C_0 are plain tensors like every later C_t (a compiled
    # kernel would otherwise compile again for inputs that require grad).
    H, C = H0, C0.detach()
    H_steps = [H0]
    saved = ([], [], [])
    for XW_t in XW.detach().unbind(0):
        HW = recurrent_product(H)  # H_{t-1} W_h, a new tensor
        if fused is not None:
            gates, C_next, tanh_C, H = fused.forward(HW, XW_t, C)
        else:
            gates, C_next, tanh_C, H = step_forward(HW, XW_t, C, minus_one)
        if keep_activations:
            for kept, value in zip(saved, (C, gates, tanh_C)):
                kept.append(value)
        H_steps.append(H)
        C = C_next
    return torch.stack(H_steps), C, saved


def backward_sequence(d_outputs, dH_T, dC_T, W_h, C_prev, gates, tanh_C, need_dH0=True, fused=None):
    """Backpropagate through every step; the inverse of :func:`forward_sequence`.

    Args:
        d_outputs: ``(T, batch, hidden)``, ∂L/∂H_t from above (the outputs).
        dH_T, dC_T: ``(batch, hidden)``, gradients of the final state.
        W_h: ``(hidden, 4*hidden)``.
        C_prev, gates, tanh_C: per step, as saved by :func:`forward_sequence`
            (lists, or ``(T, batch, ·)`` tensors).
        need_dH0: False skips the last ``dA_1 W_hᵀ`` product.
        fused: as for :func:`forward_sequence`.

    Returns:
        ``(dA, dH0, dC0)``: ``dA`` is ``(T, batch, 4*hidden)``, the gradient of
        every step's gate pre-activations (which is also ∂L/∂XW), and
        ``dH0``, ``dC0`` are ``(batch, hidden)`` (``dH0`` None when not needed).
    """
    T, B, Hd = d_outputs.shape
    three_h = 3 * Hd
    W_h_T = W_h.t()
    recurrent_product = FixedWeightProduct(W_h_T, B)
    dA_all = d_outputs.new_empty(T, B, 4 * Hd)
    dH_next = dH_T  # the part of ∂L/∂H_t that comes through step t+1
    dC = dC_T.clone(memory_format=torch.contiguous_format)
    for t, d_out in zip(range(T - 1, -1, -1), reversed(d_outputs.unbind(0))):
        A, dA, tc = gates[t], dA_all[t], tanh_C[t]
        if fused is not None:  # the compiled kernel does the same arithmetic in one pass
            dA_t, dC = fused.backward(dH_next, d_out, dC, A, tc, C_prev[t])
            dA.copy_(dA_t)
        else:
            I, F, O, C_tilde = A.split(Hd, dim=1)
            dI, dF, dO, dC_tilde = dA.split(Hd, dim=1)
            dH = torch.add(dH_next, d_out)
            torch.mul(dH, tc, out=dO)  # dO_t = dH ⊙ tanh(C_t)
            dH.mul_(O)
            dC.add_(_tanh_backward(dH, tc, grad_input=dH))  # += dH ⊙ O ⊙ (1 - tanh²C)
            torch.mul(dC, C_tilde, out=dI)
            torch.mul(dC, C_prev[t], out=dF)
            torch.mul(dC, I, out=dC_tilde)
            _sigmoid_backward(dA[:, :three_h], A[:, :three_h], grad_input=dA[:, :three_h])
            _tanh_backward(dC_tilde, C_tilde, grad_input=dC_tilde)
            dC.mul_(F)  # dC_{t-1}
        if t > 0 or need_dH0:
            dH_next = recurrent_product(dA)  # dA_t W_hᵀ, the part of dH_{t-1} through step t
    return dA_all, (dH_next if need_dH0 else None), dC


class LSTMSequence(torch.autograd.Function):
    """The whole sequence as one autograd node, with the backward above.

    ``apply(XW, H0, C0, W_h[, fused]) -> (outputs (T, batch, hidden), H_T, C_T)``;
    ``fused`` as for :func:`forward_sequence`.
    """

    @staticmethod
    def forward(ctx, XW, H0, C0, W_h, fused=None):
        XW, H0, C0, W_h = (t.contiguous() for t in (XW, H0, C0, W_h))
        H_all, C_T, (C_prev, gates, tanh_C) = forward_sequence(XW, H0, C0, W_h, fused=fused)
        ctx.save_for_backward(W_h, H_all, *C_prev, *gates, *tanh_C)
        ctx.fused = fused
        return H_all[1:], H_all[-1], C_T

    @staticmethod
    @once_differentiable
    def backward(ctx, d_outputs, dH_T, dC_T):
        W_h, H_all, *per_step = ctx.saved_tensors
        T = H_all.shape[0] - 1
        C_prev, gates, tanh_C = per_step[:T], per_step[T : 2 * T], per_step[2 * T :]
        need_XW, need_H0, need_C0, need_W_h = ctx.needs_input_grad[:4]
        dA, dH0, dC0 = backward_sequence(
            d_outputs.contiguous(), dH_T, dC_T, W_h, C_prev, gates, tanh_C, need_dH0=need_H0, fused=ctx.fused
        )
        dW_h = None
        if need_W_h:  # one (hidden, T*batch) @ (T*batch, 4*hidden) product for all steps
            dW_h = summed_outer_products(H_all[:-1].flatten(0, 1), dA.flatten(0, 1))
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
    H_all, C_T, _ = forward_sequence(
        XW.contiguous(), H, C, W_h.contiguous(), keep_activations=False, fused=fused
    )
    return H_all[1:], H_all[-1], C_T
