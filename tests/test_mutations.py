"""The parity test is sharp: each plausible mistake in a gate equation breaks it, in the
autograd loop's step and in the hand-written step kernels.

The mistakes in the gate equations are the grader's own catalogue
(:data:`lstm_lib.course.grading.cell.STEP_MISTAKES`): each is planted into the library's
layer here, and the grader names each one.
"""

import pytest
import torch

from lstm_lib import layer
from lstm_lib.course import ExerciseError
from lstm_lib.course.grading.cell import STEP_MISTAKES, check_lstm_step
from lstm_lib.fast import step_kernels

from . import test_backends
from .test_parity import TOL, max_error

IDS = [f"{mistake.output}: {mistake.new}" for mistake in STEP_MISTAKES]


def test_the_unmutated_step_passes():
    assert max_error(1) < TOL


@pytest.mark.parametrize("mistake", STEP_MISTAKES, ids=IDS)
def test_wrong_gate_equation_is_caught(mistake, monkeypatch):
    monkeypatch.setattr(layer, "lstm_step", mistake.step())
    assert max_error(1) > 1e-3, f"parity did not notice {mistake.new!r}"


@pytest.mark.parametrize("mistake", STEP_MISTAKES, ids=IDS)
def test_the_grader_names_each_mistake(mistake):
    with pytest.raises(ExerciseError) as failure:
        check_lstm_step(mistake.step())
    assert str(failure.value) == mistake.message


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
