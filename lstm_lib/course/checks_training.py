"""Checks of the training pieces: batching, the TBPTT step, evaluation and sampling.

Each ``check_<name>(student)`` raises :class:`~lstm_lib.course.compare.Mismatch`
naming the first known mistake it recognizes.
"""

import copy
import math

import torch
import torch.nn.functional as F

from .. import batching, evaluation
from ..generate import next_char_distribution as reference_distribution
from ..model import CharLSTM, ModelConfig
from .compare import Mismatch, close, expect_close, expect_tensor

DTYPE = torch.float64
DETACH_MESSAGE = (
    "the state is not detached between windows: the second train_step backpropagates into the first "
    "window (detach the incoming state)"
)

# ---------------------------------------------------------------------------- batching


def check_batchify(batchify) -> None:
    ids = torch.arange(23)
    expected = batching.batchify(ids, 4)
    rows = len(ids) // 4
    result = batchify(ids.clone(), 4)
    kept = ids[: rows * 4]
    expect_close(
        "batchify(arange(23), 4)",
        result,
        expected,
        [
            (
                "the columns are not consecutive chunks of the text (view(rows, batch_size) interleaves "
                "them): use view(batch_size, rows).t()",
                kept.view(rows, 4),
            ),
            ("the result is (batch_size, rows); transpose it to (rows, batch_size)", expected.t()),
        ],
        "column b = ids[b*rows : (b+1)*rows], with rows = n // batch_size and the remainder dropped",
    )
    if isinstance(result, torch.Tensor) and result.shape != expected.shape and result.numel() == len(ids):
        raise Mismatch("the ids that do not fill a whole row must be dropped")
    expect_close("batchify(arange(23), 4, seq_len=2)", batchify(ids.clone(), 4, 2), expected)
    expect_close(
        "batchify(arange(10), 3)", batchify(torch.arange(10), 3), batching.batchify(torch.arange(10), 3)
    )


def check_get_batch(get_batch) -> None:
    source = torch.arange(26).view(2, 13).t().contiguous()  # 13 rows, 2 streams
    seq_len = 5
    for i in range(0, len(source) - 1, seq_len):  # windows of 5, 5 and 2 rows
        expected_in, expected_tg = batching.get_batch(source, i, seq_len)
        result = get_batch(source, i, seq_len)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise Mismatch("get_batch should return a pair (inputs, targets)")
        inputs, targets = result
        short = i + seq_len > len(source) - 1
        if short and isinstance(inputs, torch.Tensor) and len(inputs) != len(expected_in):
            raise Mismatch(
                f"the last window is not shortened: with {len(source)} rows, the window at row {i} has "
                f"T = min(seq_len, rows - 1 - i) = {len(expected_in)} rows, so that its targets exist"
            )
        expect_close(
            f"the inputs at row {i}",
            inputs,
            expected_in,
            [("i is a row index, not a window number", source[i * seq_len : i * seq_len + seq_len])],
            "rows i … i+T-1",
        )
        expect_close(
            f"the targets at row {i}",
            targets,
            expected_tg,
            [("the targets are not shifted: they should be rows i+1 … i+T", expected_in)],
            "rows i+1 … i+T",
        )


# ---------------------------------------------------------------------------- train_step


def _step(model, optimizer, inputs, targets, state, clip, mean=True, zero=True, clipping=True, after=False):
    """The reference update, optionally with one of the usual mistakes."""
    if state is not None:
        state = tuple(s.detach() for s in state)
    logits, state = model(inputs, state)
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="mean" if mean else "sum"
    )
    if zero:
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip if clip > 0 and clipping else math.inf)
    if after:
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    optimizer.step()
    return loss.item(), float(norm), tuple(s.detach() for s in state)


