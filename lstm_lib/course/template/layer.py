"""The cell over a sequence, and layers stacked (chapter 5, "Assembling the cell and the layer")."""

import torch
from torch import nn

from .cell import LSTMCell, lstm_step


class LSTMLayer(nn.Module):
    """Runs an :class:`~my_lstm.cell.LSTMCell` over a sequence, carrying (H, C) by hand.

    The parameters are ``self.cell.W_x``, ``self.cell.W_h`` and ``self.cell.b``.
    """

    def __init__(self, input_size, hidden_size, forget_bias=1.0):
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size, forget_bias)

    @property
    def hidden_size(self) -> int:
        return self.cell.hidden_size

    def init_state(self, batch_size, device=None, dtype=None):
        """Zero ``(H_0, C_0)``, each ``(batch, hidden)``."""
        W = self.cell.W_h
        zeros = torch.zeros(batch_size, self.hidden_size, device=device or W.device, dtype=dtype or W.dtype)
        return zeros, zeros.clone()

    def forward(self, X, state=None):
        """Run the whole sequence, one :func:`~my_lstm.cell.lstm_step` per time step.

        Args:
            X: ``(seq_len, batch, input)``.
            state: ``(H_0, C_0)``, each ``(batch, hidden)``; zeros when None.

        Returns:
            ``(outputs, (H_T, C_T))``: outputs ``(seq_len, batch, hidden)`` stacks H_1 … H_T.

        Compute ``XW = self.cell.input_projection(X)`` once for all steps; then for
        t = 1 … T: ``H_t, C_t, _ = lstm_step(XW[t-1], H_{t-1}, C_{t-1}, self.cell.W_h)``,
        keeping every H_t. Autograd does the backward pass: never detach inside the loop.
        """
        # BEGIN SOLUTION LSTMLayer
        if state is None:
            state = self.init_state(X.shape[1], X.device, X.dtype)
        H, C = state
        outputs = []
        for XW_t in self.cell.input_projection(X).unbind(0):
            H, C, _ = lstm_step(XW_t, H, C, self.cell.W_h)
            outputs.append(H)
        return torch.stack(outputs), (H, C)
        # END SOLUTION


class StackedLSTM(nn.Module):
    """``num_layers`` :class:`LSTMLayer`, each reading the hidden states of the one below.

    The state is a pair ``(H, C)`` of ``(num_layers, batch, hidden)`` tensors, the
    layout ``torch.nn.LSTM`` uses. Dropout is applied between layers only.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0, forget_bias=1.0):
        super().__init__()
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(LSTMLayer(size, hidden_size, forget_bias) for size in sizes)
        self.dropout = nn.Dropout(dropout)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def hidden_size(self) -> int:
        return self.layers[0].hidden_size

    def init_state(self, batch_size, device=None, dtype=None):
        """Zero ``(H, C)``, each ``(num_layers, batch, hidden)``."""
        states = [layer.init_state(batch_size, device, dtype) for layer in self.layers]
        return torch.stack([H for H, _ in states]), torch.stack([C for _, C in states])

    def forward(self, X, state=None):
        """Run every layer over the whole sequence.

        Args:
            X: ``(seq_len, batch, input)``.
            state: ``(H, C)``, each ``(num_layers, batch, hidden)``; zeros when None.

        Returns:
            ``(outputs, (H, C))``: outputs ``(seq_len, batch, hidden)`` of the top layer,
            and the final states of every layer stacked, each ``(num_layers, batch, hidden)``.

        Layer k starts from ``(H[k], C[k])`` and reads the outputs of layer k-1 (after
        ``self.dropout``, for k > 0); layer 0 reads X.
        """
        # BEGIN SOLUTION StackedLSTM
        if state is None:
            state = self.init_state(X.shape[1], X.device, X.dtype)
        H_all, C_all = [], []
        for k, layer in enumerate(self.layers):
            if k > 0:
                X = self.dropout(X)
            X, (H, C) = layer(X, (state[0][k], state[1][k]))
            H_all.append(H)
            C_all.append(C)
        return X, (torch.stack(H_all), torch.stack(C_all))
        # END SOLUTION
