"""Checks of ``my_lstm/layer.py``: ``LSTMLayer.forward`` and ``StackedLSTM.forward`` (chapter 5).

Both are checked against ``nn.LSTM`` holding the same weights (:func:`torch_twin`, which the
parity tests of the library use too); a wrong result is compared with lstm_lib's own loop
with the mistake a learner makes in it.
"""

import functools
import math
from types import SimpleNamespace

import torch
from torch import nn

from ... import interop
from ...layer import LSTMLayer, StackedLSTM
from ..compare import (
    DTYPE,
    ExerciseError,
    close,
    dropout_scale,
    expect_close,
    expect_differentiable,
    expect_pair,
    mistaken,
    randn,
)


def torch_twin(stacked, input_size, hidden_size, num_layers=1, dtype=DTYPE) -> nn.LSTM:
    """A new ``nn.LSTM`` of these sizes whose weights are copied into ``stacked``
    (by :func:`lstm_lib.interop.copy_from_torch_lstm`): from then on both compute the same function.

    Args:
        stacked: a :class:`~lstm_lib.layer.StackedLSTM`, or anything with its ``num_layers``,
            ``hidden_size`` and ``layers[k].cell`` (one layer: :func:`as_stack`).
    """
    twin = nn.LSTM(input_size, hidden_size, num_layers).to(dtype)
    interop.copy_from_torch_lstm(stacked, twin)
    return twin


def as_stack(layer, hidden_size):
    """One layer seen as a stack of one, for :func:`torch_twin`."""
    return SimpleNamespace(num_layers=1, hidden_size=hidden_size, layers=[layer])


def _weights(layer):
    cell = getattr(layer, "cell", None)
    if cell is None or not all(hasattr(cell, n) for n in ("W_x", "W_h", "b")):
        raise ExerciseError(
            "the layer should keep its parameters in self.cell (W_x, W_h, b), as the template does"
        )
    return cell.W_x, cell.W_h, cell.b


# ---------------------------------------------------------------------------- LSTMLayer

_STEP_CALL = "lstm_step(XW_t, H, C, self.cell.W_h)"
LAYER_MISTAKES = (  # (message, edits of lstm_lib.layer.LSTMLayer.forward)
    (
        "(H, C) is not carried from one step to the next: every step starts from the initial state",
        (_STEP_CALL, "lstm_step(XW_t, *state, self.cell.W_h)"),
    ),
    (
        "H is not carried from one step to the next",
        (_STEP_CALL, "lstm_step(XW_t, state[0], C, self.cell.W_h)"),
    ),
    (
        "C is not carried from one step to the next",
        (_STEP_CALL, "lstm_step(XW_t, H, state[1], self.cell.W_h)"),
    ),
    ("the outputs stack C_t; they should stack H_t", ("outputs.append(H)", "outputs.append(C)")),
    (
        "the outputs start with H_0; they should be H_1 … H_T",
        ("return torch.stack(outputs),", "return torch.stack([state[0], *outputs[:-1]]),"),
    ),
    (
        "the state argument is ignored: the loop starts from zeros",
        ("H, C = state", "H, C = self.init_state(X.shape[1], X.device, X.dtype)"),
    ),
    (
        "the gates get no bias b: compute XW = self.cell.input_projection(X), which is X W_x + b",
        ("self.cell.input_projection(X).unbind(0)", "(X @ self.cell.W_x).unbind(0)"),
    ),
    (
        "the outputs are in reverse order: they should be H_1 … H_T, the last step last",
        ("return torch.stack(outputs),", "return torch.stack(outputs[::-1]),"),
    ),
)
DETACH_MISTAKES = (  # (message, edits of lstm_lib.layer.LSTMLayer.forward): the same values, no gradient
    (
        "H and C are detached inside the loop: the gradient does not flow from step t back to step t-1 "
        "(never detach inside the loop; truncation happens between windows)",
        (_STEP_CALL, "lstm_step(XW_t, H.detach(), C.detach(), self.cell.W_h)"),
    ),
    (
        "H is detached inside the loop: the gradient does not flow from H_t back to step t-1 "
        "(never detach inside the loop; truncation happens between windows)",
        (_STEP_CALL, "lstm_step(XW_t, H.detach(), C, self.cell.W_h)"),
    ),
    (
        "C is detached inside the loop: the gradient does not flow from C_t back to C_{t-1} "
        "(never detach inside the loop; truncation happens between windows)",
        (_STEP_CALL, "lstm_step(XW_t, H, C.detach(), self.cell.W_h)"),
    ),
    (
        "the outputs are detached: no gradient flows from them into the layer (append H, not H.detach())",
        ("outputs.append(H)", "outputs.append(H.detach())"),
    ),
)


