"""Checks of ``my_lstm/cell.py``: ``lstm_step`` (chapter 4), and the catalogue of its known mistakes.

:data:`STEP_MISTAKES` is the one list of the wrong gate equations a learner writes: the
grader names the one a wrong ``lstm_step`` matches, and the parity tests plant each one
into the library's layer (tests/test_mutations.py) to show they would notice it.
"""

from typing import NamedTuple

import torch

from ...cell import GATES
from ...cell import lstm_step as reference_step
from ..compare import ExerciseError, expect_close, expect_differentiable, mistaken, randn

OUTPUTS = ("I_t", "F_t", "O_t", "C̃_t", "C_t", "H_t")
"""What ``lstm_step`` computes, in the order it is checked."""

_SIGMOID, _TANH = ("torch.sigmoid", "σ"), ("torch.tanh", "tanh")
_GATE_LINES = (  # (output, its variable, its block of the pre-activations, its nonlinearity, the other one)
    ("I_t", "I", "pre_I", _SIGMOID, _TANH),
    ("F_t", "F", "pre_F", _SIGMOID, _TANH),
    ("O_t", "O", "pre_O", _SIGMOID, _TANH),
    ("C̃_t", "C_tilde", "pre_C", _TANH, _SIGMOID),
)
EQUATIONS = {
    **{
        output: f"{fn_name}(X_t W_x{g} + H_{{t-1}} W_h{g} + b_{g})"
        for (output, _, _, (_, fn_name), _), g in zip(_GATE_LINES, GATES)
    },
    "C_t": "F_t ⊙ C_{t-1} + I_t ⊙ C̃_t",
    "H_t": "O_t ⊙ tanh(C_t)",
}
"""What each output should be, quoted when a wrong value matches no known mistake."""


class StepMistake(NamedTuple):
    """A known mistake in ``lstm_step``: the line ``old`` of :func:`lstm_lib.cell.lstm_step`
    written ``new``. ``output`` is the first value it makes wrong, where the grader says ``message``."""

    output: str
    message: str
    old: str
    new: str

    def step(self):
        """:func:`lstm_lib.cell.lstm_step` with this mistake."""
        return mistaken(reference_step, (self.old, self.new))


def _gate_mistakes(output, var, block, nonlinearity, other) -> list[StepMistake]:
    """The known mistakes of one gate's line, ``I = torch.sigmoid(pre_I)`` and its like."""
    (fn, fn_name), (other_fn, other_name) = nonlinearity, other
    k = OUTPUTS.index(output)
    blocks = [name for _, _, name, _, _ in _GATE_LINES]
    wrong = [  # (what the message says, the right-hand side written)
        (f"looks like it uses {other_name} instead of {fn_name}", f"{other_fn}({block})"),
        (
            f"looks like it is missing the H_{{t-1}} W_h{GATES[k]} term: add H_prev @ W_h to XW_t "
            "before splitting into the four blocks",
            f"{fn}(XW_t.chunk(4, dim=1)[{k}])",
        ),
        (f"has no nonlinearity: apply {fn_name} to its block", block),
        (f"looks like it uses ReLU instead of {fn_name}", f"torch.relu({block})"),
    ]
    wrong += [
        (
            f"is computed from the {GATES[j]} block of the pre-activations; the blocks go i, f, o, c",
            f"{fn}({b})",
        )
        for j, b in enumerate(blocks)
        if j != k
    ]
    line = f"{var} = {fn}({block})"
    return [StepMistake(output, f"{output} {says}", line, f"{var} = {new}") for says, new in wrong]


