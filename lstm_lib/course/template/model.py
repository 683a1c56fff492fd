"""The character language model: embedding -> stacked LSTM -> linear head (chapter 5)."""

from torch import nn

from .layer import StackedLSTM


class CharLSTM(nn.Module):
    """Predicts the next character at every position of a window.

    Args:
        config: an ``lstm_lib.ModelConfig`` (``vocab_size``, ``embedding_size``,
            ``hidden_size``, ``num_layers``, ``dropout``, ``forget_bias``).

    Build, with these attribute names (so that ``lstm_lib`` checkpoints load into it):
    ``self.embedding`` an ``nn.Embedding(vocab, embedding)``, ``self.lstm`` a
    :class:`~my_lstm.layer.StackedLSTM`, ``self.dropout`` an ``nn.Dropout(dropout)``
    and ``self.head`` an ``nn.Linear(hidden, vocab)``.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        # BEGIN SOLUTION CharLSTM
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.lstm = StackedLSTM(
            config.embedding_size, config.hidden_size, config.num_layers, config.dropout, config.forget_bias
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        # END SOLUTION

    def init_state(self, batch_size, device=None):
        """Zero ``(H, C)``, each ``(num_layers, batch, hidden)``."""
        return self.lstm.init_state(batch_size, device)

    def forward(self, tokens, state=None):
        """``tokens``: ``(seq_len, batch)`` ids.

        Returns:
            ``(logits, state)``: logits ``(seq_len, batch, vocab)`` (not probabilities) and
            the final ``(H, C)``, each ``(num_layers, batch, hidden)``.

        logits = head(dropout(outputs)), where ``outputs, state = lstm(embedding(tokens), state)``.
        """
        # BEGIN SOLUTION CharLSTM
        outputs, state = self.lstm(self.embedding(tokens), state)
        return self.head(self.dropout(outputs)), state
        # END SOLUTION
