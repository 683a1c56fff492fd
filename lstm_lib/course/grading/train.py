"""Checks of ``my_lstm/train.py``: ``train_step``, one truncated-BPTT update (chapters 6 and 7).

``train_step`` runs on two consecutive windows of a small model, with an optimizer that keeps
the gradients each of its steps used: besides the loss, the norm, the state and the parameters,
the check compares those gradients with the reference's, clipped by their global norm, and with
what each known way of clipping wrongly gives, so that a wrong update is named by what it did.
"""

import copy
from contextlib import contextmanager
from typing import NamedTuple

import torch

from ... import batching
from ...model import CharLSTM, ModelConfig
from ...train import train_step as reference_step
from ..compare import DTYPE, ExerciseError, close, difference, expect_close, mistaken

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
    "state reset": ("logits, state = model(inputs, state)", "logits, state = model(inputs, None)"),
    "loss on the inputs": ("targets.reshape(-1))", "inputs.reshape(-1))"),
}
STATE_RESET = (
    "the state is reset every window (the model is called with state=None): the second window must "
    "start from the final state of the first; pass the state it is given to the model"
)


class _SGD:
    """Plain gradient descent with the optimizer interface train_step uses (``zero_grad``,
    ``step``); lighter to set up than ``torch.optim.SGD``, whose first use imports the compiler.
    ``used`` keeps the gradients of every step: what the update was made of."""

    def __init__(self, params, lr: float):
        self.params, self.lr = list(params), lr
        self.used = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        self.used.append(_gradients(self.params))
        for p in self.params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-self.lr)


def _gradients(params) -> list:
    """A copy of every parameter's gradient (None where it has none)."""
    return [None if p.grad is None else p.grad.detach().clone() for p in params]


def _flat(grads, like) -> torch.Tensor:
    """``grads`` as one vector, zeros where a gradient is None."""
    return torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for g, p in zip(grads, like)])


class Run(NamedTuple):
    """What two train_steps did: their results, the parameters after them, the gradients each
    optimizer step used and those left in the model after each train_step."""

    results: list
    params: torch.Tensor
    used: list
    left: list


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

    def run(self, step_fn, clip, learner=False) -> Run:
        """``step_fn`` on both windows, from a copy of the model; with ``learner``, the state
        each window returns is checked before the next window gets it."""
        model = copy.deepcopy(self.model)
        optimizer = _SGD(model.parameters(), lr=0.5)
        results, left, state = [], [], None
        for inputs, targets in self.windows:
            result = step_fn(model, optimizer, inputs, targets, state, clip)
            if not isinstance(result, (tuple, list)) or len(result) != 3:
                raise ExerciseError("train_step should return (loss, grad_norm, state)")
            if learner:
                _check_returned_state(result[2])
            results.append(result)
            left.append(_gradients(model.parameters()))
            state = result[2]
        params = torch.cat([p.detach().flatten() for p in model.parameters()])
        return Run(results, params, optimizer.used, left)

    def mistake(self, kind, clip) -> Run:
        """:meth:`run` with lstm_lib's train_step made wrong as ``MISTAKES[kind]`` says."""
        return self.run(mistaken(reference_step, MISTAKES[kind]), clip)


def _check_returned_state(state) -> None:
    if not isinstance(state, (tuple, list)) or not all(isinstance(s, torch.Tensor) for s in state):
        raise ExerciseError("the returned state should be the model's final (H, C)")
    attached = [name for name, s in zip("HC", state) if s.requires_grad]
    if len(attached) == len(state):
        raise ExerciseError(
            "the returned state is not detached: the next window would backpropagate into this one"
        )
    if attached:
        (name,) = attached
        other = "C" if name == "H" else "H"
        raise ExerciseError(
            f"the returned state is not detached: {name} is still attached to this window's graph "
            f"({other} is detached); detach both H and C"
        )


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
        return windows.run(train_step, clip, learner=True)


def _per_parameter(grads, clip):
    """Each gradient clipped to norm ``clip`` on its own (clip_grad_norm_ called per parameter)."""
    return [g * min(1.0, clip / (g.norm().item() + 1e-6)) for g in grads]


def _check_update(student: Run, windows: _Windows, clip: float, reference: Run) -> None:
    """The gradients of the first window's optimizer step: clipped by their global norm to ``clip``."""
    params = list(windows.model.parameters())
    steps = len(student.used)
    if steps == 0:
        raise ExerciseError("the parameters did not change: take the optimizer step after backward")
    if steps != len(windows.windows):
        raise ExerciseError(
            f"optimizer.step() is called {steps} times in {len(windows.windows)} train_steps; call it once "
            "per window"
        )
    used, expected = _flat(student.used[0], params), _flat(reference.used[0], params)
    if close(used, expected):
        return
    unclipped_run = windows.mistake("no clipping", clip)
    raw = unclipped_run.used[0]
    flat_raw = _flat(raw, params)
    left = _flat(student.left[0], params)
    first_norm = student.results[0][1]
    if not bool(used.any()) and bool(flat_raw.any()):
        raise ExerciseError(
            "the optimizer step saw no gradients: call optimizer.zero_grad() before loss.backward(), "
            "and optimizer.step() after it"
        )
    if close(used, flat_raw):
        if close(left, expected):
            raise ExerciseError(
                "the gradients are clipped after optimizer.step(): the step used the unclipped gradients; "
                "clip between loss.backward() and optimizer.step()"
            )
        if isinstance(first_norm, (int, float)) and first_norm == 0:
            raise ExerciseError(
                "clip_grad_norm_ is called before loss.backward(): it saw no gradients (grad_norm 0) and "
                "the step is unclipped; clip between loss.backward() and optimizer.step()"
            )
        raise ExerciseError("the gradients are not clipped to clip: use clip_grad_norm_")
    if close(used, _flat(_per_parameter(raw, clip), params)):
        raise ExerciseError(
            "each parameter's gradient is clipped on its own (clip_grad_norm_ called per parameter): clip "
            "the global norm of all of them together, clip_grad_norm_(model.parameters(), clip)"
        )
    if close(used, flat_raw.clamp(-clip, clip)):
        raise ExerciseError(
            "the gradients are clipped by value (clip_grad_value_): clip their global norm, "
            "clip_grad_norm_(model.parameters(), clip)"
        )
    scale = (used @ flat_raw / (flat_raw @ flat_raw)).item()
    if 0 < scale < 1 and close(used, flat_raw * scale):
        raise ExerciseError(
            f"the gradients are clipped to a global norm of {used.norm().item():.3g}, not clip = {clip:g}: "
            "clip_grad_norm_(model.parameters(), clip)"
        )
    raise ExerciseError(
        "the gradients the optimizer step used are wrong: they should be those of the mean loss, clipped "
        f"to a global norm of clip ({difference(used, expected)})"
    )


