"""The grader names each plausible mistake: a catalogue of wrong lines a learner writes.

Each :class:`Mistake` is planted, alone, into a freshly written filled ``my_lstm`` (the one
function's source edited in the file, every edit checked to apply), and the package is graded:
the planted function fails with a message that names the mistake (``says``, words the message
must contain) and names nothing else (``CORRECT``: per function, phrases that describe lines of
it; the message holds none of them but those the mistake's ``allow`` lists), while every other
function still passes.
"""

import ast
from collections import Counter
from dataclasses import dataclass

import pytest

from lstm_lib import course
from lstm_lib.course import ExerciseError
from lstm_lib.course.exercises import BY_NAME, EXERCISES, PACKAGE
from lstm_lib.course.grader import grade_modules
from lstm_lib.course.loader import forget, load


@dataclass(frozen=True)
class Mistake:
    """``edits`` (``(old, new)`` pairs, applied at once; each ``old`` stands once in the file, inside
    ``function``) make ``function`` wrong; its message contains every one of ``says`` and no phrase
    of ``CORRECT[function]`` but those of ``allow``."""

    id: str
    function: str
    edits: tuple[tuple[str, str], ...]
    says: tuple[str, ...]
    allow: tuple[str, ...] = ()


def M(id, function, edits, says, allow=()):
    """A :class:`Mistake`; ``edits`` may be one ``(old, new)`` pair, ``says`` and ``allow`` one string."""
    if isinstance(edits[0], str):
        edits = (edits,)
    as_tuple = lambda x: (x,) if isinstance(x, str) else tuple(x)  # noqa: E731
    return Mistake(id, function, tuple(edits), as_tuple(says), as_tuple(allow))


CORRECT = {  # per function: phrases that describe (parts of) its lines; a message names only its mistake's
    "step_backward": (
        "dO_t",
        "o block",
        "dI_t",
        "i block",
        "dF_t",
        "f block",
        "dC̃_t",
        "c block",
        "dC_{t-1}",
        "path through H_t",
        "incoming dC",
        "σ'",
        "tanh'",
        "order",
    ),
    "train_step": (
        "clip",
        "zero_grad",
        "zeroed",
        "detach",
        "state",
        "summed",
        "the loss",
        "optimizer.step",
        "grad_norm is",
        "inputs",
    ),
    "evaluate": (
        "eval mode",
        "training mode",
        "state",
        "averaged per window",
        "per-window perplexities",
        "shorter",
        "targets.numel()",
        "returns the perplexity",
        "bits per character",
        "overlap",
        "inputs",
        "rows × batch",
    ),
    "CharLSTM": (
        "dropout",
        "embedding",
        "head",
        "has no bias",
        "forget_bias",
        "b_f",
        "state",
        "softmax",
        "checkpoint",
        "self.config",
        "layer(s)",
        "eval mode",
    ),
    "StackedLSTM": (
        "input of layer 0",
        "after the top layer",
        "not applied between",
        "eval mode",
        "state",
        "reads X",
        "(H[k], C[k])",
    ),
    "LSTMLayer": (
        "carried",
        "detach",
        "bias",
        "stack C_t",
        "H_0",
        "zeros",
        "(C_T, H_T)",
        "dim 1",
        "reverse",
    ),
    "lstm_step": ("I_t", "F_t", "O_t", "C̃_t", "H_{t-1} W_h", "in place", "(C_t, H_t"),
    "batchify": ("interleave", "transpose", "remainder", "seq_len", "start of the text"),
    "get_batch": (
        "row index",
        "not shifted",
        "not shortened",
        "(targets, inputs)",
        "T - 1",
        "start at row i+1",
    ),
    "next_char_distribution": (
        "softmax",
        "multiplies",
        "divides the logits by zero",
        "k+1",
        "-inf",
        "dim 0",
        "larger than the vocabulary",
        "smallest",
        "single row",
    ),
}

# ---------------------------------------------------------------------------- step_backward

