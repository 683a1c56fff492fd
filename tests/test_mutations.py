"""The parity test is sharp: each plausible mistake in a gate equation breaks it."""

import pytest
import torch

from lstm_lib import backends

from .test_parity import TOL, max_error


def mutant(kind):
    def step(XW_t, H_prev, C_prev, W_h):
        pre_I, pre_F, pre_O, pre_C = (XW_t + H_prev @ W_h).chunk(4, dim=1)
        act = {"I": torch.sigmoid, "F": torch.sigmoid, "O": torch.sigmoid, "C": torch.tanh}
        if kind.startswith("tanh_"):
            act[kind[-1]] = torch.tanh
        if kind == "sigmoid_C":
            act["C"] = torch.sigmoid
        I, F, O, C_tilde = act["I"](pre_I), act["F"](pre_F), act["O"](pre_O), act["C"](pre_C)
        if kind == "swap_F_I":
            I, F = F, I
        if kind == "no_forget":
            C = C_prev + I * C_tilde
        elif kind == "no_input":
            C = F * C_prev + C_tilde
        elif kind == "no_memory":
            C = I * C_tilde
        else:
            C = F * C_prev + I * C_tilde
        H = O * C if kind == "no_tanh_C" else O * torch.tanh(C)
        if kind == "no_output":
            H = torch.tanh(C)
        return H, C, (I, F, O, C_tilde)

    return step


MUTATIONS = [
    "tanh_I", "tanh_F", "tanh_O", "sigmoid_C", "swap_F_I",
    "no_forget", "no_input", "no_memory", "no_tanh_C", "no_output",
]  # fmt: skip


def test_the_unmutated_step_passes():
    assert max_error(1) < TOL


@pytest.mark.parametrize("kind", MUTATIONS)
def test_wrong_gate_equation_is_caught(kind, monkeypatch):
    monkeypatch.setattr(backends, "lstm_step", mutant(kind))
    assert max_error(1) > 1e-3, f"parity did not notice the mutation {kind}"
