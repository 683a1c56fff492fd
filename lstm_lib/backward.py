"""The LSTM's backward pass through time, written by hand (chapter 12).

One step, with the pre-activations A_t = X_t W_x + b + H_{t-1} W_h split into the
blocks A^i_t, A^f_t, A^o_t, A^c_t in the order (i, f, o, c), and dH = ∂L/∂H_t,
dC = the part of ∂L/∂C_t that comes from step t+1:

    dO_t  = dH ⊙ tanh(C_t)
    dC_t  = dC + dH ⊙ O_t ⊙ (1 - tanh²(C_t))
    dI_t  = dC_t ⊙ C̃_t,   dF_t = dC_t ⊙ C_{t-1},   dC̃_t = dC_t ⊙ I_t
    dA_t  = [dI_t ⊙ I_t(1-I_t) | dF_t ⊙ F_t(1-F_t) | dO_t ⊙ O_t(1-O_t) | dC̃_t ⊙ (1-C̃_t²)]
    dC_{t-1} = dC_t ⊙ F_t
    dH_{t-1} = dA_t W_hᵀ + ∂L/∂(output_{t-1})

The sequence loops walk the steps forward (keeping what the backward pass needs)
and back, around one matrix product per step. What they do at each step is a
:class:`StepKernels` value: :data:`PLAIN` holds the functions of this module;
:mod:`lstm_lib.fast` hands the same loops faster kernels and products.
"""

from collections.abc import Callable
from typing import NamedTuple

import torch


def step_backward(dH, dC, gates, tanh_C, C_prev):
    """Backpropagate through one step, from (H_t, C_t) to A_t and C_{t-1}.

    Args:
        dH: ``(batch, hidden)``, ∂L/∂H_t.
        dC: ``(batch, hidden)``, the part of ∂L/∂C_t that comes from step t+1.
        gates: ``(batch, 4*hidden)``, ``[I_t | F_t | O_t | C̃_t]`` saved by the forward step.
        tanh_C: ``(batch, hidden)``, tanh(C_t).
        C_prev: ``(batch, hidden)``, C_{t-1}.

    Returns:
        ``(dA, dC_prev)``: ∂L/∂A_t ``(batch, 4*hidden)`` in the order i, f, o, c, and
        ∂L/∂C_{t-1} ``(batch, hidden)``.
    """
    I, F, O, C_tilde = gates.chunk(4, dim=1)
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


def step_forward(HW, XW_t, C_prev, tanh=torch.tanh):
    """One step's elementwise forward, given the recurrent product ``HW`` = H_{t-1} W_h.

    Args:
        HW, XW_t: ``(batch, 4*hidden)``; ``XW_t`` is X_t W_x + b.
        C_prev: ``(batch, hidden)``.
        tanh: how tanh is computed (:mod:`lstm_lib.fast.compiled` passes 2σ(2x) - 1,
            the same function through σ, which is the faster kernel on CPUs).

    Returns:
        ``(gates, C_t, tanh(C_t), H_t)``: ``gates`` is ``[I_t | F_t | O_t | C̃_t]``
        ``(batch, 4*hidden)``, the others ``(batch, hidden)``.
    """
    hidden = C_prev.shape[1]
    A = HW + XW_t  # A_t = X_t W_x + b + H_{t-1} W_h
    IFO = torch.sigmoid(A[:, : 3 * hidden])  # I_t, F_t, O_t = σ(A^i_t), σ(A^f_t), σ(A^o_t)
    C_tilde = tanh(A[:, 3 * hidden :])  # C̃_t = tanh(A^c_t)
    I, F, O = IFO.split(hidden, dim=1)
    C = F * C_prev + I * C_tilde  # C_t = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t
    tanh_C = tanh(C)
    H = O * tanh_C  # H_t = O_t ⊙ tanh(C_t)
    return torch.cat([IFO, C_tilde], dim=1), C, tanh_C, H


def step_backward_into(dH_next, d_out, dC, gates, tanh_C, C_prev, dA):
    """:func:`step_backward` in the loop's form: ∂L/∂H_t arrives in two parts,
    ``dH_next`` (through step t+1, dA_{t+1} W_hᵀ) and ``d_out`` (from the output);
    dA_t is written into ``dA`` ``(batch, 4*hidden)`` and dC_{t-1} is returned."""
    dA_t, dC_prev = step_backward(dH_next + d_out, dC, gates, tanh_C, C_prev)
    dA.copy_(dA_t)
    return dC_prev