@torch.no_grad()
def _layer_parity(student_layer) -> None:
    seq_len, batch, n_in, hidden = 5, 2, 3, 4
    layer = student_layer(n_in, hidden).to(DTYPE)
    _weights(layer)
    torch_lstm = torch_twin(as_stack(layer, hidden), n_in, hidden)
    reference = LSTMLayer(n_in, hidden).to(DTYPE)
    interop.copy_from_torch_lstm(as_stack(reference, hidden), torch_lstm)
    g = torch.Generator().manual_seed(6)
    X, H0, C0 = randn(g, seq_len, batch, n_in), randn(g, batch, hidden), randn(g, batch, hidden)
    expected, (H_T, C_T) = torch_lstm(X, (H0[None], C0[None]))

    out = expect_pair(
        layer(X.clone(), (H0.clone(), C0.clone())), "LSTMLayer.forward's result (outputs, (H_T, C_T))"
    )
    outputs, state = out[0], expect_pair(out[1], "the final state (H_T, C_T)")
    mistakes = [
        (message, mistaken(LSTMLayer.forward, edit)(reference, X, (H0, C0))[0])
        for message, edit in LAYER_MISTAKES
    ]
    if isinstance(outputs, torch.Tensor) and close(outputs, expected.transpose(0, 1)):
        raise ExerciseError(
            "the outputs are stacked along dim 1: stack H_1 … H_T along dim 0, (seq_len, batch, hidden)"
        )
    expect_close(
        "the outputs",
        outputs,
        expected,
        mistakes,
        "H_1 … H_T stacked, as nn.LSTM gives with the same weights",
    )
    finals = (("H_T", state[0], H_T[0], H0, C_T[0]), ("C_T", state[1], C_T[0], C0, H_T[0]))
    for name, actual, want, start, other in finals:
        expect_close(
            name,
            actual,
            want,
            [
                (f"{name} is the initial state, not the last step's", start),
                ("the final state is (C_T, H_T); return (H_T, C_T)", other),
            ],
        )
    try:
        outputs, _ = layer(X.clone())
    except (TypeError, AttributeError) as exc:
        if "NoneType" not in str(exc):
            raise
        raise ExerciseError(
            f"LSTMLayer.forward(X) with no state raised {type(exc).__name__}: {exc}; when state is None, "
            "start from zeros: state = self.init_state(X.shape[1], X.device, X.dtype)"
        ) from None
    expect_close("the outputs with state=None (zeros)", outputs, torch_lstm(X)[0])


def _gradients(forward, X, H0, C0, seed):
    """The gradients of a random weighting of ``forward``'s outputs and final state with respect to
    ``(X, H0, C0)`` (None where none flows), or None when nothing the layer returns carries a gradient."""
    X, H0, C0 = (x.detach().clone().requires_grad_() for x in (X, H0, C0))
    with torch.enable_grad():
        outputs, (H, C) = forward(X, (H0, C0))
        g = torch.Generator().manual_seed(seed)
        results = [r for r in (outputs, H, C) if isinstance(r, torch.Tensor) and r.requires_grad]
        if not results:
            return None
        loss = sum((r * randn(g, *r.shape)).sum() for r in results)
        grads = torch.autograd.grad(loss, (X, H0, C0), allow_unused=True)
    return [torch.zeros_like(x) if d is None else d for x, d in zip((X, H0, C0), grads)]