_DC = "dC = dC + dH * O * (1 - tanh_C * tanh_C)"
_O_BLOCK, _C_BLOCK = "dO * O * (1 - O),", "dC_tilde * (1 - C_tilde * C_tilde),"
_UPSTREAM = ("    dC = dC + dH", "    dC_in = dC\n    dC = dC + dH")  # keeps the incoming dC
STEP_BACKWARD = [
    M(
        "dC without tanh'",
        "step_backward",
        (_DC, "dC = dC + dH * O"),
        ("dC_t", "1 - tanh²(C_t)"),
        ("tanh'", "path through H_t"),
    ),
    M(
        "dC without O",
        "step_backward",
        (_DC, "dC = dC + dH * (1 - tanh_C * tanh_C)"),
        ("dC_t", "lacks the factor O_t"),
        "path through H_t",
    ),
    M(
        "dC without the path through H",
        "step_backward",
        (_DC, "dC = dC"),
        "dC_t is missing the path through H_t",
        "path through H_t",
    ),
    M(
        "dC replaced, not added to",
        "step_backward",
        (_DC, "dC = dH * O * (1 - tanh_C * tanh_C)"),
        "dC_t drops the incoming dC",
        "incoming dC",
    ),
    M(
        "tanh' written 1 - tanh",
        "step_backward",
        ("(1 - tanh_C * tanh_C)", "(1 - tanh_C)"),
        "1 - tanh(C_t); it is 1 - tanh²(C_t)",
        "tanh'",
    ),
    M(
        "dF with C_t",
        "step_backward",
        ("dF = dC * C_prev", "dF = dC * torch.atanh(tanh_C)"),
        ("dA's f block", "dF_t uses C_t; it is dC_t ⊙ C_{t-1}"),
        ("dF_t", "f block"),
    ),
    M(
        "dF with tanh(C_t)",
        "step_backward",
        ("dF = dC * C_prev", "dF = dC * tanh_C"),
        ("dA's f block", "dF_t uses tanh(C_t)"),
        ("dF_t", "f block"),
    ),
    M(
        "dF from the incoming dC",
        "step_backward",
        (_UPSTREAM, ("dF = dC * C_prev", "dF = dC_in * C_prev")),
        ("dA's f block", "dF_t uses the incoming dC, not dC_t"),
        ("dF_t", "f block", "incoming dC"),
    ),
    M(
        "dI from the incoming dC",
        "step_backward",
        (_UPSTREAM, ("dI = dC * C_tilde", "dI = dC_in * C_tilde")),
        ("dA's i block", "dI_t uses the incoming dC, not dC_t"),
        ("dI_t", "i block", "incoming dC"),
    ),
    M(
        "dI uses I",
        "step_backward",
        ("dI = dC * C_tilde", "dI = dC * I"),
        ("dA's i block", "dI_t uses I_t; it is dC_t ⊙ C̃_t"),
        ("dI_t", "i block"),
    ),
    M(
        "dI and dC̃ swapped",
        "step_backward",
        (("dI = dC * C_tilde", "dI = dC * I"), ("dC_tilde = dC * I", "dC_tilde = dC * C_tilde")),
        "dI_t and dC̃_t are swapped",
        ("dI_t", "dC̃_t"),
    ),
    M(
        "dO = dH",
        "step_backward",
        ("dO = dH * tanh_C", "dO = dH"),
        ("dA's o block", "dO_t lacks the factor tanh(C_t)"),
        ("dO_t", "o block"),
    ),
    M(
        "dO with tanh'",
        "step_backward",
        ("dO = dH * tanh_C", "dO = dH * (1 - tanh_C * tanh_C)"),
        ("dA's o block", "dO_t uses tanh'(C_t)"),
        ("dO_t", "o block", "tanh'"),
    ),
    M(
        "dO from dC",
        "step_backward",
        ("dO = dH * tanh_C", "dO = dC * tanh_C"),
        ("dA's o block", "dO_t uses dC"),
        ("dO_t", "o block"),
    ),
    M(
        "σ' on the candidate's block",
        "step_backward",
        (_C_BLOCK, "dC_tilde * C_tilde * (1 - C_tilde),"),
        ("dA's c block uses σ'", "1 - C̃_t²"),
        ("c block", "σ'"),
    ),
    M(
        "no tanh' in the c block",
        "step_backward",
        (_C_BLOCK, "dC_tilde,"),
        "dA's c block lacks tanh'",
        ("c block", "tanh'"),
    ),
    M(
        "tanh' written 1 - C̃",
        "step_backward",
        (_C_BLOCK, "dC_tilde * (1 - C_tilde),"),
        "dA's c block writes tanh' as 1 - C̃_t",
        ("c block", "tanh'"),
    ),
    M(
        "no σ' in the f block",
        "step_backward",
        ("dF * F * (1 - F),", "dF,"),
        "dA's f block lacks σ'",
        ("f block", "σ'"),
    ),
    M(
        "tanh' in the o block",
        "step_backward",
        (_O_BLOCK, "dO * (1 - O * O),"),
        "dA's o block uses tanh' = 1 - O_t²",
        ("o block", "σ'", "tanh'"),
    ),
    M(
        "σ' of σ in the i block",
        "step_backward",
        ("dI * I * (1 - I),", "dI * torch.sigmoid(I) * (1 - torch.sigmoid(I)),"),
        "dA's i block applies σ' to I_t",
        ("i block", "σ'"),
    ),
    M(
        "no derivatives at all",
        "step_backward",
        (
            ("dI * I * (1 - I),", "dI,"),
            ("dF * F * (1 - F),", "dF,"),
            (_O_BLOCK, "dO,"),
            (_C_BLOCK, "dC_tilde,"),
        ),
        "dA lacks the derivatives of the nonlinearities",
        ("σ'", "tanh'"),
    ),
    M(
        "nn.LSTM's block order",
        "step_backward",
        ((_O_BLOCK, _C_BLOCK), (_C_BLOCK, _O_BLOCK)),
        "dA's blocks are in nn.LSTM's order (i, f, g, o)",
        "order",
    ),
    M(
        "i and f blocks swapped",
        "step_backward",
        (("dI * I * (1 - I),", "dF * F * (1 - F),"), ("dF * F * (1 - F),", "dI * I * (1 - I),")),
        "dA's blocks are in the order f, i, o, c",
        "order",
    ),
    M(
        "dC_prev without F",
        "step_backward",
        ("return dA, dC * F", "return dA, dC"),
        "dC_{t-1} is missing the factor F_t",
        "dC_{t-1}",
    ),
    M(
        "dC_prev is dF",
        "step_backward",
        ("return dA, dC * F", "return dA, dF"),
        "dC_{t-1} is dF_t",
        ("dC_{t-1}", "dF_t"),
    ),
]

