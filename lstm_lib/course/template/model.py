"""The character language model: embedding -> stacked LSTM -> linear head (chapter 5)."""

from torch import nn

import lstm_lib.model

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

    init_state = lstm_lib.model.CharLSTM.init_state  # ready-made: a zero (H, C) for self.lstm

    def __init__(self, config):
        """Call ``super().__init__()`` first and keep ``config`` as ``self.config``; then build the parts."""
        # BEGIN SOLUTION CharLSTM from lstm_lib.model.CharLSTM.__init__
        # END SOLUTION

    def forward(self, tokens, state=None):
        """{docstring of lstm_lib.model.CharLSTM.forward}

        The logits, not probabilities: ``logits = head(dropout(outputs))``, where
        ``outputs, state = lstm(embedding(tokens), state)``.
        """
        # BEGIN SOLUTION CharLSTM from lstm_lib.model.CharLSTM.forward
        # END SOLUTION