def _check_gradients(layer, inputs) -> None:
    """The gradients through time are autograd's through the right loop; named when they are those of
    a loop with something detached."""
    reference = LSTMLayer(2, 2).to(DTYPE)
    reference.load_state_dict(layer.state_dict())
    expected = _gradients(reference, *inputs, seed=1)
    actual = _gradients(layer, *inputs, seed=1)
    if actual is not None and all(close(a, e) for a, e in zip(actual, expected)):
        return
    for message, edit in DETACH_MISTAKES:
        wrong = _gradients(functools.partial(mistaken(LSTMLayer.forward, edit), reference), *inputs, seed=1)
        if actual is not None and wrong is not None and all(close(a, w) for a, w in zip(actual, wrong)):
            raise ExerciseError(message)
    if actual is None:
        raise ExerciseError(
            "nothing LSTMLayer.forward returns carries a gradient: is the loop detached or run under "
            "torch.no_grad()?"
        )


def check_LSTMLayer(student_layer) -> None:
    _layer_parity(student_layer)
    layer = student_layer(2, 2).to(DTYPE)
    g = torch.Generator().manual_seed(7)
    inputs = (randn(g, 3, 2, 2), randn(g, 2, 2), randn(g, 2, 2))

    def run(X, H0, C0):
        outputs, (H, C) = layer(X, (H0, C0))
        return outputs, H, C

    _check_gradients(layer, inputs)
    expect_differentiable(run, inputs, "LSTMLayer.forward (through time)")


# ---------------------------------------------------------------------------- StackedLSTM

_LAYER_CALL = "X, (H, C) = layer(X, (state[0][k], state[1][k]))"
STACK_MISTAKES = (  # (message, edits of lstm_lib.layer.StackedLSTM.forward)
    (
        "every layer reads X; layer k > 0 should read the outputs of layer k-1",
        (_LAYER_CALL, "Y, (H, C) = layer(X, (state[0][k], state[1][k]))"),
        ("return X, (", "return Y, ("),
    ),
    (
        "every layer starts from the state of layer 0; layer k starts from (H[k], C[k])",
        (_LAYER_CALL, "X, (H, C) = layer(X, (state[0][0], state[1][0]))"),
    ),
    (
        "layer k starts from (H[k], H[k]): its initial cell state is C[k], state[1][k]",
        (_LAYER_CALL, "X, (H, C) = layer(X, (state[0][k], state[0][k]))"),
    ),
    (
        "layer k starts from (C[k], H[k]): the state is (H, C), H first",
        (_LAYER_CALL, "X, (H, C) = layer(X, (state[1][k], state[0][k]))"),
    ),
)


@torch.no_grad()
def check_StackedLSTM(student_stack) -> None:
    seq_len, batch, hidden, layers = 5, 2, 4, 2
    g = torch.Generator().manual_seed(8)
    for n_in in (hidden, 3):  # equal sizes first, so that a wrong input can be named
        stacked = student_stack(n_in, hidden, layers).to(DTYPE).eval()
        torch_lstm = torch_twin(stacked, n_in, hidden, layers)
        X = randn(g, seq_len, batch, n_in)
        H0, C0 = randn(g, layers, batch, hidden), randn(g, layers, batch, hidden)
        expected, (H_n, C_n) = torch_lstm(X, (H0, C0))
        out = expect_pair(stacked(X.clone(), (H0.clone(), C0.clone())), "StackedLSTM.forward's result")
        outputs, (H, C) = out[0], expect_pair(out[1], "the final state (H, C)")
        mistakes = []
        if n_in == hidden:
            reference = StackedLSTM(n_in, hidden, layers).to(DTYPE).eval()
            interop.copy_from_torch_lstm(reference, torch_lstm)
            mistakes = [
                (message, mistaken(StackedLSTM.forward, *edits)(reference, X, (H0, C0))[0])
                for message, *edits in STACK_MISTAKES
            ]
            mistakes += [
                ("the state argument is ignored: the layers start from zeros", torch_lstm(X)[0]),
                (
                    "the outputs are those of the first layer, not the top one",
                    reference.layers[0](X, (H0[0], C0[0]))[0],
                ),
            ]
        expect_close(
            "the outputs", outputs, expected, mistakes, "the top layer's H_1 … H_T, as nn.LSTM gives"
        )
        for name, actual, want in (("H", H, H_n), ("C", C, C_n)):
            if isinstance(actual, torch.Tensor) and actual.shape != want.shape:
                raise ExerciseError(
                    f"the final {name} should stack every layer's: shape {tuple(want.shape)} "
                    f"(num_layers, batch, hidden), got {tuple(actual.shape)}"
                )
            expect_close(
                f"the final {name}",
                actual,
                want,
                [("H and C are swapped in the final state", H_n if name == "C" else C_n)],
            )
    _check_dropout(student_stack)


