"""Checks of ``my_lstm/model.py``: ``CharLSTM`` (chapter 5)."""

import torch
from torch import nn

from ...model import ModelConfig
from ..compare import DTYPE, ExerciseError, expect_close, expect_pair, randn
from .layer import torch_twin


@torch.no_grad()
def check_CharLSTM(CharLSTM) -> None:
    vocab, emb, hidden, layers, seq_len, batch = 7, 3, 4, 2, 5, 2
    model = CharLSTM(ModelConfig(vocab_size=vocab, embedding_size=emb, hidden_size=hidden, num_layers=layers))
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
    model = model.to(DTYPE).eval()
    torch_lstm = torch_twin(model.lstm, emb, hidden, layers)
    g = torch.Generator().manual_seed(10)
    tokens = torch.randint(0, vocab, (seq_len, batch), generator=g)
    H0, C0 = randn(g, layers, batch, hidden), randn(g, layers, batch, hidden)
    outputs, (H_n, C_n) = torch_lstm(model.embedding(tokens), (H0, C0))
    expected = model.head(outputs)

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
    expect_close("the final H", state[0], H_n)
    expect_close("the final C", state[1], C_n)
    logits, _ = model(tokens)
    expect_close(
        "the logits with state=None (zeros)", logits, model.head(torch_lstm(model.embedding(tokens))[0])
    )
