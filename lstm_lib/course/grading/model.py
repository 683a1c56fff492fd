"""Checks of ``my_lstm/model.py``: ``CharLSTM`` (chapter 5).

Besides the logits and the state (against embedding → ``nn.LSTM`` → head with the same
weights), the check makes sure that what later chapters do with the model works: its
parameters are named and shaped as lstm_lib's ``CharLSTM``'s for the same config (a checkpoint
of lstm_lib loads into it, ``strict=True``), ``config.forget_bias`` and ``config.dropout`` are
honoured, and dropout sits where lstm_lib puts it, on the LSTM's outputs before the head (seen
through hooks on the parts, whatever way the learner writes the dropout).
"""

import math

import torch
from torch import nn

from ...model import CharLSTM as LibraryCharLSTM
from ...model import ModelConfig
from ..compare import DTYPE, ExerciseError, close, dropout_scale, expect_close, expect_pair, randn
from .layer import torch_twin

DROPOUT, FORGET_BIAS = 0.3, 2.5
"""The config the model is built with: not the defaults, so that a value ignored shows."""


def _build(CharLSTM, config):
    try:
        return CharLSTM(config)
    except ValueError as exc:
        if "dropout probability" in str(exc) and str(config.forget_bias) in str(exc):
            raise ExerciseError(
                f"building the model raised ValueError: {exc} = config.forget_bias: the arguments of "
                "StackedLSTM are (input_size, hidden_size, num_layers, dropout, forget_bias)"
            ) from None
        raise


def _check_parameters(model, config) -> None:
    """The parameters' names and shapes are lstm_lib's, so that its checkpoints load."""
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in LibraryCharLSTM(config).state_dict().items()}
    if mine == theirs:
        return
    if "head.bias" in theirs and "head.bias" not in mine:
        raise ExerciseError(
            "the head has no bias: lstm_lib's head is nn.Linear(hidden_size, vocab_size) with its bias "
            "(head.bias), so lstm_lib checkpoints do not load into this model"
        )
    layers = {k.split(".")[2] for k in mine if k.startswith("lstm.layers.")}
    if layers and len(layers) != config.num_layers:
        raise ExerciseError(
            f"the LSTM has {len(layers)} layer(s); config.num_layers = {config.num_layers}: pass it to "
            "StackedLSTM"
        )
    missing = [k for k in theirs if k not in mine]
    unexpected = [k for k in mine if k not in theirs]
    shapes = [f"{k} {mine[k]} (lstm_lib: {theirs[k]})" for k in theirs if k in mine and mine[k] != theirs[k]]
    details = "; ".join(
        f"{what} {', '.join(names)}"
        for what, names in (("missing", missing), ("unexpected", unexpected), ("shapes differ:", shapes))
        if names
    )
    raise ExerciseError(
        f"the model's parameters are not lstm_lib.CharLSTM's for the same config, so lstm_lib "
        f"checkpoints do not load into it: {details}"
    )


def _check_config_used(model, config) -> None:
    """``self.config`` kept, and config.forget_bias and config.dropout passed on to the LSTM."""
    if getattr(model, "config", None) != config:
        raise ExerciseError("CharLSTM should keep its config as self.config: checkpoints save model.config")
    hidden, ignored = config.hidden_size, []
    for k in range(config.num_layers):
        b_f = model.state_dict()[f"lstm.layers.{k}.cell.b"][hidden : 2 * hidden]
        if not bool((b_f == config.forget_bias).all()):
            ignored.append(
                f"config.forget_bias is ignored: b_f of layer {k} starts at {b_f[0].item():g}, not "
                f"config.forget_bias = {config.forget_bias:g} (pass config.forget_bias to StackedLSTM)"
            )
            break
    inner = getattr(model.lstm, "dropout", None)
    if isinstance(inner, nn.Dropout) and not math.isclose(inner.p, config.dropout):
        ignored.append(
            f"config.dropout is not passed to StackedLSTM: its dropout between layers has p = {inner.p:g}, "
            f"not config.dropout = {config.dropout:g}"
        )
    if ignored:
        raise ExerciseError("; ".join(ignored))