def _run_recorded(stack, X):
    """``stack(X)``'s outputs, and what each layer read and returned, seen through forward hooks."""
    seen = {}

    def recorder(k):
        def hook(module, args, kwargs, output):
            first = args[0] if args else next(iter(kwargs.values()), None)
            seen[k] = (first, output[0] if isinstance(output, tuple) else output)

        return hook

    handles = [
        layer.register_forward_hook(recorder(k), with_kwargs=True) for k, layer in enumerate(stack.layers)
    ]
    try:
        out = expect_pair(stack(X), "StackedLSTM.forward's result")
    finally:
        for handle in handles:
            handle.remove()
    return out[0], (seen if sorted(seen) == list(range(len(stack.layers))) else None)


def _dropped(after, before) -> bool:
    """Whether ``after`` is ``before`` with dropout applied (some elements zeroed, the others scaled)."""
    scale = dropout_scale(after, before)
    return scale is not None and not math.isnan(scale)


@torch.no_grad()
def _check_dropout(student_stack) -> None:
    """Dropout between layers only: on the input of layer k > 0, not on X, not after the top layer,
    and not in eval mode. What each layer reads is seen through hooks."""
    g = torch.Generator().manual_seed(9)
    X = randn(g, 5, 3, 4)
    layers, p = 3, 0.5
    stack = student_stack(4, 4, layers, dropout=p).to(DTYPE)
    for training in (False, True):
        stack.train(training)
        torch.manual_seed(9)
        outputs, seen = _run_recorded(stack, X.clone())
        if seen is None:  # the layers are not called as modules (layer.forward(...)): no hooks ran
            _check_dropout_from_outside(student_stack, X)
            return
        reads = [seen[k][0] for k in range(layers)]
        gives = [X] + [seen[k][1] for k in range(layers)]  # what layer k should read, then the top's outputs
        on_input = _dropped(reads[0], X)
        between = [k for k in range(1, layers) if _dropped(reads[k], gives[k])]
        after_top = _dropped(outputs, gives[-1])
        if not training:
            if on_input or between or after_top:
                raise ExerciseError(
                    "dropout is applied in eval mode too: use self.dropout (nn.Dropout), which is off in "
                    "eval mode"
                )
            continue
        if on_input:
            raise ExerciseError(
                "dropout is applied to the input of layer 0 (X itself); apply it only between layers, "
                "to the input of layer k > 0"
            )
        if after_top:
            raise ExerciseError("dropout is applied after the top layer; apply it between layers only")
        if not between:
            raise ExerciseError(
                "dropout is not applied between layers (self.dropout on the input of layer k > 0)"
            )
        if len(between) < layers - 1:
            missing = [k for k in range(1, layers) if k not in between]
            raise ExerciseError(
                f"dropout is applied before layer(s) {', '.join(map(str, between))} but not before layer(s) "
                f"{', '.join(map(str, missing))}: apply it to the input of every layer k > 0"
            )


def _check_dropout_from_outside(student_stack, X) -> None:
    """The dropout check from the outputs alone: none with one layer, some with two."""
    one = student_stack(4, 4, 1, dropout=0.5).to(DTYPE)
    if not close(one.train()(X)[0], one.eval()(X)[0]):
        raise ExerciseError("dropout is applied after the top layer; apply it between layers only")
    two = student_stack(4, 4, 2, dropout=0.5).to(DTYPE)
    if close(two.train()(X)[0], two.eval()(X)[0]):
        raise ExerciseError(
            "dropout is not applied between layers (self.dropout on the input of layer k > 0)"
        )
