"""Checks of ``my_lstm/train.py``: ``train_step``, one truncated-BPTT update (chapters 6 and 7)."""

import copy
from contextlib import contextmanager

import torch

from ... import batching
from ...model import CharLSTM, ModelConfig
from ...train import train_step as reference_step
from ..compare import DTYPE, ExerciseError, expect_close, mistaken

DETACH_MESSAGE = (
    "the state is not detached between windows: the second train_step backpropagates into the first "
    "window (detach the incoming state)"
)
MISTAKES = {  # what a learner writes wrong in lstm_lib.train.train_step
    "summed loss": ("targets.reshape(-1))", 'targets.reshape(-1), reduction="sum")'),
    "norm after clipping": (
        "grad_norm.item()",
        "torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])).item()",
    ),
    "no zero_grad": ("optimizer.zero_grad(set_to_none=True)", "pass"),
    "no clipping": ("clip if clip > 0 else math.inf", "math.inf"),
}


class _SGD:
    """Plain gradient descent with the optimizer interface train_step uses (``zero_grad``,
    ``step``); lighter to set up than ``torch.optim.SGD``, whose first use imports the compiler."""

    def __init__(self, params, lr: float):
        self.params, self.lr = list(params), lr

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        for p in self.params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-self.lr)


class _Windows:
    """A small model, and two consecutive windows of the same streams."""

    def __init__(self):
        torch.manual_seed(12)
        self.model = CharLSTM(ModelConfig(vocab_size=6, embedding_size=3, hidden_size=5)).to(DTYPE)
        g = torch.Generator().manual_seed(13)
        source = torch.randint(0, 6, (9, 3), generator=g)
        self.windows = [batching.get_batch(source, i, 4) for i in (0, 4)]

    def model_params(self):
        """The untrained parameters, flattened into one vector."""
        return torch.cat([p.detach().flatten() for p in self.model.parameters()])

    def run(self, step_fn, clip):
        """``step_fn`` on both windows, from a copy of the model: the two results and the parameters."""
        model = copy.deepcopy(self.model)
        optimizer = _SGD(model.parameters(), lr=0.5)
        results, state = [], None
        for inputs, targets in self.windows:
            result = step_fn(model, optimizer, inputs, targets, state, clip)
            if not isinstance(result, (tuple, list)) or len(result) != 3:
                raise ExerciseError("train_step should return (loss, grad_norm, state)")
            results.append(result)
            state = result[2]
        return results, torch.cat([p.detach().flatten() for p in model.parameters()])

    def mistake(self, kind, clip):
        """:meth:`run` with lstm_lib's train_step made wrong as ``MISTAKES[kind]`` says."""
        return self.run(mistaken(reference_step, MISTAKES[kind]), clip)


@contextmanager
def _undetached_state_named():
    """Autograd's error for a backward into an earlier window, as the mistake that causes it."""
    try:
        yield
    except RuntimeError as exc:
        if "backward through the graph a second time" in str(exc):
            raise ExerciseError(DETACH_MESSAGE) from None
        raise


def _run_student(windows, train_step, clip):
    with _undetached_state_named():
        return windows.run(train_step, clip)


def check_train_step(train_step) -> None:
    windows = _Windows()
    clip = 0.05  # small enough that every step is clipped
    (first, second), params = _run_student(windows, train_step, clip)
    for what, value in (("the loss", first[0]), ("grad_norm", first[1])):
        if not isinstance(value, float):
            raise ExerciseError(f"{what} should be a Python float (use .item()), got {type(value).__name__}")
    state = first[2]
    if not isinstance(state, (tuple, list)) or not all(isinstance(s, torch.Tensor) for s in state):
        raise ExerciseError("the returned state should be the model's final (H, C)")
    if any(s.requires_grad for s in state):
        raise ExerciseError(
            "the returned state is not detached: the next window would backpropagate into this one"
        )
    _check_incoming_detach(windows, train_step)

    (ref_first, ref_second), ref_params = windows.run(reference_step, clip)
    expect_close(
        "the loss",
        first[0],
        ref_first[0],
        [
            (
                "the loss is summed over the characters; use their mean",
                windows.mistake("summed loss", clip)[0][0][0],
            )
        ],
        "the mean cross-entropy over all T × batch characters",
    )
    expect_close(
        "grad_norm",
        first[1],
        ref_first[1],
        [
            (
                "grad_norm is measured after clipping; return the norm before clipping",
                windows.mistake("norm after clipping", clip)[0][0][1],
            )
        ],
        "the global gradient norm before clipping",
    )
    expect_close(
        "grad_norm of the second window",
        second[1],
        ref_second[1],
        [
            (
                "the gradients are not zeroed before backward: they pile up from one window to the next",
                windows.mistake("no zero_grad", clip)[0][1][1],
            )
        ],
    )
    for name, actual, expected in (("H", state[0], ref_first[2][0]), ("C", state[1], ref_first[2][1])):
        expect_close(f"the returned {name}", actual, expected, [], "the model's final state, detached")
    expect_close(
        "the parameters after two steps",
        params,
        ref_params,
        [
            (
                "the gradients are not clipped to clip: use clip_grad_norm_",
                windows.mistake("no clipping", clip)[1],
            ),
            ("the parameters did not change: take the optimizer step after backward", windows.model_params()),
        ],
    )
    (first, _), params = _run_student(windows, train_step, 0.0)
    (ref_first, _), ref_params = windows.run(reference_step, 0.0)
    expect_close(
        "the parameters with clip=0",
        params,
        ref_params,
        [("clip=0 must turn clipping off; it clips every gradient to 0", windows.model_params())],
        "an unclipped step",
    )
    expect_close("grad_norm with clip=0", first[1], ref_first[1])


def _check_incoming_detach(windows, train_step) -> None:
    """A state that still hangs on an earlier graph must not receive gradients."""
    model = copy.deepcopy(windows.model)
    optimizer = _SGD(model.parameters(), lr=0.5)
    probe = torch.ones((), dtype=DTYPE, requires_grad=True)
    H, C = (torch.full((1, 3, 5), 0.1, dtype=DTYPE) for _ in range(2))
    inputs, targets = windows.windows[1]
    with _undetached_state_named():
        train_step(model, optimizer, inputs, targets, (H * probe, C * probe), 1.0)
    if probe.grad is not None:
        raise ExerciseError(DETACH_MESSAGE)