def _load_library_checkpoint(model, config) -> None:
    """A state_dict of lstm_lib's model loads into the learner's, as in chapter 9."""
    torch.manual_seed(3)
    try:
        model.load_state_dict(LibraryCharLSTM(config).to(DTYPE).state_dict(), strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ExerciseError(f"an lstm_lib checkpoint does not load into CharLSTM: {first}") from None


def _run_recorded(model, *args):
    """``model(*args)``, and what its parts read and returned: ``{"embedding": (input, output), ...}``,
    seen through forward hooks."""
    seen = {}

    def recorder(name):
        def hook(module, args, kwargs, output):
            first = args[0] if args else next(iter(kwargs.values()), None)
            seen[name] = (first, output[0] if isinstance(output, tuple) else output)

        return hook

    parts = ("embedding", "lstm", "head")
    handles = [getattr(model, name).register_forward_hook(recorder(name), with_kwargs=True) for name in parts]
    try:
        result = model(*args)
    finally:
        for handle in handles:
            handle.remove()
    return result, (seen if all(name in seen for name in parts) else None)


def _dropout_probability(scale: float) -> str:
    p = 1 - 1 / scale if scale else math.nan
    return f"p = {p:.2g}" + (" (nn.Dropout()'s default)" if math.isclose(p, 0.5, abs_tol=1e-6) else "")


def _dropped(after, before) -> bool:
    """Whether ``after`` is ``before`` with dropout applied (some elements zeroed, the others scaled)."""
    scale = dropout_scale(after, before)
    return scale is not None and not math.isnan(scale)


def _check_dropout(model, config, tokens, state, training: bool) -> None:
    """Dropout, of p = config.dropout, on the LSTM's outputs only (before the head), in training
    mode only; in eval mode only dropout itself is looked for (the logits are checked after)."""
    p = config.dropout
    model.train(training)
    torch.manual_seed(4)
    out, seen = _run_recorded(model, tokens, tuple(s.clone() for s in state))
    logits = expect_pair(out, "CharLSTM.forward's result (logits, state)")[0]
    if seen is None:  # a part is not called as a module (self.head.forward(...)): no hook saw it
        if training and close(logits, model.eval()(tokens, state)[0]):
            raise ExerciseError(
                "there is no dropout before the head: logits = head(dropout(outputs)), with "
                f"self.dropout = nn.Dropout(config.dropout) (here p = {p:g})"
            )
        return
    (_, embedded), (lstm_in, lstm_out), (head_in, head_out) = (seen[n] for n in ("embedding", "lstm", "head"))
    if not training:
        if _dropped(lstm_in, embedded) or _dropped(head_in, lstm_out) or _dropped(logits, head_out):
            raise ExerciseError(
                "dropout is applied in eval mode too: use self.dropout (nn.Dropout), which is off in "
                "eval mode, or F.dropout(..., training=self.training)"
            )
        return
    if _dropped(lstm_in, embedded):
        raise ExerciseError(
            "dropout is applied to the embeddings: CharLSTM applies it only to the LSTM's outputs, "
            "before the head: logits = head(dropout(outputs))"
        )
    if _dropped(logits, head_out):
        raise ExerciseError(
            "dropout is applied to the logits, after the head: apply it to the LSTM's outputs, "
            "before the head: logits = head(dropout(outputs))"
        )
    scale = dropout_scale(head_in, lstm_out)
    if scale is None:
        raise ExerciseError(
            "there is no dropout before the head: logits = head(dropout(outputs)), with "
            f"self.dropout = nn.Dropout(config.dropout) (here p = {p:g})"
        )
    if math.isnan(scale):
        raise ExerciseError("in training mode the head should read dropout(outputs), the LSTM's outputs")
    if math.isclose(scale, 1.0):
        raise ExerciseError(
            "the dropout before the head does not scale what it keeps by 1/(1 - p): use nn.Dropout"
        )
    if not math.isclose(scale, 1 / (1 - p), rel_tol=1e-6):
        raise ExerciseError(
            f"the dropout before the head has {_dropout_probability(scale)}, not config.dropout = {p:g}: "
            "self.dropout = nn.Dropout(config.dropout)"
        )


@torch.no_grad()
def check_CharLSTM(CharLSTM) -> None:
    vocab, emb, hidden, layers, seq_len, batch = 7, 3, 4, 2, 5, 2
    config = ModelConfig(
        vocab_size=vocab,
        embedding_size=emb,
        hidden_size=hidden,
        num_layers=layers,
        dropout=DROPOUT,
        forget_bias=FORGET_BIAS,
    )
    model = _build(CharLSTM, config)
    for name, kind in (("embedding", nn.Embedding), ("lstm", nn.Module), ("head", nn.Linear)):
        if not isinstance(getattr(model, name, None), kind):
            raise ExerciseError(
                f"CharLSTM has no {name} ({kind.__name__}); name the parts embedding, lstm, dropout and "
                "head, as lstm_lib does"
            )
    if tuple(model.embedding.weight.shape) != (vocab, emb):
        raise ExerciseError(
            f"the embedding should be nn.Embedding(vocab_size, embedding_size) = ({vocab}, {emb})"
        )
    if tuple(model.head.weight.shape) != (vocab, hidden):
        raise ExerciseError(
            f"the head should be nn.Linear(hidden_size, vocab_size), weight ({vocab}, {hidden})"
        )
    _check_parameters(model, config)
    _check_config_used(model, config)
    model = model.to(DTYPE)
    _load_library_checkpoint(model, config)
    model.eval()
    torch_lstm = torch_twin(model.lstm, emb, hidden, layers)
    g = torch.Generator().manual_seed(10)
    tokens = torch.randint(0, vocab, (seq_len, batch), generator=g)
    H0, C0 = randn(g, layers, batch, hidden), randn(g, layers, batch, hidden)
    outputs, (H_n, C_n) = torch_lstm(model.embedding(tokens), (H0, C0))
    expected = model.head(outputs)
    _check_dropout(model, config, tokens, (H0, C0), training=False)
    model.eval()

    out = expect_pair(model(tokens, (H0.clone(), C0.clone())), "CharLSTM.forward's result (logits, state)")
    logits, state = out[0], expect_pair(out[1], "the final state (H, C)")
    expect_close(
        "the logits",
        logits,
        expected,
        [
            ("forward returns probabilities (a softmax); return the logits", expected.softmax(-1)),
            (
                "forward returns log-probabilities (a log-softmax); return the logits",
                expected.log_softmax(-1),
            ),
            ("forward ignores the state argument", model.head(torch_lstm(model.embedding(tokens))[0])),
        ],
        "head(lstm(embedding(tokens)))",
    )
    expect_close(
        "the final H",
        state[0],
        H_n,
        [("the final state is (C, H); return (H, C)", C_n)],
        "the LSTM's final H",
    )
    expect_close("the final C", state[1], C_n)
    logits, _ = model(tokens)
    expect_close(
        "the logits with state=None (zeros)", logits, model.head(torch_lstm(model.embedding(tokens))[0])
    )
    _check_dropout(model, config, tokens, (H0, C0), training=True)
