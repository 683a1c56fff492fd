"""Checks of ``my_lstm/evaluation.py``: ``evaluate``, the mean NLL per character (chapter 8)."""

import math

import torch

from ...evaluation import evaluate as reference_evaluate
from ...model import CharLSTM, ModelConfig
from ..compare import DTYPE, ExerciseError, close, expect_close, mistaken

_LOSS_SUM = ('targets.reshape(-1), reduction="sum"', "targets.reshape(-1)")
_PER_WINDOW = ("total_tokens += targets.numel()", "total_tokens += 1")
_RANGE = "range(0, len(source) - 1, seq_len)"
_RETURN = "return total_nll / total_tokens"
MISTAKES = (  # (message, edits of lstm_lib.evaluation.evaluate)
    (
        "perplexity is averaged per window, not per token: sum the losses over every target and "
        "divide once by their number",
        _LOSS_SUM,
        _PER_WINDOW,
    ),
    (
        "evaluate takes the log of the mean of the per-window perplexities exp(window's mean NLL): "
        "sum the losses over every target and divide once by their number (by Jensen's inequality, "
        "averaging perplexities gives too high a perplexity, chapter 8)",
        _LOSS_SUM,
        _PER_WINDOW,
        ("total_nll += F.cross_entropy(", "total_nll += math.exp(F.cross_entropy("),
        (").item()", ").item())"),
        (_RETURN, "return math.log(total_nll / total_tokens)"),
    ),
    (
        "the state is not carried from one window to the next",
        ("logits, state = model(inputs, state)", "logits, state = model(inputs, None)"),
    ),
    (
        "the last, shorter window is left out",
        (_RANGE, "range(0, len(source) - seq_len, seq_len)"),
    ),
    (
        "every window is counted as seq_len × batch targets, but the last one is shorter: count the "
        "targets of each window, targets.numel()",
        ("total_tokens += targets.numel()", "total_tokens += seq_len * source.shape[1]"),
    ),
    (
        "the number of targets counts rows (time steps), not characters: each row holds batch targets; "
        "count targets.numel()",
        ("total_tokens += targets.numel()", "total_tokens += len(targets)"),
    ),
    (
        "the sum of the losses is divided by rows × batch, every id of source; the first row is never "
        "a target: divide by the number of targets, (rows - 1) × batch",
        (_RETURN, "return total_nll / source.numel()"),
    ),
    (
        "the windows overlap: step from one window to the next by seq_len rows",
        (_RANGE, "range(0, len(source) - 1)"),
    ),
    (
        "the loss compares the logits with the inputs; the targets are the inputs shifted by one",
        ('targets.reshape(-1), reduction="sum"', 'inputs.reshape(-1), reduction="sum"'),
    ),
)


def check_evaluate(evaluate) -> None:
    torch.manual_seed(14)
    model = CharLSTM(ModelConfig(vocab_size=6, embedding_size=3, hidden_size=4, num_layers=2, dropout=0.3))
    model = model.to(DTYPE).train()
    g = torch.Generator().manual_seed(15)
    source = torch.randint(0, 6, (2 * 11,), generator=g).view(2, 11).t().contiguous()  # 11 rows
    seq_len = 4  # windows of 4, 4 and 2 rows: the last one is short
    expected = reference_evaluate(model, source, seq_len)
    model.train()
    first = evaluate(model, source, seq_len)
    still_training = model.training
    model.train()
    if not close(evaluate(model, source, seq_len), first):
        raise ExerciseError(
            "evaluate runs the model in training mode (dropout makes it random): call model.eval()"
        )
    mistakes = [
        (message, mistaken(reference_evaluate, *edits)(model, source, seq_len))
        for message, *edits in MISTAKES
    ]
    mistakes += [
        ("evaluate returns the perplexity; return the mean NLL (its log)", math.exp(expected)),
        (
            "evaluate returns bits per character (NLL / ln 2); return the mean NLL in nats",
            expected / math.log(2),
        ),
    ]
    expect_close("the mean NLL", first, expected, mistakes, "Σ -log p(target) / number of targets")
    if not isinstance(first, float):
        raise ExerciseError(
            f"evaluate should return a Python float (use .item()), got {type(first).__name__}"
        )
    if not still_training:
        raise ExerciseError(
            "evaluate leaves the model in eval mode: restore its mode (model.train(was_training))"
        )
    model.eval()
    evaluate(model, source, seq_len)
    if model.training:
        raise ExerciseError(
            "evaluate puts a model that was in eval mode into training mode: restore the mode it had, "
            "model.train(was_training), not model.train()"
        )
