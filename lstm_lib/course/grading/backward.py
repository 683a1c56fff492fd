"""Checks of ``my_lstm/backward.py``: ``step_backward``, one step's backward pass by hand (chapter 12)."""

import torch

from ...backward import step_backward as library_step_backward
from ...cell import lstm_step
from ..compare import expect_close, expect_pair, expect_tensor, mistaken, randn

_THROUGH_H = "dC = dC + dH * O * (1 - tanh_C * tanh_C)"
MISTAKES = {  # what a learner writes wrong in lstm_lib.backward.step_backward
    "no path through H": ((_THROUGH_H, "dC = dC"),),
    "tanh' = 1 - tanh": (("(1 - tanh_C * tanh_C)", "(1 - tanh_C)"),),
    "no σ' and tanh'": (
        ("dI * I * (1 - I)", "dI"),
        ("dF * F * (1 - F)", "dF"),
        ("dO * O * (1 - O)", "dO"),
        ("dC_tilde * (1 - C_tilde * C_tilde)", "dC_tilde"),
    ),
    "nn.LSTM's order": (  # the o and c blocks swapped
        ("dO * O * (1 - O),", "dC_tilde * (1 - C_tilde * C_tilde),"),
        ("dC_tilde * (1 - C_tilde * C_tilde),", "dO * O * (1 - O),"),
    ),
    "no factor F": (("return dA, dC * F", "return dA, dC"),),
}


def check_step_backward(step_backward) -> None:
    g = torch.Generator().manual_seed(11)
    batch, hidden = 3, 4
    XW = randn(g, batch, 4 * hidden).requires_grad_()
    C_prev = randn(g, batch, hidden).requires_grad_()
    H_prev, W_h = randn(g, batch, hidden), randn(g, hidden, 4 * hidden, scale=0.5)
    H, C, gates = lstm_step(XW, H_prev, C_prev, W_h)
    dH, dC = randn(g, batch, hidden), randn(g, batch, hidden)
    dA_ref, dC_prev_ref = torch.autograd.grad((H * dH).sum() + (C * dC).sum(), (XW, C_prev))
    saved = (torch.cat(gates, dim=1).detach(), torch.tanh(C).detach(), C_prev.detach())

    out = expect_pair(
        step_backward(dH.clone(), dC.clone(), *(s.clone() for s in saved)),
        "step_backward's result (dA, dC_prev)",
    )
    dA, dC_prev = out
    expect_tensor("dA", dA, (batch, 4 * hidden))

    def wrong(kind):
        return mistaken(library_step_backward, *MISTAKES[kind])(dH, dC, *saved)

    expect_close(
        "dA",
        dA,
        dA_ref,
        [
            (
                "dC_t is missing the path through H_t = O_t ⊙ tanh(C_t): add dH ⊙ O_t ⊙ (1 - tanh²(C_t))",
                wrong("no path through H")[0],
            ),
            ("tanh'(C_t) is written 1 - tanh(C_t); it is 1 - tanh²(C_t)", wrong("tanh' = 1 - tanh")[0]),
            (
                "dA lacks the derivatives of the nonlinearities: σ' = σ(1-σ) and tanh' = 1 - tanh²",
                wrong("no σ' and tanh'")[0],
            ),
            (
                "dA's blocks are in nn.LSTM's order (i, f, g, o); this library uses i, f, o, c",
                wrong("nn.LSTM's order")[0],
            ),
        ],
        "the gradient of the pre-activations A_t, as autograd gives it",
    )
    expect_close(
        "dC_prev",
        dC_prev,
        dC_prev_ref,
        [
            ("dC_{t-1} is missing the factor F_t: dC_{t-1} = dC_t ⊙ F_t", wrong("no factor F")[1]),
            ("dC_{t-1} is missing the path through H_t = O_t ⊙ tanh(C_t)", wrong("no path through H")[1]),
        ],
        "dC_t ⊙ F_t",
    )