class StepKernels(NamedTuple):
    """What the sequence loops do at each step, around its matrix product.

    ``forward(HW, XW_t, C_prev) -> (gates, C_t, tanh(C_t), H_t)`` as :func:`step_forward`
    (it may overwrite ``HW``); ``backward(dH_next, d_out, dC, gates, tanh_C, C_prev, dA)
    -> dC_prev`` as :func:`step_backward_into` (it may overwrite ``dC``). Every tensor
    the loops hand them is contiguous.
    """

    forward: Callable
    backward: Callable


PLAIN = StepKernels(step_forward, step_backward_into)
"""The step functions above, out of place."""


def plain_product(W, rows):
    """``X -> X @ W`` for ``(rows, ·)`` inputs: the loops' product with one fixed weight."""
    return lambda X: X @ W


def forward_sequence(XW, H0, C0, W_h, kernels=PLAIN, keep_activations=True, product=plain_product):
    """Run the recurrence without autograd.

    Args:
        XW: ``(T, batch, 4*hidden)``, ``X_t W_x + b`` for every step.
        H0, C0: ``(batch, hidden)``.
        W_h: ``(hidden, 4*hidden)``.
        kernels: the :class:`StepKernels` of each step.
        keep_activations: keep what the backward pass needs; False for inference.
        product: ``product(W, rows)`` returns the function ``X -> X @ W``.

    Returns:
        ``(H_all, C_T, saved)``: ``H_all`` is ``(T+1, batch, hidden)`` with H_0
        in row 0, ``C_T`` is ``(batch, hidden)``; ``saved`` is
        ``(C_prev, gates, tanh_C)``, three lists with one tensor per step:
        C_{t-1} ``(batch, hidden)``, ``[I_t | F_t | O_t | C̃_t]``
        ``(batch, 4*hidden)`` and tanh(C_t) ``(batch, hidden)`` (empty lists when
        ``keep_activations`` is False).
    """
    recurrent_product = product(W_h, XW.shape[1])
    H, C = H0, C0.detach().contiguous()  # C_0 as a plain tensor, like every later C_t
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


def backward_sequence(
    d_outputs, dH_T, dC_T, W_h, C_prev, gates, tanh_C, kernels=PLAIN, need_dH0=True, product=plain_product
):
    """Backpropagate through every step; the inverse of :func:`forward_sequence`.

    Args:
        d_outputs: ``(T, batch, hidden)``, ∂L/∂H_t from above (the outputs).
        dH_T, dC_T: ``(batch, hidden)``, gradients of the final state.
        W_h: ``(hidden, 4*hidden)``.
        C_prev, gates, tanh_C: per step, as saved by :func:`forward_sequence`
            (lists, or ``(T, batch, ·)`` tensors).
        kernels, product: as for :func:`forward_sequence`.
        need_dH0: False skips the last ``dA_1 W_hᵀ`` product.

    Returns:
        ``(dA, dH0, dC0)``: ``dA`` is ``(T, batch, 4*hidden)``, the gradient of
        every step's gate pre-activations (which is also ∂L/∂XW), and
        ``dH0``, ``dC0`` are ``(batch, hidden)`` (``dH0`` None when not needed).
    """
    T, batch, hidden = d_outputs.shape
    recurrent_product = product(W_h.t(), batch)
    dA_all = d_outputs.new_empty(T, batch, 4 * hidden)
    dH_next = dH_T.contiguous()  # the part of ∂L/∂H_t through step t+1 (autograd may pass it expanded)
    dC = dC_T.clone(memory_format=torch.contiguous_format)  # a kernel may overwrite it
    steps = zip(range(T - 1, -1, -1), reversed(d_outputs.unbind(0)), reversed(dA_all.unbind(0)))
    for t, d_out, dA in steps:
        dC = kernels.backward(dH_next, d_out, dC, gates[t], tanh_C[t], C_prev[t], dA)
        if t > 0 or need_dH0:
            dH_next = recurrent_product(dA)  # dA_t W_hᵀ, the part of dH_{t-1} through step t
    return dA_all, (dH_next if need_dH0 else None), dC