# ---------------------------------------------------------------------------- train_step

_CLIP = "    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip if clip > 0 else math.inf)\n"
_STEP = "    optimizer.step()\n"
_ZERO = "    optimizer.zero_grad(set_to_none=True)\n"
_BACKWARD = "    loss.backward()\n"
_GLOBAL_NORM = "    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf)\n"
_INCOMING = "state = tuple(s.detach() for s in state)"
_RETURNED = "tuple(s.detach() for s in state)\n"
TRAIN_STEP = [
    M(
        "clipping after the step",
        "train_step",
        (_CLIP + _STEP, _STEP + _CLIP),
        ("clipped after optimizer.step()", "unclipped"),
        ("clip", "optimizer.step"),
    ),
    M(
        "clipping per parameter",
        "train_step",
        (
            _CLIP,
            _GLOBAL_NORM
            + "    for p in model.parameters():\n"
            + "        torch.nn.utils.clip_grad_norm_(p, clip if clip > 0 else math.inf)\n",
        ),
        ("clipped on its own", "clip_grad_norm_ called per parameter", "global norm"),
        "clip",
    ),
    M(
        "clipping by value",
        "train_step",
        (_CLIP, _GLOBAL_NORM + "    torch.nn.utils.clip_grad_value_(model.parameters(), clip)\n"),
        ("clipped by value", "clip_grad_value_"),
        "clip",
    ),
    M(
        "clip to a constant",
        "train_step",
        ("clip if clip > 0 else math.inf", "0.01"),
        ("clipped to a global norm of 0.01", "not clip = 0.05"),
        "clip",
    ),
    M(
        "no clipping",
        "train_step",
        ("clip if clip > 0 else math.inf", "math.inf"),
        "not clipped to clip",
        "clip",
    ),
    M(
        "clip=0 clips to zero",
        "train_step",
        ("clip if clip > 0 else math.inf", "clip"),
        "clip=0 must turn clipping off",
        "clip",
    ),
    M(
        "clipping before backward",
        "train_step",
        (_ZERO + _BACKWARD + _CLIP, _ZERO + _CLIP + _BACKWARD),
        "clip_grad_norm_ is called before loss.backward()",
        ("clip", "optimizer.step"),
    ),
    M(
        "norm after clipping",
        "train_step",
        (
            "grad_norm.item()",
            "torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])).item()",
        ),
        "grad_norm is measured after clipping",
        ("clip", "grad_norm is"),
    ),
    M(
        "state reset every window",
        "train_step",
        ("logits, state = model(inputs, state)", "logits, state = model(inputs, None)"),
        ("reset every window", "state=None"),
        "state",
    ),
    M(
        "summed loss",
        "train_step",
        ("targets.reshape(-1))", 'targets.reshape(-1), reduction="sum")'),
        "the loss is summed over the characters",
        ("summed", "the loss"),
    ),
    M(
        "loss against the inputs",
        "train_step",
        ("targets.reshape(-1))", "inputs.reshape(-1))"),
        "compares the logits with the inputs",
        ("the loss", "inputs"),
    ),
    M(
        "gradients not zeroed",
        "train_step",
        (_ZERO, ""),
        "the gradients are not zeroed before backward",
        "zeroed",
    ),
    M(
        "zero_grad after backward",
        "train_step",
        (_ZERO + _BACKWARD, _BACKWARD + _ZERO),
        ("saw no gradients", "zero_grad() before loss.backward()"),
        ("zero_grad", "optimizer.step"),
    ),
    M(
        "H detached, C not",
        "train_step",
        (_INCOMING, "state = (state[0].detach(), state[1])"),
        ("the incoming C is not detached", "H is"),
        ("detach", "state"),
    ),
    M(
        "the state not detached at all",
        "train_step",
        (_INCOMING, "state = tuple(state)"),
        "the state is not detached between windows",
        ("detach", "state"),
    ),
    M(
        "returned C not detached",
        "train_step",
        (_RETURNED, "(state[0].detach(), state[1])\n"),
        ("the returned state is not detached", "C is still attached"),
        ("detach", "state"),
    ),
    M(
        "grad_norm a tensor",
        "train_step",
        ("grad_norm.item()", "grad_norm"),
        "grad_norm should be a Python float (use .item())",
    ),
    M("no optimizer step", "train_step", (_STEP, ""), "the parameters did not change", "optimizer.step"),
]

# ---------------------------------------------------------------------------- evaluate

