"""The checks of the exercises that extend the library (lstm_lib.course.extensions)."""

import pytest
import torch

from lstm_lib import course
from lstm_lib.course import ExerciseError, extensions


def _vd_reference(H, p):
    return H * (torch.rand(H.shape[1:], dtype=H.dtype) >= p).to(H.dtype) / (1 - p)


CASES = {  # check, a wrong answer, the words its message must contain
    "peephole-O-sees-C_prev": (
        course.check_peephole_step,
        lambda *a: extensions.peephole_step(*a, o_sees="C_prev"),
        "O_t looks at C_{t-1}",
    ),
    "peephole-swapped": (
        course.check_peephole_step,
        lambda *a: extensions.peephole_step(*a, swap=True),
        "each other's peephole weights",
    ),
    "bptt-no-recurrence": (
        course.check_bptt_backward,
        lambda *a: extensions.bptt_backward(*a, recurrent=False),
        "∂L/∂A_{t+1} W_hᵀ",
    ),
    "bptt-no-carry": (
        course.check_bptt_backward,
        lambda *a: extensions.bptt_backward(*a, carry=False),
        "∂L/∂C_{t+1} ⊙ F_{t+1}",
    ),
    "bptt-H_t": (
        course.check_bptt_backward,
        lambda *a: extensions.bptt_backward(*a, h_prev=False),
        "reads H_{t-1}",
    ),
    "dropout-per-step": (
        course.check_variational_dropout,
        lambda H, p: torch.nn.functional.dropout(H, p),
        "changes from one time step to the next",
    ),
    "dropout-unscaled": (
        course.check_variational_dropout,
        lambda H, p: H * (torch.rand(H.shape[1:], dtype=H.dtype) >= p),
        "not scaled",
    ),
    "top-p-without-crossing": (
        course.check_top_p,
        lambda z, T, p: extensions.top_p_distribution(z, T, p, crossing=False),
        "carries the mass past p",
    ),
    "top-p-not-renormalized": (
        course.check_top_p,
        lambda z, T, p: extensions.top_p_distribution(z, T, p, renormalize=False),
        "do not sum to 1",
    ),
}


@pytest.mark.parametrize(
    ("check", "right"),
    [
        (course.check_peephole_step, extensions.peephole_step),
        (course.check_bptt_backward, extensions.bptt_backward),
        (course.check_variational_dropout, _vd_reference),
        (course.check_top_p, extensions.top_p_distribution),
    ],
)
def test_the_reference_passes_and_leaves_the_random_state(check, right, capsys):
    rng = torch.get_rng_state()
    check(right)
    assert capsys.readouterr().out.startswith("✓ ")
    assert torch.equal(torch.get_rng_state(), rng)


@pytest.mark.parametrize(("check", "wrong", "words"), CASES.values(), ids=CASES)
def test_a_known_mistake_is_named(check, wrong, words):
    with pytest.raises(ExerciseError) as failure:
        check(wrong)
    assert words in str(failure.value)


def test_a_stub_says_it_is_not_written(capsys):
    def stub(*args):
        raise NotImplementedError("write it")

    for check in (course.check_peephole_step, course.check_bptt_backward, course.check_top_p):
        with pytest.raises(ExerciseError, match="not implemented yet"):
            check(stub)
    assert capsys.readouterr().out == ""
