"""One update of truncated backpropagation through time, and its settings (chapters 6, 7 and 10).

:func:`train_step` is what the learner writes: each window's final state starts
the next window (detached, so backpropagation stops at the window boundary) and
gradients are clipped by their global norm. :class:`TrainConfig` holds a run's
settings and :func:`learning_rate` its schedule. The loop over epochs that uses
them, with checkpoints and exact resume, is :class:`lstm_lib.runs.Trainer`.
"""

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F

from .errors import UsageError

LR_SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig:
    """Optimization settings; saved with every checkpoint, and the one source of
    their defaults (the command line's flags default to these)."""

    epochs: int = 16
    batch_size: int = 64
    seq_len: int = 100
    lr: float = 4e-3
    lr_schedule: str = "cosine"  # decay to 0 over all epochs; or "constant"
    clip: float = 1.0  # max gradient norm; 0 turns clipping off
    seed: int = 0
    val_fraction: float = 0.1
    time_limit: float = 0.0  # seconds; 0 means no limit (checked after each epoch)

    def __post_init__(self):
        for name in ("epochs", "batch_size", "seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise UsageError(f"{name} must be a positive integer, got {value!r}", name)
        if not self.lr > 0:
            raise UsageError(f"lr (the learning rate) must be positive, got {self.lr!r}", "lr")
        if self.lr_schedule not in LR_SCHEDULES:
            raise UsageError(
                f"unknown lr_schedule {self.lr_schedule!r}; choose one of: {', '.join(LR_SCHEDULES)}",
                "lr_schedule",
            )
        if not self.clip >= 0:
            raise UsageError(f"clip must be >= 0 (0 turns clipping off), got {self.clip!r}", "clip")
        if not self.time_limit >= 0:
            raise UsageError(f"time_limit must be >= 0 seconds, got {self.time_limit!r}", "time_limit")
        if not 0.0 < self.val_fraction < 1.0:
            raise UsageError(
                f"val_fraction must be between 0 and 1, got {self.val_fraction!r}", "val_fraction"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def train_step(model, optimizer, inputs, targets, state, clip):
    """One truncated-BPTT update on one window.

    Args:
        model: a :class:`~lstm_lib.model.CharLSTM` (or anything with its call signature).
        optimizer: the optimizer of ``model``'s parameters.
        inputs, targets: ``(seq_len, batch)`` ids; targets are inputs shifted by one.
        state: ``(H, C)`` left by the previous window, each ``(num_layers, batch, hidden)``,
            or None for zeros. It is detached here: backpropagation stops at the window's start.
        clip: the largest allowed global gradient norm; 0 turns clipping off.

    Returns:
        ``(loss, grad_norm, state)``: the mean cross-entropy per character, the
        gradient norm before clipping, and the detached final state.
    """
    if state is not None:
        state = tuple(s.detach() for s in state)  # backpropagation stops at the window's start
    logits, state = model(inputs, state)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip if clip > 0 else math.inf)
    optimizer.step()
    return loss.item(), grad_norm.item(), tuple(s.detach() for s in state)


def learning_rate(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based): a function of the
    step alone, so a resumed run follows the same schedule."""
    if config.lr_schedule == "cosine":
        total = config.epochs * steps_per_epoch
        return config.lr * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    return config.lr