_SUM = 'targets.reshape(-1), reduction="sum"\n        ).item()\n        total_tokens += targets.numel()'
_RETURN = "    return total_nll / total_tokens"
EVALUATE = [
    M(
        "per-window mean of the losses",
        "evaluate",
        (_SUM, "targets.reshape(-1)\n        ).item()\n        total_tokens += 1"),
        "perplexity is averaged per window, not per token",
        "averaged per window",
    ),
    M(
        "windows weighted by seq_len, not by their length",
        "evaluate",
        (_SUM, "targets.reshape(-1)\n        ).item() * seq_len\n        total_tokens += seq_len"),
        "perplexity is averaged per window, not per token",
        "averaged per window",
    ),
    M(
        "log of the mean of per-window perplexities",
        "evaluate",
        (
            (_SUM, "targets.reshape(-1)\n        ).exp().item()\n        total_tokens += 1"),
            (_RETURN, "    return torch.tensor(total_nll / total_tokens).log().item()"),
        ),
        ("the log of the mean of the per-window perplexities", "divide once by their number"),
        "per-window perplexities",
    ),
    M(
        "left in training mode",
        "evaluate",
        ("    model.eval()\n", ""),
        "evaluate runs the model in training mode",
        "training mode",
    ),
    M(
        "mode not restored",
        "evaluate",
        ("    model.train(was_training)\n", ""),
        "evaluate leaves the model in eval mode",
        "eval mode",
    ),
    M(
        "training mode set afterwards",
        "evaluate",
        ("model.train(was_training)", "model.train()"),
        "puts a model that was in eval mode into training mode",
        ("eval mode", "training mode"),
    ),
    M(
        "state not carried",
        "evaluate",
        ("logits, state = model(inputs, state)", "logits, _ = model(inputs)"),
        "the state is not carried",
        "state",
    ),
    M(
        "last short window dropped",
        "evaluate",
        ("range(0, len(source) - 1, seq_len)", "range(0, len(source) - seq_len, seq_len)"),
        "the last, shorter window is left out",
        "shorter",
    ),
    M(
        "returns the perplexity",
        "evaluate",
        (_RETURN, "    return torch.tensor(total_nll / total_tokens).exp().item()"),
        "evaluate returns the perplexity",
        "returns the perplexity",
    ),
    M(
        "returns bits per character",
        "evaluate",
        (_RETURN, "    return total_nll / total_tokens / torch.tensor(2.0).log().item()"),
        "evaluate returns bits per character",
        "bits per character",
    ),
    M(
        "every window counted as full",
        "evaluate",
        ("total_tokens += targets.numel()", "total_tokens += seq_len * source.shape[1]"),
        ("every window is counted as seq_len × batch targets", "targets.numel()"),
        ("shorter", "targets.numel()"),
    ),
    M(
        "rows counted, not characters",
        "evaluate",
        ("total_tokens += targets.numel()", "total_tokens += len(targets)"),
        "counts rows (time steps), not characters",
        "targets.numel()",
    ),
    M(
        "divided by every id of source",
        "evaluate",
        (_RETURN, "    return total_nll / source.numel()"),
        "divided by rows × batch",
        "rows × batch",
    ),
    M(
        "overlapping windows",
        "evaluate",
        ("range(0, len(source) - 1, seq_len)", "range(0, len(source) - 1)"),
        "the windows overlap",
        "overlap",
    ),
    M(
        "loss against the inputs",
        "evaluate",
        ('targets.reshape(-1), reduction="sum"', 'inputs.reshape(-1), reduction="sum"'),
        "compares the logits with the inputs",
        "inputs",
    ),
]

# ---------------------------------------------------------------------------- CharLSTM

