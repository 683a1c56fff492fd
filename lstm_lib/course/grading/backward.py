"""Checks of ``my_lstm/backward.py``: ``step_backward``, one step's backward pass by hand (chapter 12).

The check goes equation by equation: the learner's dA_t is cut into its four blocks (i, f, o, c,
each ``(batch, hidden)``) and, with dC_{t-1}, each of these five parts is compared with autograd's
and with what each known mistake (:data:`MISTAKES`, lstm_lib's ``step_backward`` with one wrong
line) gives there. A mistake that explains every part is named alone; otherwise each wrong part
is named with the equation that explains it, or with the equation it should follow.
"""

from typing import NamedTuple

import torch

from ...backward import step_backward as library_step_backward
from ...cell import lstm_step
from ..compare import ExerciseError, close, difference, expect_pair, expect_tensor, mistaken, randn

PARTS = ("i", "f", "o", "c", "dC_prev")
"""The parts of the result compared one by one: dA_t's four blocks, then dC_{t-1}."""

PART_NAMES = {
    "i": "dA's i block",
    "f": "dA's f block",
    "o": "dA's o block",
    "c": "dA's c block",
    "dC_prev": "dC_{t-1}",
}
EQUATIONS = {
    "i": "dI_t ⊙ I_t ⊙ (1 - I_t), with dI_t = dC_t ⊙ C̃_t",
    "f": "dF_t ⊙ F_t ⊙ (1 - F_t), with dF_t = dC_t ⊙ C_{t-1}",
    "o": "dO_t ⊙ O_t ⊙ (1 - O_t), with dO_t = dH_t ⊙ tanh(C_t)",
    "c": "dC̃_t ⊙ (1 - C̃_t²), with dC̃_t = dC_t ⊙ I_t",
    "dC_prev": "dC_t ⊙ F_t",
}
"""What each part should be, quoted when a wrong part matches no known mistake."""

DC_T = "dC_t = dC + dH_t ⊙ O_t ⊙ (1 - tanh²(C_t))"

# the library's lines, as lstm_lib.backward.step_backward writes them
_DO = "dO = dH * tanh_C"
_DC = "dC = dC + dH * O * (1 - tanh_C * tanh_C)"
_DI = "dI = dC * C_tilde"
_DF = "dF = dC * C_prev"
_DC_TILDE = "dC_tilde = dC * I"
_UPSTREAM = "(dC - dH * O * (1 - tanh_C * tanh_C))"  # the incoming dC, recovered from dC_t
_BLOCKS = {  # the line of each block of dA, its gate, its derivative written out
    "i": ("dI * I * (1 - I),", "I", "I_t"),
    "f": ("dF * F * (1 - F),", "F", "F_t"),
    "o": ("dO * O * (1 - O),", "O", "O_t"),
}
_C_BLOCK = "dC_tilde * (1 - C_tilde * C_tilde),"
_RETURN = "return dA, dC * F"


class BackwardMistake(NamedTuple):
    """A known mistake: lstm_lib's ``step_backward`` with ``edits`` (``(old, new)`` pairs of lines).

    ``message`` names it when it explains the whole result; ``parts`` overrides the message for
    single parts it explains when it does not (by default ``"<part>: <message>"``)."""

    message: str
    edits: tuple[tuple[str, str], ...]
    parts: dict | None = None

    def function(self):
        return mistaken(library_step_backward, *self.edits)

    def says(self, part: str) -> str:
        if self.parts and part in self.parts:
            return self.parts[part]
        name = PART_NAMES[part]
        return self.message if self.message.startswith(name) else f"{name}: {self.message}"


def _gate_block_mistakes(block: str) -> list[BackwardMistake]:
    """The wrong derivatives of one σ block of dA (i, f or o)."""
    line, var, gate = _BLOCKS[block]
    d = f"d{var}"
    name = PART_NAMES[block]
    sigma_prime = f"σ'(A^{block}_t) = {gate} ⊙ (1 - {gate})"
    return [
        BackwardMistake(f"{name} lacks {sigma_prime}", ((line, f"{d},"),)),
        BackwardMistake(
            f"{name} uses tanh' = 1 - {gate}²; {gate} = σ(A^{block}_t), so its derivative is {sigma_prime}",
            ((line, f"{d} * (1 - {var} * {var}),"),),
        ),
        BackwardMistake(
            f"{name} applies σ' to {gate}: {gate} is already σ(A^{block}_t), so {sigma_prime}",
            ((line, f"{d} * torch.sigmoid({var}) * (1 - torch.sigmoid({var})),"),),
        ),
        BackwardMistake(
            f"{name} writes σ' as 1 - {gate}; it is {sigma_prime}",
            ((line, f"{d} * (1 - {var}),"),),
        ),
    ]