_LINES = {"C_t": "C = F * C_prev + I * C_tilde", "H_t": "H = O * torch.tanh(C)"}
_STATE_MISTAKES = (  # (output, message, what is written instead of its line in _LINES)
    ("C_t", "C_t looks like it is missing the F_t ⊙ C_{t-1} term", "C = I * C_tilde"),
    ("C_t", "C_t looks like it is missing the I_t ⊙ C̃_t term", "C = F * C_prev"),
    ("C_t", "C_t swaps the gates: it should be F_t ⊙ C_{t-1} + I_t ⊙ C̃_t", "C = I * C_prev + F * C_tilde"),
    ("C_t", "C_t uses O_t where F_t belongs", "C = O * C_prev + I * C_tilde"),
    ("C_t", "C_t uses H_{t-1} instead of C_{t-1}", "C = F * H_prev + I * C_tilde"),
    (
        "C_t",
        "C_t keeps all of C_{t-1}: the forget gate is missing, F_t ⊙ C_{t-1}",
        "C = C_prev + I * C_tilde",
    ),
    ("C_t", "C_t adds all of C̃_t: the input gate is missing, I_t ⊙ C̃_t", "C = F * C_prev + C_tilde"),
    ("H_t", "H_t uses C_t instead of tanh(C_t)", "H = O * C"),
    ("H_t", "H_t is missing the output gate: H_t = O_t ⊙ tanh(C_t)", "H = torch.tanh(C)"),
    ("H_t", "H_t uses C_{t-1} instead of C_t", "H = O * torch.tanh(C_prev)"),
    ("H_t", "H_t uses σ(C_t) instead of tanh(C_t)", "H = O * torch.sigmoid(C)"),
    ("H_t", "H_t uses C̃_t instead of tanh(C_t)", "H = O * C_tilde"),
)
STEP_MISTAKES: tuple[StepMistake, ...] = (
    *(mistake for gate in _GATE_LINES for mistake in _gate_mistakes(*gate)),
    *(StepMistake(output, message, _LINES[output], new) for output, message, new in _STATE_MISTAKES),
)
"""Every known mistake of ``lstm_step``; for each output, the first that matches names it."""


ARGUMENTS = ("XW_t", "H_prev", "C_prev", "W_h")


def _swapped(name: str, expected: dict) -> list:
    """The messages for ``name`` holding another output's value: returned in the wrong place."""
    if name in ("C_t", "H_t"):
        other = "H_t" if name == "C_t" else "C_t"
        return [
            ("lstm_step returns (C_t, H_t, …); it returns (H_t, C_t, (I_t, F_t, O_t, C̃_t))", expected[other])
        ]
    return [
        (
            f"the gate returned as {name} is {other}: return the gates in the order (I_t, F_t, O_t, C̃_t)",
            expected[other],
        )
        for other in OUTPUTS[:4]
        if other != name
    ]


def _outputs(result) -> dict:
    H, C, gates = result
    return dict(zip(OUTPUTS, (*gates, C, H)))


def check_lstm_step(lstm_step) -> None:
    g = torch.Generator().manual_seed(4)
    batch, hidden = 3, 5
    inputs = (randn(g, batch, 4 * hidden), randn(g, batch, hidden), randn(g, batch, hidden))
    inputs += (randn(g, hidden, 4 * hidden, scale=0.5),)  # XW_t, H_prev, C_prev, W_h
    expected = _outputs(reference_step(*inputs))

    given = tuple(x.clone() for x in inputs)
    out = lstm_step(*given)
    if not isinstance(out, (tuple, list)) or len(out) != 3 or not isinstance(out[2], (tuple, list)):
        raise ExerciseError("lstm_step should return (H_t, C_t, (I_t, F_t, O_t, C̃_t))")
    if len(out[2]) != 4:
        raise ExerciseError(f"the gates should be four tensors (I_t, F_t, O_t, C̃_t), got {len(out[2])}")
    actual = _outputs(out)
    wrong = [(m, _outputs(m.step()(*inputs))[m.output]) for m in STEP_MISTAKES]
    for name in OUTPUTS:
        mistakes = [(m.message, value) for m, value in wrong if m.output == name]
        mistakes += _swapped(name, expected)
        expect_close(name, actual[name], expected[name], mistakes, EQUATIONS[name])
    for argument, before, after in zip(ARGUMENTS, inputs, given):
        if not torch.equal(before, after):
            raise ExerciseError(
                f"lstm_step changes its argument {argument} in place (+=, *=, or an out= or a method "
                "ending in _): it belongs to the caller, who uses it again; compute new tensors, "
                "e.g. XW_t + H_prev @ W_h"
            )
    g = torch.Generator().manual_seed(5)
    small = (randn(g, 2, 8), randn(g, 2, 2), randn(g, 2, 2), randn(g, 2, 8, scale=0.5))
    expect_differentiable(lambda *xs: tuple(lstm_step(*xs)[:2]), small, "lstm_step")