_HEAD_LINE = "return self.head(self.dropout(outputs)), state"
_LSTM_LINE = "outputs, state = self.lstm(self.embedding(tokens), state)"
_ARGS = "config.embedding_size, config.hidden_size, config.num_layers, config.dropout, config.forget_bias"
CHARLSTM = [
    M(
        "no dropout before the head",
        "CharLSTM",
        (_HEAD_LINE, "return self.head(outputs), state"),
        "there is no dropout before the head",
        ("dropout", "head"),
    ),
    M(
        "dropout on the embeddings",
        "CharLSTM",
        (
            (_LSTM_LINE, "outputs, state = self.lstm(self.dropout(self.embedding(tokens)), state)"),
            (_HEAD_LINE, "return self.head(outputs), state"),
        ),
        "dropout is applied to the embeddings",
        ("dropout", "embedding", "head"),
    ),
    M(
        "dropout on the embeddings too",
        "CharLSTM",
        (_LSTM_LINE, "outputs, state = self.lstm(self.dropout(self.embedding(tokens)), state)"),
        "dropout is applied to the embeddings",
        ("dropout", "embedding", "head"),
    ),
    M(
        "dropout after the head",
        "CharLSTM",
        (_HEAD_LINE, "return self.dropout(self.head(outputs)), state"),
        "dropout is applied to the logits, after the head",
        ("dropout", "head"),
    ),
    M(
        "nn.Dropout() with its default p",
        "CharLSTM",
        ("self.dropout = nn.Dropout(config.dropout)", "self.dropout = nn.Dropout()"),
        ("p = 0.5 (nn.Dropout()'s default)", "not config.dropout = 0.3"),
        ("dropout", "head"),
    ),
    M(
        "dropout in eval mode",
        "CharLSTM",
        (_HEAD_LINE, "return self.head(nn.functional.dropout(outputs, self.config.dropout)), state"),
        "dropout is applied in eval mode too",
        ("dropout", "eval mode"),
    ),
    M(
        "a head without bias",
        "CharLSTM",
        (
            "self.head = nn.Linear(config.hidden_size, config.vocab_size)",
            "self.head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)",
        ),
        ("the head has no bias", "checkpoints do not load"),
        ("head", "has no bias", "checkpoint"),
    ),
    M(
        "forget_bias ignored",
        "CharLSTM",
        (_ARGS, "config.embedding_size, config.hidden_size, config.num_layers, config.dropout"),
        ("config.forget_bias is ignored: b_f of layer 0 starts at", "not config.forget_bias = 2.5"),
        ("forget_bias", "b_f"),
    ),
    M(
        "dropout not passed to the LSTM",
        "CharLSTM",
        (
            _ARGS,
            "config.embedding_size, config.hidden_size, config.num_layers, forget_bias=config.forget_bias",
        ),
        "config.dropout is not passed to StackedLSTM",
        "dropout",
    ),
    M(
        "neither dropout nor forget_bias passed",
        "CharLSTM",
        (_ARGS, "config.embedding_size, config.hidden_size, config.num_layers"),
        ("config.forget_bias is ignored", "config.dropout is not passed to StackedLSTM"),
        ("dropout", "forget_bias", "b_f"),
    ),
    M(
        "dropout and forget_bias swapped",
        "CharLSTM",
        ("config.dropout, config.forget_bias", "config.forget_bias, config.dropout"),
        "the arguments of StackedLSTM are (input_size, hidden_size, num_layers, dropout, forget_bias)",
        ("dropout", "forget_bias"),
    ),
    M(
        "num_layers ignored",
        "CharLSTM",
        (_ARGS, "config.embedding_size, config.hidden_size, 1, config.dropout, config.forget_bias"),
        "the LSTM has 1 layer(s); config.num_layers = 2",
        "layer(s)",
    ),
    M(
        "config not kept",
        "CharLSTM",
        ("        self.config = config\n", ""),
        "keep its config as self.config",
        ("self.config", "checkpoint"),
    ),
    M(
        "probabilities returned",
        "CharLSTM",
        (_HEAD_LINE, "return self.head(self.dropout(outputs)).softmax(-1), state"),
        "forward returns probabilities (a softmax)",
        "softmax",
    ),
    M(
        "state ignored",
        "CharLSTM",
        (_LSTM_LINE, "outputs, state = self.lstm(self.embedding(tokens))"),
        "forward ignores the state argument",
        "state",
    ),
]

# ---------------------------------------------------------------------------- StackedLSTM

_IF_DROPOUT = "            if k > 0:\n                X = self.dropout(X)\n"
_LAYER_CALL = "            X, (H, C) = layer(X, (state[0][k], state[1][k]))\n"
_STACK_RETURN = "return X, (torch.stack(H_all), torch.stack(C_all))"
STACKED = [
    M(
        "dropout before every layer, layer 0 included",
        "StackedLSTM",
        (_IF_DROPOUT, "            X = self.dropout(X)\n"),
        "dropout is applied to the input of layer 0",
        "input of layer 0",
    ),
    M(
        "dropout after every layer",
        "StackedLSTM",
        (_IF_DROPOUT + _LAYER_CALL, _LAYER_CALL + "            X = self.dropout(X)\n"),
        "dropout is applied after the top layer",
        "after the top layer",
    ),
    M(
        "dropout after the top layer only",
        "StackedLSTM",
        (
            (_IF_DROPOUT, ""),
            (_STACK_RETURN, "return self.dropout(X), (torch.stack(H_all), torch.stack(C_all))"),
        ),
        "dropout is applied after the top layer",
        "after the top layer",
    ),
    M(
        "no dropout",
        "StackedLSTM",
        (_IF_DROPOUT, ""),
        "dropout is not applied between layers",
        "not applied between",
    ),
    M(
        "dropout before layer 0 only",
        "StackedLSTM",
        ("if k > 0:", "if k == 0:"),
        "dropout is applied to the input of layer 0",
        "input of layer 0",
    ),
    M(
        "dropout in eval mode",
        "StackedLSTM",
        ("X = self.dropout(X)", "X = torch.nn.functional.dropout(X, self.dropout.p)"),
        "dropout is applied in eval mode too",
        "eval mode",
    ),
    M(
        "every layer reads X",
        "StackedLSTM",
        (
            (_LAYER_CALL, "            Y, (H, C) = layer(X, (state[0][k], state[1][k]))\n"),
            (_STACK_RETURN, "return Y, (torch.stack(H_all), torch.stack(C_all))"),
        ),
        "every layer reads X",
        "reads X",
    ),
    M(
        "every layer starts from layer 0's state",
        "StackedLSTM",
        ("(state[0][k], state[1][k])", "(state[0][0], state[1][0])"),
        "every layer starts from the state of layer 0",
        ("state", "(H[k], C[k])"),
    ),
    M(
        "C started from H",
        "StackedLSTM",
        ("(state[0][k], state[1][k])", "(state[0][k], state[0][k])"),
        "layer k starts from (H[k], H[k])",
        "state",
    ),
]

