"""An LSTM layer: the cell applied along a sequence, and layers stacked."""

import torch
from torch import nn

from .backends import get_backend
from .cell import LSTMCell
from .manual_backward import forward_sequence
from .step_kernels import EAGER

GATE_TRACE_NAMES = ("I", "F", "O", "C_tilde", "C", "H")
"""Keys of the per-step activations returned by ``trace``."""


class LSTMLayer(nn.Module):
    """Runs an :class:`LSTMCell` over a sequence, carrying (H, C) by hand.

    Args:
        input_size, hidden_size, forget_bias: as for :class:`LSTMCell`.
        backend: how the recurrence is differentiated, see :mod:`lstm_lib.backends`.
    """

    def __init__(self, input_size, hidden_size, forget_bias=1.0, backend="autograd"):
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size, forget_bias)
        self.set_backend(backend)

    @property
    def hidden_size(self) -> int:
        return self.cell.hidden_size

    @property
    def backend(self) -> str:
        """The name of the backend in use."""
        return self._backend.name

    def set_backend(self, backend: str) -> None:
        """Run with the backend called ``backend`` from now on."""
        self._backend = get_backend(backend)

    def init_state(self, batch_size, device=None, dtype=None):
        """Zero ``(H_0, C_0)``, each ``(batch, hidden)``."""
        W = self.cell.W_h
        zeros = torch.zeros(batch_size, self.hidden_size, device=device or W.device, dtype=dtype or W.dtype)
        return zeros, zeros.clone()

    def forward(self, X, state=None):
        """Run the whole sequence.

        Args:
            X: ``(seq_len, batch, input)``.
            state: ``(H_0, C_0)``, each ``(batch, hidden)``; zeros when None.

        Returns:
            ``(outputs, (H_T, C_T))``, outputs ``(seq_len, batch, hidden)``.
        """
        if state is None:
            state = self.init_state(X.shape[1], X.device, X.dtype)
        XW = self._backend.input_projection(self.cell, X)  # one large product for all steps
        outputs, H, C = self._backend.run(XW, state[0], state[1], self.cell.W_h)
        return outputs, (H, C)

    @torch.no_grad()
    def trace(self, X, state=None):
        """Like ``forward`` but also returns every step's activations.

        Returns:
            ``(outputs, (H_T, C_T), trace)`` where ``trace`` maps each name in
            ``GATE_TRACE_NAMES`` to a ``(seq_len, batch, hidden)`` tensor.
        """
        if state is None:
            state = self.init_state(X.shape[1], X.device, X.dtype)
        XW = self._backend.input_projection(self.cell, X)
        W_h = self.cell.W_h.contiguous()
        H_all, C_T, (C_prev, gates, _) = forward_sequence(XW.contiguous(), *state, W_h, EAGER)
        I, F, O, C_tilde = torch.stack(gates).split(self.hidden_size, dim=2)
        C = torch.stack([*C_prev[1:], C_T])  # C_1 … C_T
        trace = dict(zip(GATE_TRACE_NAMES, (I, F, O, C_tilde, C, H_all[1:]), strict=True))
        return trace["H"], (H_all[-1], C_T), trace


class StackedLSTM(nn.Module):
    """``num_layers`` LSTM layers, each reading the hidden states of the one below.

    The state is a pair ``(H, C)`` of ``(num_layers, batch, hidden)`` tensors,
    the same layout as ``torch.nn.LSTM`` uses.
    """

    def __init__(
        self, input_size, hidden_size, num_layers=1, dropout=0.0, forget_bias=1.0, backend="autograd"
    ):
        super().__init__()
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(LSTMLayer(size, hidden_size, forget_bias, backend) for size in sizes)
        self.dropout = nn.Dropout(dropout)  # applied between layers only

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def hidden_size(self) -> int:
        return self.layers[0].hidden_size

    def set_backend(self, backend: str) -> None:
        """Run every layer with the backend called ``backend`` from now on."""
        for layer in self.layers:
            layer.set_backend(backend)

    def init_state(self, batch_size, device=None, dtype=None):
        """Zero ``(H, C)``, each ``(num_layers, batch, hidden)``."""
        states = [layer.init_state(batch_size, device, dtype) for layer in self.layers]
        return torch.stack([H for H, _ in states]), torch.stack([C for _, C in states])

    def _run(self, X, state, layer_fn):
        if state is None:
            state = self.init_state(X.shape[1], X.device, X.dtype)
        H_all, C_all, extras = [], [], []
        for k, layer in enumerate(self.layers):
            if k > 0:
                X = self.dropout(X)
            X, (H, C), *extra = layer_fn(layer, X, (state[0][k], state[1][k]))
            H_all.append(H)
            C_all.append(C)
            extras.extend(extra)
        return X, (torch.stack(H_all), torch.stack(C_all)), extras

    def forward(self, X, state=None):
        """``X``: ``(seq_len, batch, input)`` -> ``(outputs (seq_len, batch, hidden), (H, C))``."""
        outputs, state, _ = self._run(X, state, lambda layer, x, s: layer(x, s))
        return outputs, state

    @torch.no_grad()
    def trace(self, X, state=None):
        """Like ``forward``, plus a list with one activation trace per layer."""
        return self._run(X, state, lambda layer, x, s: layer.trace(x, s))


def detach_state(state):
    """Cut the graph behind a state so the next window's backward stops here."""
    return tuple(s.detach() for s in state)