def _reference_train_step():
    try:
        from ..train import train_step
    except ImportError:  # a library without it: the same update, written here
        return _step
    return train_step


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

    def run(self, step_fn, clip, **mistake):
        model = copy.deepcopy(self.model)
        optimizer = _SGD(model.parameters(), lr=0.5)
        results, state = [], None
        for inputs, targets in self.windows:
            if mistake:
                result = _step(model, optimizer, inputs, targets, state, clip, **mistake)
            else:
                result = step_fn(model, optimizer, inputs, targets, state, clip)
            if not isinstance(result, (tuple, list)) or len(result) != 3:
                raise Mismatch("train_step should return (loss, grad_norm, state)")
            results.append(result)
            state = result[2]
        return results, torch.cat([p.detach().flatten() for p in model.parameters()])


def _run_student(windows, train_step, clip):
    try:
        return windows.run(train_step, clip)
    except RuntimeError as exc:
        if "backward through the graph a second time" in str(exc):
            raise Mismatch(DETACH_MESSAGE) from None
        raise


def check_train_step(train_step) -> None:
    windows = _Windows()
    reference = _reference_train_step()
    clip = 0.05  # small enough that every step is clipped
    (first, second), params = _run_student(windows, train_step, clip)
    for what, value in (("the loss", first[0]), ("grad_norm", first[1])):
        if not isinstance(value, float):
            raise Mismatch(f"{what} should be a Python float (use .item()), got {type(value).__name__}")
    state = first[2]
    if not isinstance(state, (tuple, list)) or not all(isinstance(s, torch.Tensor) for s in state):
        raise Mismatch("the returned state should be the model's final (H, C)")
    if any(s.requires_grad for s in state):
        raise Mismatch(
            "the returned state is not detached: the next window would backpropagate into this one"
        )
    _check_incoming_detach(windows, train_step)

    (ref_first, ref_second), ref_params = windows.run(reference, clip)

    def mistake(**kw):
        return windows.run(None, clip, **kw)

    expect_close(
        "the loss",
        first[0],
        ref_first[0],
        [("the loss is summed over the characters; use their mean", mistake(mean=False)[0][0][0])],
        "the mean cross-entropy over all T × batch characters",
    )
    expect_close(
        "grad_norm",
        first[1],
        ref_first[1],
        [
            (
                "grad_norm is measured after clipping; return the norm before clipping",
                mistake(after=True)[0][0][1],
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
                mistake(zero=False)[0][1][1],
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
            ("the gradients are not clipped to clip: use clip_grad_norm_", mistake(clipping=False)[1]),
            ("the parameters did not change: take the optimizer step after backward", windows.model_params()),
        ],
    )
    (first, _), params = _run_student(windows, train_step, 0.0)
    (ref_first, _), ref_params = windows.run(reference, 0.0)
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
    try:
        train_step(model, optimizer, inputs, targets, (H * probe, C * probe), 1.0)
    except RuntimeError as exc:
        if "backward through the graph a second time" in str(exc):
            raise Mismatch(DETACH_MESSAGE) from None
        raise
    if probe.grad is not None:
        raise Mismatch(DETACH_MESSAGE)


# ---------------------------------------------------------------------------- evaluate


@torch.no_grad()
def _evaluate(model, source, seq_len, per_window=False, reset=False, drop_last=False):
    model.eval()
    state, losses, counts = None, [], []
    for i in range(0, len(source) - 1, seq_len):
        inputs, targets = batching.get_batch(source, i, seq_len)
        if drop_last and len(inputs) < seq_len:
            break
        logits, state = model(inputs, None if reset else state)
        losses.append(F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum").item())
        counts.append(targets.numel())
    model.train()
    if per_window:
        return sum(loss / n for loss, n in zip(losses, counts)) / len(losses)
    return sum(losses) / sum(counts)


def check_evaluate(evaluate) -> None:
    torch.manual_seed(14)
    model = CharLSTM(ModelConfig(vocab_size=6, embedding_size=3, hidden_size=4, num_layers=2, dropout=0.3))
    model = model.to(DTYPE).train()
    g = torch.Generator().manual_seed(15)
    source = torch.randint(0, 6, (2 * 11,), generator=g).view(2, 11).t().contiguous()  # 11 rows
    seq_len = 4  # windows of 4, 4 and 2 rows: the last one is short
    expected = evaluation.evaluate(model, source, seq_len)
    model.train()
    first = evaluate(model, source, seq_len)
    still_training = model.training
    model.train()
    if not close(evaluate(model, source, seq_len), first):
        raise Mismatch(
            "evaluate runs the model in training mode (dropout makes it random): call model.eval()"
        )
    expect_close(
        "the mean NLL",
        first,
        expected,
        [
            (
                "perplexity is averaged per window, not per token: sum the losses over every target and "
                "divide once by their number",
                _evaluate(model, source, seq_len, per_window=True),
            ),
            (
                "the state is not carried from one window to the next",
                _evaluate(model, source, seq_len, reset=True),
            ),
            ("the last, shorter window is left out", _evaluate(model, source, seq_len, drop_last=True)),
            ("evaluate returns the perplexity; return the mean NLL (its log)", math.exp(expected)),
        ],
        "Σ -log p(target) / number of targets",
    )
    if not isinstance(first, float):
        raise Mismatch(f"evaluate should return a Python float (use .item()), got {type(first).__name__}")
    if not still_training:
        raise Mismatch("evaluate leaves the model in eval mode: restore its mode (model.train(was_training))")


# ---------------------------------------------------------------------------- sampling


def _top_k_probs(logits, k, temperature=1.0):
    scaled = logits / temperature
    kth = scaled.topk(k, dim=-1).values[..., -1:]
    return scaled.masked_fill(scaled < kth, float("-inf")).softmax(-1)


def check_next_char_distribution(next_char_distribution) -> None:
    g = torch.Generator().manual_seed(16)
    vocab = 10
    logits = torch.randn(2, 3, vocab, generator=g, dtype=DTYPE) * 2

    def call(*args, **kwargs):
        result = next_char_distribution(logits.clone(), *args, **kwargs)
        expect_tensor("the distribution", result, tuple(logits.shape))
        return result

    reference = reference_distribution
    expect_close(
        "temperature 1",
        call(1.0),
        reference(logits, 1.0),
        [("the result is not normalized: apply a softmax to the logits", logits)],
        "softmax(logits)",
    )
    expect_close(
        "temperature 0.5",
        call(0.5),
        reference(logits, 0.5),
        [("the temperature multiplies the logits; divide them by it", (logits * 0.5).softmax(-1))],
        "softmax(logits / temperature)",
    )
    expect_close(
        "temperature 0",
        call(0.0),
        reference(logits, 0.0),
        [],
        "greedy decoding: a one-hot row on the largest logit (dividing by 0 gives NaN)",
    )
    k = 3
    result = call(1.0, top_k=k)
    kept = (result > 0).sum(-1)
    for count, message in ((k + 1, "top-k keeps k+1 characters"), (k - 1, "top-k keeps k-1 characters")):
        if bool((kept == count).all()):
            raise Mismatch(f"{message} (top_k={k} kept {count}); keep the logits >= the k-th largest")
    expect_close(
        f"top_k={k}",
        result,
        reference(logits, 1.0, k),
        [
            (
                "top-k probabilities do not sum to 1: mask the logits before the softmax",
                logits.softmax(-1) * (_top_k_probs(logits, k) > 0),
            ),
            ("top-k keeps the k smallest logits instead of the k largest", _top_k_probs(-logits, k)),
        ],
        "softmax over the k largest logits, 0 elsewhere",
    )
    expect_close("top_k=3 at temperature 0.7", call(0.7, top_k=k), reference(logits, 0.7, k))
    expect_close(
        "top_k larger than the vocabulary",
        call(1.0, top_k=vocab + 5),
        reference(logits, 1.0),
        [],
        "every character kept",
    )
    one_row = next_char_distribution(logits[0, 0].clone(), 0.8, 4)
    expect_close("a single row of logits (vocab,)", one_row, reference(logits[0, 0], 0.8, 4))