# ---------------------------------------------------------------------------- LSTMLayer

_STEP_CALL = "H, C, _ = lstm_step(XW_t, H, C, self.cell.W_h)"
_LAYER_RETURN = "return torch.stack(outputs), (H, C)"
LAYER = [
    M(
        "outputs stack C",
        "LSTMLayer",
        ("outputs.append(H)", "outputs.append(C)"),
        "the outputs stack C_t; they should stack H_t",
        "stack C_t",
    ),
    M(
        "H detached in the loop",
        "LSTMLayer",
        (_STEP_CALL, "H, C, _ = lstm_step(XW_t, H.detach(), C, self.cell.W_h)"),
        "H is detached inside the loop",
        "detach",
    ),
    M(
        "H and C detached in the loop",
        "LSTMLayer",
        (_STEP_CALL, "H, C, _ = lstm_step(XW_t, H.detach(), C.detach(), self.cell.W_h)"),
        "H and C are detached inside the loop",
        "detach",
    ),
    M(
        "no bias",
        "LSTMLayer",
        ("self.cell.input_projection(X).unbind(0)", "(X @ self.cell.W_x).unbind(0)"),
        "the gates get no bias b",
        "bias",
    ),
    M(
        "state not carried",
        "LSTMLayer",
        (_STEP_CALL, "H, C, _ = lstm_step(XW_t, *state, self.cell.W_h)"),
        "(H, C) is not carried from one step to the next",
        "carried",
    ),
    M(
        "state=None not handled",
        "LSTMLayer",
        (
            "        if state is None:\n            state = self.init_state(X.shape[1], X.device, X.dtype)\n"
            "        H, C = state\n",
            "        H, C = state\n",
        ),
        ("with no state raised", "start from zeros"),
        "zeros",
    ),
    M(
        "outputs stacked along dim 1",
        "LSTMLayer",
        (_LAYER_RETURN, "return torch.stack(outputs, dim=1), (H, C)"),
        "the outputs are stacked along dim 1",
        "dim 1",
    ),
    M(
        "final state swapped",
        "LSTMLayer",
        (_LAYER_RETURN, "return torch.stack(outputs), (C, H)"),
        "the final state is (C_T, H_T)",
        "(C_T, H_T)",
    ),
    M(
        "outputs start with H_0",
        "LSTMLayer",
        (
            "            H, C, _ = lstm_step(XW_t, H, C, self.cell.W_h)\n            outputs.append(H)\n",
            "            outputs.append(H)\n            H, C, _ = lstm_step(XW_t, H, C, self.cell.W_h)\n",
        ),
        "the outputs start with H_0",
        "H_0",
    ),
    M(
        "state ignored",
        "LSTMLayer",
        ("        H, C = state\n", "        H, C = self.init_state(X.shape[1], X.device, X.dtype)\n"),
        "the state argument is ignored",
        "zeros",
    ),
]

# ---------------------------------------------------------------------------- lstm_step

_PRE = "pre_I, pre_F, pre_O, pre_C = (XW_t + H_prev @ W_h).chunk(4, dim=1)"
_STEP_RETURN = "return H, C, (I, F, O, C_tilde)"
LSTM_STEP = [
    M(
        "forget gate with tanh",
        "lstm_step",
        ("F = torch.sigmoid(pre_F)", "F = torch.tanh(pre_F)"),
        "F_t looks like it uses tanh instead of σ",
        "F_t",
    ),
    M(
        "H without tanh",
        "lstm_step",
        ("H = O * torch.tanh(C)", "H = O * C"),
        "H_t uses C_t instead of tanh(C_t)",
    ),
    M(
        "no forget term",
        "lstm_step",
        ("C = F * C_prev + I * C_tilde", "C = I * C_tilde"),
        "C_t looks like it is missing the F_t ⊙ C_{t-1} term",
        ("F_t", "I_t", "C̃_t"),
    ),
    M(
        "no recurrent term",
        "lstm_step",
        (_PRE, "pre_I, pre_F, pre_O, pre_C = XW_t.chunk(4, dim=1)"),
        "I_t looks like it is missing the H_{t-1} W_hi term",
        ("I_t", "H_{t-1} W_h"),
    ),
    M(
        "H and C swapped in the return",
        "lstm_step",
        (_STEP_RETURN, "return C, H, (I, F, O, C_tilde)"),
        "lstm_step returns (C_t, H_t, …)",
        ("I_t", "F_t", "O_t", "C̃_t", "(C_t, H_t"),
    ),
    M(
        "gates in the wrong order",
        "lstm_step",
        (_STEP_RETURN, "return H, C, (I, F, C_tilde, O)"),
        "the gate returned as O_t is C̃_t",
        ("I_t", "F_t", "O_t", "C̃_t"),
    ),
    M(
        "XW_t changed in place",
        "lstm_step",
        (_PRE, "XW_t += H_prev @ W_h\n    pre_I, pre_F, pre_O, pre_C = XW_t.chunk(4, dim=1)"),
        "lstm_step changes its argument XW_t in place",
        ("in place", "H_{t-1} W_h"),
    ),
    M(
        "blocks o and c swapped",
        "lstm_step",
        ("pre_I, pre_F, pre_O, pre_C =", "pre_I, pre_F, pre_C, pre_O ="),
        "O_t is computed from the c block",
        "O_t",
    ),
]