def _check_second_window(student: Run, windows: _Windows, clip: float, reference: Run) -> None:
    """The second window starts from the first one's state, with gradients of its own."""
    reset = windows.mistake("state reset", clip)
    expect_close(
        "the loss of the second window",
        student.results[1][0],
        reference.results[1][0],
        [(STATE_RESET, reset.results[1][0])],
        "the mean cross-entropy of the second window, from the first window's final state",
    )
    params = list(windows.model.parameters())
    used, expected = _flat(student.used[1], params), _flat(reference.used[1], params)
    if close(used, expected):
        return
    if close(used, _flat(windows.mistake("no zero_grad", clip).used[1], params)):
        raise ExerciseError(
            "the gradients are not zeroed before backward: they pile up from one window to the next"
        )


def check_train_step(train_step) -> None:
    windows = _Windows()
    clip = 0.05  # small enough that every step is clipped
    student = _run_student(windows, train_step, clip)
    first, second = student.results
    for what, value in (("the loss", first[0]), ("grad_norm", first[1])):
        if value is None:
            hint = " (clip_grad_value_ returns nothing; clip_grad_norm_ returns the norm)" * (
                what == "grad_norm"
            )
            raise ExerciseError(f"{what} is None: return it as a Python float{hint}")
        if not isinstance(value, float):
            raise ExerciseError(f"{what} should be a Python float (use .item()), got {type(value).__name__}")
    state = first[2]
    _check_incoming_detach(windows, train_step)

    reference = windows.run(reference_step, clip)
    ref_first, ref_second = reference.results
    expect_close(
        "the loss",
        first[0],
        ref_first[0],
        [
            (
                "the loss is summed over the characters; use their mean",
                windows.mistake("summed loss", clip).results[0][0],
            ),
            (
                "the loss compares the logits with the inputs; the targets are the inputs shifted by one",
                windows.mistake("loss on the inputs", clip).results[0][0],
            ),
        ],
        "the mean cross-entropy over all T × batch characters",
    )
    _check_update(student, windows, clip, reference)
    expect_close(
        "grad_norm",
        first[1],
        ref_first[1],
        [
            (
                "grad_norm is measured after clipping; return the norm before clipping",
                windows.mistake("norm after clipping", clip).results[0][1],
            )
        ],
        "the global gradient norm before clipping",
    )
    _check_second_window(student, windows, clip, reference)
    expect_close(
        "grad_norm of the second window",
        second[1],
        ref_second[1],
        [
            (
                "the gradients are not zeroed before backward: they pile up from one window to the next",
                windows.mistake("no zero_grad", clip).results[1][1],
            )
        ],
    )
    for name, actual, expected in (("H", state[0], ref_first[2][0]), ("C", state[1], ref_first[2][1])):
        expect_close(f"the returned {name}", actual, expected, [], "the model's final state, detached")
    expect_close(
        "the parameters after two steps",
        student.params,
        reference.params,
        [
            (
                "the gradients are not clipped to clip: use clip_grad_norm_",
                windows.mistake("no clipping", clip).params,
            ),
            ("the parameters did not change: take the optimizer step after backward", windows.model_params()),
        ],
    )
    student = _run_student(windows, train_step, 0.0)
    reference = windows.run(reference_step, 0.0)
    expect_close(
        "the parameters with clip=0",
        student.params,
        reference.params,
        [("clip=0 must turn clipping off; it clips every gradient to 0", windows.model_params())],
        "an unclipped step",
    )
    expect_close("grad_norm with clip=0", student.results[0][1], reference.results[0][1])


def _check_incoming_detach(windows, train_step) -> None:
    """A state that still hangs on an earlier graph must not receive gradients, through H or C."""
    model = copy.deepcopy(windows.model)
    optimizer = _SGD(model.parameters(), lr=0.5)
    probes = {name: torch.ones((), dtype=DTYPE, requires_grad=True) for name in "HC"}
    H, C = (torch.full((1, 3, 5), 0.1, dtype=DTYPE) * probes[name] for name in "HC")
    inputs, targets = windows.windows[1]
    with _undetached_state_named():
        train_step(model, optimizer, inputs, targets, (H, C), 1.0)
    leaks = [name for name, probe in probes.items() if probe.grad is not None]
    if len(leaks) == 2:
        raise ExerciseError(DETACH_MESSAGE)
    if leaks:
        (name,) = leaks
        other = "C" if name == "H" else "H"
        raise ExerciseError(
            f"the incoming {name} is not detached ({other} is): the second train_step backpropagates "
            f"through {name} into the first window; detach both H and C of the incoming state"
        )