MISTAKES: tuple[BackwardMistake, ...] = (
    # --- dC_t = dC + dH ⊙ O_t ⊙ (1 - tanh²(C_t)): every part but the o block depends on it
    BackwardMistake(
        "dC_t is missing the path through H_t = O_t ⊙ tanh(C_t): add dH ⊙ O_t ⊙ (1 - tanh²(C_t))",
        ((_DC, "dC = dC"),),
        {"dC_prev": "dC_{t-1} is missing the path through H_t = O_t ⊙ tanh(C_t)"},
    ),
    BackwardMistake(
        "tanh'(C_t) is written 1 - tanh(C_t); it is 1 - tanh²(C_t)",
        (("(1 - tanh_C * tanh_C)", "(1 - tanh_C)"),),
    ),
    BackwardMistake(
        f"dC_t's path through H_t lacks tanh'(C_t) = 1 - tanh²(C_t): {DC_T}",
        ((_DC, "dC = dC + dH * O"),),
    ),
    BackwardMistake(
        f"dC_t's path through H_t lacks the factor O_t: {DC_T}",
        ((_DC, "dC = dC + dH * (1 - tanh_C * tanh_C)"),),
    ),
    BackwardMistake(
        f"dC_t's path through H_t uses tanh(C_t) where its derivative 1 - tanh²(C_t) belongs: {DC_T}",
        ((_DC, "dC = dC + dH * O * tanh_C"),),
    ),
    BackwardMistake(
        f"dC_t drops the incoming dC (the gradient from step t+1): {DC_T}",
        ((_DC, "dC = dH * O * (1 - tanh_C * tanh_C)"),),
    ),
    # --- no derivative of any nonlinearity, or the blocks in another order
    BackwardMistake(
        "dA lacks the derivatives of the nonlinearities: σ' = σ(1-σ) and tanh' = 1 - tanh²",
        (
            ("dI * I * (1 - I)", "dI"),
            ("dF * F * (1 - F)", "dF"),
            ("dO * O * (1 - O)", "dO"),
            ("dC_tilde * (1 - C_tilde * C_tilde)", "dC_tilde"),
        ),
    ),
    BackwardMistake(
        "dA's blocks are in nn.LSTM's order (i, f, g, o); this library uses i, f, o, c",
        (("dO * O * (1 - O),", _C_BLOCK), (_C_BLOCK, "dO * O * (1 - O),")),
    ),
    # --- dO_t = dH ⊙ tanh(C_t)
    BackwardMistake(
        "dA's o block: dO_t lacks the factor tanh(C_t): dO_t = dH_t ⊙ tanh(C_t)", ((_DO, "dO = dH"),)
    ),
    BackwardMistake(
        "dA's o block: dO_t uses tanh'(C_t) = 1 - tanh²(C_t); it is dH_t ⊙ tanh(C_t)",
        ((_DO, "dO = dH * (1 - tanh_C * tanh_C)"),),
    ),
    BackwardMistake(
        "dA's o block: dO_t uses C_t; it is dH_t ⊙ tanh(C_t)", ((_DO, "dO = dH * torch.atanh(tanh_C)"),)
    ),
    BackwardMistake(
        "dA's o block: dO_t uses dC (the gradient of C_t) where dH_t belongs: dO_t = dH_t ⊙ tanh(C_t)",
        ((_DO, "dO = dC * tanh_C"),),
    ),
    # --- dI_t = dC_t ⊙ C̃_t, dF_t = dC_t ⊙ C_{t-1}, dC̃_t = dC_t ⊙ I_t
    BackwardMistake(
        "dI_t and dC̃_t are swapped: dI_t = dC_t ⊙ C̃_t and dC̃_t = dC_t ⊙ I_t",
        ((_DI, "dI = dC * I"), (_DC_TILDE, "dC_tilde = dC * C_tilde")),
    ),
    BackwardMistake("dA's i block: dI_t uses I_t; it is dC_t ⊙ C̃_t", ((_DI, "dI = dC * I"),)),
    BackwardMistake(
        f"dA's i block: dI_t uses the incoming dC, not dC_t ({DC_T}): dI_t = dC_t ⊙ C̃_t",
        ((_DI, f"dI = {_UPSTREAM} * C_tilde"),),
    ),
    BackwardMistake(
        "dA's f block: dF_t uses C_t; it is dC_t ⊙ C_{t-1}", ((_DF, "dF = dC * torch.atanh(tanh_C)"),)
    ),
    BackwardMistake("dA's f block: dF_t uses tanh(C_t); it is dC_t ⊙ C_{t-1}", ((_DF, "dF = dC * tanh_C"),)),
    BackwardMistake("dA's f block: dF_t uses F_t; it is dC_t ⊙ C_{t-1}", ((_DF, "dF = dC * F"),)),
    BackwardMistake(
        f"dA's f block: dF_t uses the incoming dC, not dC_t ({DC_T}): dF_t = dC_t ⊙ C_{{t-1}}",
        ((_DF, f"dF = {_UPSTREAM} * C_prev"),),
    ),
    BackwardMistake(
        "dA's c block: dC̃_t uses C̃_t; it is dC_t ⊙ I_t", ((_DC_TILDE, "dC_tilde = dC * C_tilde"),)
    ),
    BackwardMistake(
        f"dA's c block: dC̃_t uses the incoming dC, not dC_t ({DC_T}): dC̃_t = dC_t ⊙ I_t",
        ((_DC_TILDE, f"dC_tilde = {_UPSTREAM} * I"),),
    ),
    # --- the derivative of each block's nonlinearity
    *(mistake for block in _BLOCKS for mistake in _gate_block_mistakes(block)),
    BackwardMistake("dA's c block lacks tanh'(A^c_t) = 1 - C̃_t²", ((_C_BLOCK, "dC_tilde,"),)),
    BackwardMistake(
        "dA's c block uses σ' = C̃_t ⊙ (1 - C̃_t); C̃_t = tanh(A^c_t), so its derivative is 1 - C̃_t²",
        ((_C_BLOCK, "dC_tilde * C_tilde * (1 - C_tilde),"),),
    ),
    BackwardMistake(
        "dA's c block writes tanh' as 1 - C̃_t; it is 1 - C̃_t²", ((_C_BLOCK, "dC_tilde * (1 - C_tilde),"),)
    ),
    BackwardMistake(
        "dA's c block applies tanh' to C̃_t: C̃_t is already tanh(A^c_t), so tanh'(A^c_t) = 1 - C̃_t²",
        ((_C_BLOCK, "dC_tilde * (1 - torch.tanh(C_tilde) ** 2),"),),
    ),
    # --- dC_{t-1} = dC_t ⊙ F_t
    BackwardMistake(
        "dC_{t-1} is missing the factor F_t: dC_{t-1} = dC_t ⊙ F_t", ((_RETURN, "return dA, dC"),)
    ),
    BackwardMistake(
        "dC_{t-1} is dF_t = dC_t ⊙ C_{t-1}; it is dC_t ⊙ F_t (the forget gate carries C_{t-1} into C_t)",
        ((_RETURN, "return dA, dF"),),
    ),
    BackwardMistake(
        "dC_{t-1} uses I_t where F_t belongs: dC_{t-1} = dC_t ⊙ F_t", ((_RETURN, "return dA, dC * I"),)
    ),
    BackwardMistake(
        "dC_{t-1} includes σ'(A^f_t): it is dC_t ⊙ F_t, the forget gate's value, not its derivative",
        ((_RETURN, "return dA, dC * F * (1 - F)"),),
    ),
)
"""Every known mistake of ``step_backward``, first the ones that spoil several parts."""


