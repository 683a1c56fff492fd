"""The cell over a sequence, and layers stacked (chapter 5, "Assembling the cell and the layer").

Each class extends lstm_lib's class of the same name, which holds everything but
``forward``: the parameters, the zero state, the backends of chapters 12 and 13.
You write the two ``forward`` methods.
"""

import torch

import lstm_lib.layer

from .cell import lstm_step


class LSTMLayer(lstm_lib.layer.LSTMLayer):
    """Runs an :class:`~my_lstm.cell.LSTMCell` over a sequence, carrying (H, C) by hand.

    Ready-made: the parameters ``self.cell.W_x``, ``self.cell.W_h`` and ``self.cell.b``,
    and ``self.init_state(batch_size, device, dtype)``, a zero ``(H_0, C_0)``.
    """

    def forward(self, X, state=None):
        """{docstring of lstm_lib.layer.LSTMLayer.forward}

        Compute ``XW = self.cell.input_projection(X)`` once for all steps; then for
        t = 1 … T: ``H_t, C_t, _ = lstm_step(XW[t-1], H_{t-1}, C_{t-1}, self.cell.W_h)``,
        keeping every H_t. Autograd does the backward pass: never detach inside the loop.
        """
        # BEGIN SOLUTION LSTMLayer from lstm_lib.layer.LSTMLayer.forward
        # END SOLUTION


class StackedLSTM(lstm_lib.layer.StackedLSTM):
    """``num_layers`` :class:`LSTMLayer`, each reading the hidden states of the one below.

    The state is a pair ``(H, C)`` of ``(num_layers, batch, hidden)`` tensors, the
    layout ``torch.nn.LSTM`` uses. Dropout is applied between layers only.

    Ready-made: ``self.layers``, one :class:`LSTMLayer` per layer, ``self.dropout``
    (an ``nn.Dropout``) and ``self.init_state(batch_size, device, dtype)``.
    """

    @property
    def Layer(self):
        """The class of each layer: this module's :class:`LSTMLayer`, looked up when the
        stack is built (so that the grader can stand lstm_lib's in for it)."""
        return LSTMLayer

    def forward(self, X, state=None):
        """{docstring of lstm_lib.layer.StackedLSTM.forward}

        Layer k starts from ``(H[k], C[k])`` and reads the outputs of layer k-1 (after
        ``self.dropout``, for k > 0); layer 0 reads X.
        """
        # BEGIN SOLUTION StackedLSTM from lstm_lib.layer.StackedLSTM.forward
        # END SOLUTION
