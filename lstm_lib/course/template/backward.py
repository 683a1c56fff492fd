"""The backward pass of one LSTM step, by hand (chapter 12).

Forward, with ``A_t = X_t W_x + b + H_{t-1} W_h`` ``(batch, 4*hidden)`` in the gate order i, f, o, c:

    I_t, F_t, O_t = σ(A_t[i]), σ(A_t[f]), σ(A_t[o]),   C̃_t = tanh(A_t[c])
    C_t = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t,                   H_t = O_t ⊙ tanh(C_t)
"""

import torch


def step_backward(dH, dC, gates, tanh_C, C_prev):
    """{docstring of lstm_lib.backward.step_backward}

    Derive it from the forward equations at the top of this file, as chapter 12 does: the gradient
    reaches C_t from step t+1 and through H_t; the four gates' pre-activations get
    theirs through σ and tanh, whose derivatives are functions of their outputs.
    """
    # BEGIN SOLUTION step_backward from lstm_lib.backward.step_backward
    # END SOLUTION