# ---------------------------------------------------------------------------- batchify, get_batch

_BATCHIFY_RETURN = "return ids[: rows * batch_size].view(batch_size, rows).t().contiguous()"
_GET_BATCH_RETURN = "return source[i : i + T], source[i + 1 : i + 1 + T]"
BATCHING = [
    M(
        "interleaved streams",
        "batchify",
        (".view(batch_size, rows).t()", ".view(rows, batch_size)"),
        "view(rows, batch_size) interleaves",
        "interleave",
    ),
    M(
        "not transposed",
        "batchify",
        (".view(batch_size, rows).t()", ".view(batch_size, rows)"),
        "the result is (batch_size, rows); transpose it",
        "transpose",
    ),
    M(
        "remainder kept",
        "batchify",
        (_BATCHIFY_RETURN, "return ids.view(batch_size, -1).t().contiguous()"),
        ("23 ids do not fill 4 equal streams", "drop the remainder"),
        "remainder",
    ),
    M(
        "remainder dropped from the start",
        "batchify",
        (
            _BATCHIFY_RETURN,
            "return ids[len(ids) - rows * batch_size :].view(batch_size, rows).t().contiguous()",
        ),
        "the remainder is dropped from the start of the text",
        ("remainder", "start of the text"),
    ),
    M(
        "rows trimmed to a multiple of seq_len",
        "batchify",
        (_BATCHIFY_RETURN, "rows = rows // seq_len * seq_len\n    " + _BATCHIFY_RETURN),
        "seq_len does not change the layout",
        "seq_len",
    ),
    M(
        "targets not shifted",
        "get_batch",
        (_GET_BATCH_RETURN, "return source[i : i + T], source[i : i + T]"),
        "the targets are not shifted",
        "not shifted",
    ),
    M(
        "last window not shortened",
        "get_batch",
        ("T = min(seq_len, len(source) - 1 - i)", "T = seq_len"),
        ("the last window is not shortened", "T = min(seq_len, rows - 1 - i) = 2"),
        "not shortened",
    ),
    M(
        "inputs and targets swapped",
        "get_batch",
        (_GET_BATCH_RETURN, "return source[i + 1 : i + 1 + T], source[i : i + T]"),
        "get_batch returns (targets, inputs)",
        "(targets, inputs)",
    ),
    M(
        "i as a window number",
        "get_batch",
        (
            _GET_BATCH_RETURN,
            "return source[i * seq_len : i * seq_len + T], source[i * seq_len + 1 : i * seq_len + 1 + T]",
        ),
        "i is a row index, not a window number",
        "row index",
    ),
    M(
        "targets one row short",
        "get_batch",
        (_GET_BATCH_RETURN, "return source[i : i + T], source[i + 1 : i + T]"),
        "the targets have T - 1 = 4 rows",
        "T - 1",
    ),
    M(
        "inputs shifted too",
        "get_batch",
        (_GET_BATCH_RETURN, "return source[i + 1 : i + 1 + T], source[i + 1 : i + 1 + T]"),
        "the inputs start at row i+1",
        "start at row i+1",
    ),
]

# ---------------------------------------------------------------------------- next_char_distribution

_SOFTMAX = "return torch.softmax(logits, dim=-1)"
SAMPLING = [
    M(
        "top-k keeps k+1",
        "next_char_distribution",
        ("logits.topk(top_k, dim=-1)", "logits.topk(top_k + 1, dim=-1)"),
        "top-k keeps k+1 characters",
        "k+1",
    ),
    M(
        "temperature multiplies",
        "next_char_distribution",
        ("logits = logits / temperature", "logits = logits * temperature"),
        "the temperature multiplies the logits",
        "multiplies",
    ),
    M(
        "no case for temperature 0",
        "next_char_distribution",
        ("    if temperature == 0:\n", "    if False:\n"),
        "temperature 0 divides the logits by zero (NaN)",
        "divides the logits by zero",
    ),
    M(
        "masked with 0",
        "next_char_distribution",
        ('float("-inf")', "0.0"),
        "the logits outside the top k are set to 0, not -inf",
        "-inf",
    ),
    M(
        "softmax over dim 0",
        "next_char_distribution",
        (_SOFTMAX, "return torch.softmax(logits, dim=0)"),
        "the softmax is taken over dim 0",
        ("softmax", "dim 0"),
    ),
    M(
        "log-softmax",
        "next_char_distribution",
        (_SOFTMAX, "return torch.log_softmax(logits, dim=-1)"),
        "log-probabilities",
        "softmax",
    ),
    M(
        "greedy on the smallest",
        "next_char_distribution",
        ("logits.argmax(-1)", "logits.argmin(-1)"),
        "greedy decoding puts all the probability on the smallest logit",
        "smallest",
    ),
    M(
        "top_k beyond the vocabulary",
        "next_char_distribution",
        ("if top_k is not None and top_k < logits.shape[-1]:", "if top_k is not None:"),
        "top_k larger than the vocabulary raised",
        "larger than the vocabulary",
    ),
    M(
        "2-D indexing of the k-th largest",
        "next_char_distribution",
        ("values[..., -1:]", "values[:, :, -1:]"),
        "a single row of logits (vocab,) raised IndexError",
        "single row",
    ),
]

