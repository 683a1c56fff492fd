"""Training with truncated backpropagation through time.

The loop follows PyTorch's ``examples/word_language_model``: the text is laid
out as parallel streams, each window's final state starts the next window
(detached, so backpropagation stops at the window boundary), gradients are
clipped by their global norm, and validation perplexity is measured after each
epoch. What a run saves and restores (checkpoints, exact resume) lives in
:mod:`lstm_lib.run_state`; the progress bar in :mod:`lstm_lib.progress`.
"""

import math
import time
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F

from . import distributed
from .batching import batchify, get_batch, window_starts
from .errors import UsageError
from .evaluation import bits_per_character, nll_and_count, perplexity
from .layer import detach_state
from .progress import Progress
from .run_state import RunState, TrainingDiverged  # noqa: F401 (TrainingDiverged is part of this module's API)

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
        state = detach_state(state)
    logits, state = model(inputs, state)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip if clip > 0 else math.inf)
    optimizer.step()
    return loss.item(), grad_norm.item(), detach_state(state)


def learning_rate(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based): a function of the
    step alone, so a resumed run follows the same schedule."""
    if config.lr_schedule == "cosine":
        total = config.epochs * steps_per_epoch
        return config.lr * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    return config.lr


class Trainer(RunState):
    """Trains a :class:`~lstm_lib.model.CharLSTM` on a train/validation split.

    Args:
        model: the model to train (already on ``device``).
        vocab: its :class:`~lstm_lib.vocab.Vocabulary`, saved with checkpoints.
        train_ids, val_ids: ``(n,)`` id tensors, e.g. from :func:`~lstm_lib.batching.split_ids`.
        config: a :class:`TrainConfig`.
        checkpoint_dir: where ``last.pt`` and ``best.pt`` go; None saves nothing.
        device: where the data lives.
        text: ``{"path": ..., "sha256": ...}`` of the training text, saved so that a
            resumed run finds and checks the same text; None when unknown.
        step_fn: the update of one window, :func:`train_step` or one with its signature
            (a learner's own, for instance).
        world: this process's place among the ranks of a ``torchrun`` job
            (:mod:`lstm_lib.distributed`); it then trains on its block of the streams.
    """

    def __init__(
        self,
        model,
        vocab,
        train_ids,
        val_ids,
        config,
        checkpoint_dir=None,
        device="cpu",
        text=None,
        step_fn=train_step,
        world=distributed.SINGLE,
    ):
        self.model = model
        self.vocab = vocab
        self.config = config
        self.device = torch.device(device)
        self.world = world
        streams = batchify(train_ids, config.batch_size, config.seq_len)
        self.train_data = distributed.shard_streams(streams, world).to(self.device)
        self.val_data = distributed.shard_streams(batchify(val_ids, config.batch_size, 1), world).to(
            self.device
        )
        self.starts = window_starts(self.train_data, config.seq_len)
        self.trained_model = distributed.wrap(model, world, self.device)  # model itself, or its DDP
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.step_fn = step_fn
        super().__init__(checkpoint_dir, text)

    @property
    def steps_per_epoch(self) -> int:
        return len(self.starts)

    def learning_rate(self, step: int) -> float:
        return learning_rate(self.config, step, self.steps_per_epoch)

    def train_step(self, inputs, targets, state):
        """Set this step's learning rate, update on one window, stop on a NaN.

        Returns ``(loss, grad_norm, state)`` as :func:`train_step` does.
        """
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(self.step)
        loss, grad_norm, state = self.step_fn(
            self.trained_model, self.optimizer, inputs, targets, state, self.config.clip
        )
        self.stop_if_diverged("loss", loss)
        self.stop_if_diverged("gradient norm", grad_norm)
        return loss, grad_norm, state

    def fit(self, progress=True, max_steps=None, on_epoch_end=None):
        """Train until ``config.epochs`` epochs are done (or the time limit passes).

        Args:
            progress: show a progress bar with loss, perplexity, gradient norm and tokens/s.
            max_steps: stop (and checkpoint) after this many optimizer steps in
                this call, wherever that falls; ``resume`` continues from there.
            on_epoch_end: called as ``on_epoch_end(trainer, record)`` after each
                validation, e.g. to print a sample.

        Returns:
            ``history``: ``{"steps": [...], "epochs": [...]}``, lists of dicts.
        """
        cfg = self.config
        self.interrupted = False
        bar = Progress(cfg.epochs * self.steps_per_epoch, self.step, enabled=progress and self.world.is_main)
        steps_this_call = 0
        try:
            while self.epoch < cfg.epochs:
                bar.set_epoch(self.epoch + 1, cfg.epochs)
                self.model.train()
                state = self.carried_state
                while self.batch < self.steps_per_epoch:
                    if max_steps is not None and steps_this_call >= max_steps:
                        self.carried_state = state
                        self.save("last.pt")
                        return self.history
                    inputs, targets = get_batch(self.train_data, self.starts[self.batch], cfg.seq_len)
                    start = time.perf_counter()
                    loss, grad_norm, state = self.train_step(inputs, targets, state)
                    seconds = time.perf_counter() - start
                    self.carried_state = state
                    record = self.record_step(loss, grad_norm, targets.numel(), seconds)
                    steps_this_call += 1
                    bar.step(record)
                record = self.validate()
                if on_epoch_end is not None:
                    on_epoch_end(self, record)
                if cfg.time_limit and self.elapsed >= cfg.time_limit and self.epoch < cfg.epochs:
                    bar.write(f"time limit of {cfg.time_limit:.0f} s reached after epoch {self.epoch}")
                    break
        except KeyboardInterrupt:
            self.interrupted = True
            if not self.world.distributed:  # ranks stop at different steps: keep the epoch's checkpoint
                self.save("last.pt")
        finally:
            bar.close()
        return self.history

    def validate(self) -> dict:
        """End the epoch: validation perplexity, history, checkpoints."""
        epoch_steps = [s for s in self.history["steps"] if s["epoch"] == self.epoch + 1]
        train_loss = sum(s["loss"] for s in epoch_steps) / max(len(epoch_steps), 1)
        nll, count = nll_and_count(self.model, self.val_data, self.config.seq_len)
        nll, count = distributed.sum_over_ranks(nll, count, world=self.world)
        val_loss = nll / count  # over the whole validation text, token-weighted
        self.stop_if_diverged("validation loss", val_loss)
        self.epoch += 1
        self.batch = 0
        self.carried_state = None
        record = {
            "epoch": self.epoch,
            "step": self.step,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_ppl": perplexity(val_loss),
            "val_bpc": bits_per_character(val_loss),
            "elapsed": self.elapsed,
        }
        self.history["epochs"].append(record)
        self.say(
            f"epoch {self.epoch:3d} | train loss {train_loss:.3f} | val loss {val_loss:.3f} | "
            f"val ppl {record['val_ppl']:.3f} | {self.elapsed:6.1f} s"
        )
        self.save("last.pt")
        if val_loss < self.best_val_loss:
            self.best_val_loss = val_loss
            self.save("best.pt")
        return record
