"""The character language model: embedding -> stacked LSTM -> linear head."""

from dataclasses import asdict, dataclass, fields

from torch import nn

from .errors import UsageError
from .layer import StackedLSTM


@dataclass
class ModelConfig:
    """Sizes of a :class:`CharLSTM`; saved with every checkpoint.

    How the LSTM's backward pass is computed (the backend) is not part of the
    model: it is chosen each time a model is run (``model.set_backend(...)``,
    ``--backend``).
    """

    vocab_size: int
    embedding_size: int = 64
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.0
    forget_bias: float = 0.0  # chapter 10 measures 0 against 1 over seeds

    def __post_init__(self):
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise UsageError(f"{name} must be a positive integer, got {value!r}", name)
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout must be in [0, 1), got {self.dropout!r}", "dropout")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        """Ignores keys it does not know (older checkpoints saved a ``backend``)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class CharLSTM(nn.Module):
    """Predicts the next character at every position of a window.

    Input ids ``(seq_len, batch)`` are embedded, run through a
    :class:`~lstm_lib.layer.StackedLSTM`, and mapped to logits over the vocabulary.

    Args:
        config: the sizes.

    How the LSTM is differentiated is a runtime choice, :meth:`set_backend`, never saved.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.lstm = StackedLSTM(
            config.embedding_size, config.hidden_size, config.num_layers, config.dropout, config.forget_bias
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)

    def init_state(self, batch_size, device=None):
        """Zero ``(H, C)``, each ``(num_layers, batch, hidden)``."""
        return self.lstm.init_state(batch_size, device)

    def forward(self, tokens, state=None):
        """``tokens``: ``(seq_len, batch)`` ids.

        Returns:
            ``(logits, state)``: logits ``(seq_len, batch, vocab)`` and the final
            ``(H, C)``, each ``(num_layers, batch, hidden)``.
        """
        outputs, state = self.lstm(self.embedding(tokens), state)
        return self.head(self.dropout(outputs)), state

    def trace(self, tokens, state=None):
        """Logits plus every layer's per-step activations (I, F, O, C̃, C, H).

        Returns:
            ``(logits, state, traces)``; ``traces[k][name]`` is ``(seq_len, batch, hidden)``.
        """
        outputs, state, traces = self.lstm.trace(self.embedding(tokens), state)
        return self.head(outputs), state, traces

    @property
    def backend(self) -> str:
        return self.lstm.backend

    def set_backend(self, backend: str) -> "CharLSTM":
        """Run the LSTM with another backend from now on; returns the model."""
        self.lstm.set_backend(backend)
        return self