CATALOGUE = (
    STEP_BACKWARD + TRAIN_STEP + EVALUATE + CHARLSTM + STACKED + LAYER + LSTM_STEP + BATCHING + SAMPLING
)


def plant(text: str, function: str, edits) -> str:
    """``text``, a module of ``my_lstm``, with ``edits`` made at once inside ``function`` (a
    top-level function or class); each ``old`` must stand exactly once in the file."""
    (node,) = [n for n in ast.parse(text).body if getattr(n, "name", None) == function]
    lines = text.splitlines(keepends=True)
    start, end = sum(map(len, lines[: node.lineno - 1])), sum(map(len, lines[: node.end_lineno]))
    spans = []
    for old, new in edits:
        assert text.count(old) == 1, f"{old!r} stands {text.count(old)} times in the file, not once"
        at = text.index(old)
        assert start <= at and at + len(old) <= end, f"{old!r} is not in {function}"
        spans.append((at, old, new))
    pieces, done = [], 0
    for at, old, new in sorted(spans):
        assert at >= done, "the edits overlap"
        pieces += [text[done:at], new]
        done = at + len(old)
    planted = "".join(pieces) + text[done:]
    assert planted != text
    return planted


def test_the_catalogue_covers_every_function():
    counts = Counter(mistake.function for mistake in CATALOGUE)
    assert set(counts) == set(BY_NAME)
    assert all(n >= 4 for n in counts.values()), counts
    for name, least in (("step_backward", 10), ("train_step", 8), ("CharLSTM", 6), ("evaluate", 6)):
        assert counts[name] >= least, (name, counts[name])
    assert len(CATALOGUE) >= 60
    assert len({(m.function, m.id) for m in CATALOGUE}) == len(CATALOGUE)
    for mistake in CATALOGUE:
        assert set(mistake.allow) <= set(CORRECT[mistake.function]), mistake.id


def test_the_filled_package_passes_every_check(tmp_path):
    """The package every mistake is planted into: each function passes as written."""
    course.write_package(tmp_path, solutions=True)
    assert [(r.name, r.status) for r in course.grade(tmp_path)] == [(e.name, course.PASS) for e in EXERCISES]


@pytest.mark.parametrize("mistake", CATALOGUE, ids=[f"{m.function}: {m.id}" for m in CATALOGUE])
def test_the_grader_names_the_mistake_and_nothing_else(mistake, tmp_path):
    package = course.write_package(tmp_path, solutions=True)
    module = BY_NAME[mistake.function].module
    path = package / f"{module}.py"
    path.write_text(
        plant(path.read_text(encoding="utf-8"), mistake.function, mistake.edits), encoding="utf-8"
    )
    # The grader checks each function with every other one of the package pointed to lstm_lib's, so
    # only the functions of the edited file can change: those are graded (the others, in files
    # identical to the filled package's, pass, test_the_filled_package_passes_every_check).
    same_file = [e for e in EXERCISES if e.module == module]
    try:
        results = {r.name: r for r in grade_modules(load(package), package, same_file)}
    finally:
        forget()
    result = results.pop(mistake.function)
    assert result.status == course.FAIL, f"{mistake.id} passed"
    for words in mistake.says:
        assert words in result.message, f"{mistake.id}: {words!r} is not in {result.message!r}"
    wrong = [p for p in CORRECT[mistake.function] if p not in mistake.allow and p in result.message]
    assert not wrong, f"{mistake.id}: the message names {wrong}, which are right: {result.message!r}"
    assert [(r.name, r.message) for r in results.values() if not r.passed] == [], "another function fails"


def test_the_error_shows_in_jupyter_as_its_message():
    error = ExerciseError("your my_lstm.step_backward fails: dA's f block: dF_t uses C_t " + "word " * 40)
    lines = error._render_traceback_()
    assert lines[0].startswith("ExerciseError: your my_lstm.step_backward fails: dA's f block")
    assert all(len(line) <= len("ExerciseError: ") + 100 for line in lines) and 1 < len(lines) <= 4
    assert " ".join(line.strip() for line in lines) == f"ExerciseError: {error}".strip()
    assert ExerciseError("one\ntwo")._render_traceback_() == ["ExerciseError: one", "    two"]


def test_every_exercise_of_the_package_is_in_the_catalogue():
    assert [e.name for e in EXERCISES if e.name not in {m.function for m in CATALOGUE}] == []
    assert PACKAGE == "my_lstm"
