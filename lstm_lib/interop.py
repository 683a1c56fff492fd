"""Moving weights between ``torch.nn.LSTM`` and this library's layers.

``nn.LSTM`` stores, per layer ``k``, ``weight_ih_lk`` ``(4*hidden, input)`` and
``weight_hh_lk`` ``(4*hidden, hidden)`` with gate blocks in the order
(i, f, g, o), where g is our candidate C̃, and two biases ``b_ih + b_hh``.
Our ``W_x`` is ``(input, 4*hidden)`` with blocks (i, f, o, c), so copying is a
transpose plus a reordering of blocks.
"""

import torch

from .cell import GATES

TORCH_GATES = ("i", "f", "c", "o")
"""``nn.LSTM``'s block order, with its "g" written as our "c"."""


def _reorder(weight: torch.Tensor, hidden: int, source: tuple, target: tuple) -> torch.Tensor:
    blocks = dict(zip(source, weight.split(hidden, dim=0)))
    return torch.cat([blocks[g] for g in target], dim=0)


@torch.no_grad()
def copy_from_torch_lstm(stacked, torch_lstm: torch.nn.LSTM) -> None:
    """Give a :class:`~lstm_lib.layer.StackedLSTM` the weights of an ``nn.LSTM``."""
    if torch_lstm.num_layers != stacked.num_layers or torch_lstm.hidden_size != stacked.hidden_size:
        raise ValueError("the two LSTMs differ in num_layers or hidden_size")
    H = stacked.hidden_size
    for k, layer in enumerate(stacked.layers):
        w_ih = getattr(torch_lstm, f"weight_ih_l{k}")
        w_hh = getattr(torch_lstm, f"weight_hh_l{k}")
        bias = getattr(torch_lstm, f"bias_ih_l{k}") + getattr(torch_lstm, f"bias_hh_l{k}")
        layer.cell.W_x.copy_(_reorder(w_ih, H, TORCH_GATES, GATES).t())
        layer.cell.W_h.copy_(_reorder(w_hh, H, TORCH_GATES, GATES).t())
        layer.cell.b.copy_(_reorder(bias, H, TORCH_GATES, GATES))


def torch_layout(tensor: torch.Tensor, hidden: int) -> torch.Tensor:
    """Our ``(in, 4*hidden)`` weight or ``(4*hidden,)`` bias (or its gradient)
    rearranged into ``nn.LSTM``'s ``(4*hidden, in)`` layout, for comparisons."""
    if tensor.dim() == 1:
        return _reorder(tensor, hidden, GATES, TORCH_GATES)
    return _reorder(tensor.t(), hidden, GATES, TORCH_GATES)
