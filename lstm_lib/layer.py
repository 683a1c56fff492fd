"""An LSTM layer: the cell applied along a sequence, and layers stacked (chapter 5).

``LSTMLayer.forward`` is the loop of chapter 5, differentiated by autograd. A
layer can also run with a *backend*, which computes the same numbers with the
hand-written backward of chapter 12 and the fast kernels of chapter 13
(``"manual"``, ``"compiled"``); those are registered here by
:mod:`lstm_lib.fast`, imported the first time one of them is asked for.
"""

import importlib
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from .cell import LSTMCell, lstm_step
from .errors import UsageError

GATE_TRACE_NAMES = ("I", "F", "O", "C_tilde", "C", "H")
"""Keys of the per-step activations returned by ``trace``."""

AUTOGRAD = "autograd"
"""The backend name of the loop in :meth:`LSTMLayer.forward` itself."""


class Backend(NamedTuple):
    """Another way to run a layer: ``input_projection(cell, X)`` turns ``(seq_len, batch,
    input)`` into ``X W_x + b`` ``(seq_len, batch, 4*hidden)``, and ``run(XW, H, C, W_h)``
    walks the steps, returning ``(outputs (seq_len, batch, hidden), H_T, C_T)``."""

    name: str
    input_projection: Callable
    run: Callable


BACKENDS: dict[str, Backend] = {}
"""The registered backends by name, besides ``"autograd"``."""


def register_backend(backend: Backend) -> None:
    """Make ``backend`` available to :meth:`LSTMLayer.set_backend` under its name."""
    BACKENDS[backend.name] = backend


def backend_names() -> list[str]:
    """Every backend a layer can run with, ``"autograd"`` included."""
    importlib.import_module(f"{__package__}.fast")  # registers its backends
    return sorted([AUTOGRAD, *BACKENDS])


def get_backend(name: str) -> Backend | None:
    """The backend called ``name`` (None for ``"autograd"``); a clear error for unknown names."""
    if name == AUTOGRAD:
        return None
    if name not in BACKENDS:
        backend_names()
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}; choose one of: {', '.join(backend_names())}", "backend")
    return BACKENDS[name]


class LSTMLayer(nn.Module):
    """Runs an :class:`LSTMCell` over a sequence, carrying (H, C) by hand.

    Args:
        input_size, hidden_size, forget_bias: as for :class:`LSTMCell`.

    :meth:`forward` is the loop of chapter 5, differentiated by autograd;
    :meth:`set_backend` runs the layer another way (the same numbers).
    """

    def __init__(self, input_size, hidden_size, forget_bias=0.0):
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size, forget_bias)
        self._backend = None

    @property
    def hidden_size(self) -> int:
        return self.cell.hidden_size

    @property
    def backend(self) -> str:
        """The name of the backend in use."""
        return self._backend.name if self._backend else AUTOGRAD

    def set_backend(self, backend: str) -> "LSTMLayer":
        """Run with the backend called ``backend`` from now on; returns the layer.

        A backend other than ``"autograd"`` takes the place of :meth:`forward` for
        this layer (as an attribute of the instance); ``"autograd"`` gives it back.
        """
        self._backend = get_backend(backend)
        if self._backend is None:
            self.__dict__.pop("forward", None)
        else:
            self.forward = self._run_backend
        return self

    def init_state(self, batch_size, device=None, dtype=None):
        """Zero ``(H_0, C_0)``, each ``(batch, hidden)``."""
        W = self.cell.W_h
        zeros = torch.zeros(batch_size, self.hidden_size, device=device or W.device, dtype=dtype or W.dtype)
        return zeros, zeros.clone()

    def forward(self, X, state=None):
        """Run the whole sequence, one :func:`~lstm_lib.cell.lstm_step` per time step.

        Args:
            X: ``(seq_len, batch, input)``.
            state: ``(H_0, C_0)``, each ``(batch, hidden)``; zeros when None.

        Returns:
            ``(outputs, (H_T, C_T))``: outputs ``(seq_len, batch, hidden)`` stacks H_1 … H_T.
        """
        if state is None:
            state = self.init_state(X.shape[1], X.device, X.dtype)
        H, C = state
        outputs = []
        # unbind(0) hands out every step in one call; XW[t] would add one indexing
        # node per step, and its backward would cost O(seq_len²).
        for XW_t in self.cell.input_projection(X).unbind(0):  # X_t W_x + b, one product for all steps
            H, C, _ = lstm_step(XW_t, H, C, self.cell.W_h)
            outputs.append(H)
        return torch.stack(outputs), (H, C)

    def _run_backend(self, X, state=None):
        """:meth:`forward` as the backend computes it."""
        H, C = self.init_state(X.shape[1], X.device, X.dtype) if state is None else state
        XW = self._backend.input_projection(self.cell, X)
        outputs, H, C = self._backend.run(XW, H, C, self.cell.W_h)
        return outputs, (H, C)

    @torch.no_grad()
    def trace(self, X, state=None):
        """Like ``forward`` but also returns every step's activations.

        Returns:
            ``(outputs, (H_T, C_T), trace)`` where ``trace`` maps each name in
            ``GATE_TRACE_NAMES`` to a ``(seq_len, batch, hidden)`` tensor.
        """
        H, C = self.init_state(X.shape[1], X.device, X.dtype) if state is None else state
        steps = []
        for XW_t in self.cell.input_projection(X).unbind(0):
            H, C, gates = lstm_step(XW_t, H, C, self.cell.W_h)
            steps.append((*gates, C, H))
        trace = {name: torch.stack(values) for name, values in zip(GATE_TRACE_NAMES, zip(*steps))}
        return trace["H"], (H, C), trace


class StackedLSTM(nn.Module):
    """``num_layers`` LSTM layers, each reading the hidden states of the one below.

    The state is a pair ``(H, C)`` of ``(num_layers, batch, hidden)`` tensors,
    the same layout as ``torch.nn.LSTM`` uses. Dropout is applied between layers only.
    """

    Layer = LSTMLayer
    """The class of each layer."""

    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0, forget_bias=0.0):
        super().__init__()
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(self.Layer(size, hidden_size, forget_bias) for size in sizes)
        self.dropout = nn.Dropout(dropout)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def hidden_size(self) -> int:
        return self.layers[0].hidden_size

    @property
    def backend(self) -> str:
        return self.layers[0].backend

    def set_backend(self, backend: str) -> "StackedLSTM":
        """Run every layer with the backend called ``backend`` from now on; returns the stack."""
        for layer in self.layers:
            layer.set_backend(backend)
        return self

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
        """
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

    @torch.no_grad()
    def trace(self, X, state=None):
        """Like ``forward`` (in eval mode: no dropout), plus a list with one activation trace per layer."""
        H, C = self.init_state(X.shape[1], X.device, X.dtype) if state is None else state
        finals, traces = [], []
        for k, layer in enumerate(self.layers):
            X, final, trace = layer.trace(X, (H[k], C[k]))
            finals.append(final)
            traces.append(trace)
        return X, tuple(torch.stack(s) for s in zip(*finals)), traces


def detach_state(state):
    """Cut the graph behind a state so the next window's backward stops here."""
    return tuple(s.detach() for s in state)
