"""The parity test is sharp: each plausible mistake in a gate equation breaks it,
in the autograd backend's step and in the hand-written step kernels."""

import pytest
import torch

from lstm_lib import backends, step_kernels

from . import test_backends
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


def no_doubling(A, hidden):
    return A.sigmoid_()  # σ(A^c) where σ(2A^c) is needed


def no_minus_one(s):
    return s.mul_(2)  # 2σ(2x), not 2σ(2x) - 1


def sigmoid_derivative_for_tanh(g, y, grad_input):
    return torch.mul(g, y * (1 - y), out=grad_input)  # σ' where tanh' belongs


KERNEL_MUTATIONS = {
    "_sigmoid_of_every_block_": no_doubling,
    "_tanh_from_sigmoid_": no_minus_one,
    "_tanh_backward": sigmoid_derivative_for_tanh,
}


@pytest.mark.parametrize("helper", sorted(KERNEL_MUTATIONS))
def test_wrong_step_kernel_is_caught(helper, monkeypatch):
    monkeypatch.setattr(step_kernels, helper, KERNEL_MUTATIONS[helper])
    assert max_error(1, "manual") > 1e-3, f"parity did not notice the broken {helper}"
    caught = []
    for step_test in (
        test_backends.test_step_kernels_forward_is_lstm_step,
        test_backends.test_step_kernels_backward_is_autograd_of_one_step,
    ):
        try:
            step_test("eager")
        except AssertionError:
            caught.append(step_test.__name__)
    assert caught, f"the one-step kernel tests did not notice the broken {helper}"