def _parts(dA, dC_prev) -> dict:
    return dict(zip(PARTS, (*dA.chunk(4, dim=1), dC_prev)))


def _block_order(actual: dict, expected: dict) -> str | None:
    """The message for dA's four blocks right but in another order, or None."""
    blocks = PARTS[:4]
    order = []
    for mine in blocks:
        same = [block for block in blocks if close(actual[mine], expected[block])]
        if len(same) != 1:
            return None
        order += same
    if sorted(order) != sorted(blocks) or tuple(order) == blocks:
        return None
    return f"dA's blocks are in the order {', '.join(order)}; this library uses i, f, o, c"


def diagnosis(actual: dict, expected: dict, wrong_results: list) -> str:
    """The message for the learner's parts ``actual`` (some of them wrong), given ``expected``
    and ``wrong_results``, the ``(mistake, parts)`` of every mistake."""
    wrong = [part for part in PARTS if not close(actual[part], expected[part])]
    for mistake, parts in wrong_results:
        if all(close(actual[part], parts[part]) for part in PARTS):
            return mistake.message
    if close(actual["dC_prev"], expected["dC_prev"]) and (order := _block_order(actual, expected)):
        return order
    messages = []
    for part in wrong:
        message = next(
            (
                mistake.says(part)
                for mistake, parts in wrong_results
                if not close(parts[part], expected[part]) and close(actual[part], parts[part])
            ),
            None,
        )
        if message is None:
            message = (
                f"{PART_NAMES[part]} is wrong: it should be {EQUATIONS[part]} "
                f"({difference(actual[part], expected[part])})"
            )
        if message not in messages:
            messages.append(message)
    return "; ".join(messages)


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
    expect_tensor("dC_prev", dC_prev, (batch, hidden))
    actual, expected = _parts(dA, dC_prev), _parts(dA_ref, dC_prev_ref)
    if all(close(actual[part], expected[part]) for part in PARTS):
        return
    wrong_results = [(m, _parts(*m.function()(dH, dC, *saved))) for m in MISTAKES]
    raise ExerciseError(diagnosis(actual, expected, wrong_results))
