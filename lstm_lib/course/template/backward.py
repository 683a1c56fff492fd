"""The backward pass of one LSTM step, by hand (chapter 12).

Forward, with ``A_t = X_t W_x + b + H_{t-1} W_h`` ``(batch, 4*hidden)`` in the gate order i, f, o, c:

    I_t, F_t, O_t = σ(A_t[i]), σ(A_t[f]), σ(A_t[o]),   C̃_t = tanh(A_t[c])
    C_t = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t,                   H_t = O_t ⊙ tanh(C_t)
"""

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

    Derive it from the forward equations at the top of this file, as chapter 12 does: the gradient
    reaches C_t from step t+1 and through H_t; the four gates' pre-activations get
    theirs through σ and tanh, whose derivatives are functions of their outputs.
    """
    # BEGIN SOLUTION step_backward
    I, F, O, C_tilde = gates.chunk(4, dim=1)
    dO = dH * tanh_C
    dC_t = dC + dH * O * (1 - tanh_C**2)
    dI, dF, dC_tilde = dC_t * C_tilde, dC_t * C_prev, dC_t * I
    dA = torch.cat([dI * I * (1 - I), dF * F * (1 - F), dO * O * (1 - O), dC_tilde * (1 - C_tilde**2)], dim=1)
    return dA, dC_t * F
    # END SOLUTION
