"""Training with truncated backpropagation through time.

The loop follows PyTorch's ``examples/word_language_model``: the text is laid
out as parallel streams, each window's final state starts the next window
(detached, so backpropagation stops at the window boundary), gradients are
clipped by their global norm, and validation perplexity is measured after each
epoch. Checkpoints hold everything needed to continue exactly where training
stopped.
"""

import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .batching import batchify, get_batch, window_starts
from .checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from .errors import UsageError
from .evaluation import bits_per_character, evaluate, perplexity
from .layer import detach_state

LR_SCHEDULES = ("constant", "cosine")


class TrainingDiverged(UsageError):
    """The loss became NaN or infinite."""


@dataclass
class TrainConfig:
    """Optimization settings; saved with every checkpoint."""

    epochs: int = 20
    batch_size: int = 64
    seq_len: int = 100
    lr: float = 2e-3
    lr_schedule: str = "constant"  # or "cosine": decay to 0 over all epochs
    clip: float = 1.0  # max gradient norm; 0 turns clipping off
    seed: int = 0
    val_fraction: float = 0.1
    time_limit: float = 0.0  # seconds; 0 means no limit (checked after each epoch)
    drop_last: bool = False  # skip the short final window (static shapes)

    def __post_init__(self):
        for name in ("epochs", "batch_size", "seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise UsageError(
                    f"{name} must be a positive integer, got {value!r} (--{name.replace('_', '-')})"
                )
        if not self.lr > 0:
            raise UsageError(f"learning rate must be positive, got {self.lr!r} (--lr)")
        if self.lr_schedule not in LR_SCHEDULES:
            raise UsageError(
                f"unknown learning-rate schedule {self.lr_schedule!r}; "
                f"choose one of: {', '.join(LR_SCHEDULES)}"
            )
        if not self.clip >= 0:
            raise UsageError(f"clip must be >= 0 (0 turns clipping off), got {self.clip!r} (--clip)")
        if not self.time_limit >= 0:
            raise UsageError(f"time limit must be >= 0 seconds, got {self.time_limit!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise UsageError(f"val_fraction must be between 0 and 1, got {self.val_fraction!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class Trainer:
    """Trains a :class:`~lstm_lib.model.CharLSTM` on a train/validation split.

    Args:
        model: the model to train (already on ``device``).
        vocab: its :class:`~lstm_lib.vocab.Vocabulary`, saved with checkpoints.
        train_ids, val_ids: ``(n,)`` id tensors, e.g. from
            :func:`~lstm_lib.batching.split_ids`.
        config: a :class:`TrainConfig`.
        checkpoint_dir: where ``last.pt`` and ``best.pt`` go; None saves nothing.
        device: where the data lives.
        text_id: an identifier of the training text (its SHA-256), checked on resume.
    """

    def __init__(
        self, model, vocab, train_ids, val_ids, config, checkpoint_dir=None, device="cpu", text_id=""
    ):
        self.model = model
        self.vocab = vocab
        self.config = config
        self.device = torch.device(device)
        self.text_id = text_id
        self.train_data = batchify(train_ids, config.batch_size, config.seq_len).to(self.device)
        self.val_data = batchify(val_ids, config.batch_size, 1).to(self.device)
        self.starts = window_starts(self.train_data, config.seq_len, config.drop_last)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.epoch = 0  # completed epochs
        self.batch = 0  # windows completed in the current epoch
        self.step = 0  # optimizer steps in total
        self.carried_state = None  # (H, C) entering window `batch`, mid-epoch
        self.elapsed = 0.0  # training seconds, summed over resumed runs
        self.best_val_loss = math.inf
        self.history = {"steps": [], "epochs": []}
        self.interrupted = False

    @property
    def steps_per_epoch(self) -> int:
        return len(self.starts)

    # -- one step -------------------------------------------------------------------
    def train_step(self, inputs, targets, state):
        """Forward, backward, clip and update on one window.

        Returns ``(loss, grad_norm, state)``; ``grad_norm`` is measured before clipping.
        """
        logits, state = self.model(inputs, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        self._stop_if_diverged("loss", loss.item())
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = self.config.clip if self.config.clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        self._stop_if_diverged("gradient norm", grad_norm.item())
        self.optimizer.step()
        return loss.item(), grad_norm.item(), detach_state(state)

    def learning_rate(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (0-based).

        A function of the step alone, so a resumed run follows the same schedule.
        """
        if self.config.lr_schedule == "cosine":
            total = self.config.epochs * self.steps_per_epoch
            return self.config.lr * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        return self.config.lr

    def _stop_if_diverged(self, what: str, value: float) -> None:
        """Raise :class:`TrainingDiverged` when ``value`` is NaN or infinite.

        Nothing is saved then, so ``last.pt`` stays the last good checkpoint.
        """
        if math.isfinite(value):
            return
        kept = ""
        last = self.checkpoint_dir / "last.pt" if self.checkpoint_dir else None
        if last is not None and last.exists():
            kept = f"the last good checkpoint is kept at {last}; "
        raise TrainingDiverged(
            f"{what} became {value} at epoch {self.epoch + 1}, step {self.step + 1}; "
            f"{kept}try a smaller --lr or --clip"
        )

    # -- the loop -------------------------------------------------------------------
    def fit(self, progress=True, max_steps=None, on_epoch_end=None):
        """Train until ``config.epochs`` epochs are done (or the time limit passes).

        Args:
            progress: show a tqdm bar with loss, perplexity, gradient norm and tokens/s.
            max_steps: stop (and checkpoint) after this many optimizer steps in
                this call, wherever that falls; ``resume`` continues from there.
            on_epoch_end: called as ``on_epoch_end(trainer, record)`` after each
                validation, e.g. to print a sample.

        Returns:
            ``history``: ``{"steps": [...], "epochs": [...]}``, lists of dicts.
        """
        cfg = self.config
        self.interrupted = False
        total = cfg.epochs * self.steps_per_epoch
        done = self.epoch * self.steps_per_epoch + self.batch
        # At most one redraw per second: in a notebook every redraw is a widget
        # message, and thousands of them queued during a long cell overflow the
        # kernel's output channel (messages, including "cell finished", get dropped).
        bar = tqdm(
            total=total, initial=done, disable=not progress, unit="step", dynamic_ncols=True, mininterval=1.0
        )
        steps_this_call = 0
        try:
            while self.epoch < cfg.epochs:
                bar.set_description(f"epoch {self.epoch + 1}/{cfg.epochs}")
                self.model.train()
                state = self.carried_state
                while self.batch < self.steps_per_epoch:
                    if max_steps is not None and steps_this_call >= max_steps:
                        self.carried_state = state
                        self.save("last.pt")
                        return self.history
                    start = time.perf_counter()
                    inputs, targets = get_batch(self.train_data, self.starts[self.batch], cfg.seq_len)
                    loss, grad_norm, state = self.train_step(inputs, targets, state)
                    seconds = time.perf_counter() - start
                    self.elapsed += seconds
                    self.batch += 1
                    self.step += 1
                    steps_this_call += 1
                    self.carried_state = state
                    record = {
                        "step": self.step,
                        "epoch": self.epoch + 1,
                        "loss": loss,
                        "grad_norm": grad_norm,
                        "clipped": cfg.clip > 0 and grad_norm > cfg.clip,
                        "tokens_per_s": targets.numel() / seconds,
                    }
                    self.history["steps"].append(record)
                    bar.update(1)
                    bar.set_postfix(
                        loss=f"{loss:.3f}",
                        ppl=f"{perplexity(loss):.2f}",
                        grad=f"{grad_norm:.2f}",
                        tok_s=f"{record['tokens_per_s']:,.0f}",
                        refresh=False,  # shown at the next redraw
                    )
                record = self._end_epoch()
                if on_epoch_end is not None:
                    on_epoch_end(self, record)
                if cfg.time_limit and self.elapsed >= cfg.time_limit and self.epoch < cfg.epochs:
                    bar.write(f"time limit of {cfg.time_limit:.0f} s reached after epoch {self.epoch}")
                    break
        except KeyboardInterrupt:
            self.interrupted = True
            if self.checkpoint_dir is not None:
                self.save("last.pt")
        finally:
            bar.close()
        return self.history

    def _end_epoch(self) -> dict:
        epoch_steps = [s for s in self.history["steps"] if s["epoch"] == self.epoch + 1]
        train_loss = sum(s["loss"] for s in epoch_steps) / max(len(epoch_steps), 1)
        val_loss = evaluate(self.model, self.val_data, self.config.seq_len)
        self._stop_if_diverged("validation loss", val_loss)
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
        tqdm.write(
            f"epoch {self.epoch:3d} | train loss {train_loss:.3f} | val loss {val_loss:.3f} | "
            f"val ppl {record['val_ppl']:.3f} | {self.elapsed:6.1f} s"
        )
        if self.checkpoint_dir is not None:
            self.save("last.pt")
            if val_loss < self.best_val_loss:
                self.best_val_loss = val_loss
                self.save("best.pt")
        self.best_val_loss = min(self.best_val_loss, val_loss)
        return record

    # -- checkpoints ----------------------------------------------------------------
    def checkpoint_payload(self) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        carried = None
        if self.carried_state is not None:
            carried = [s.detach().cpu() for s in self.carried_state]
        return {
            "model_config": self.model.config.to_dict(),
            "model_state": self.model.state_dict(),
            "vocab": self.vocab.to_list(),
            "train_config": self.config.to_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "position": {"epoch": self.epoch, "batch": self.batch, "step": self.step},
            "carried_state": carried,
            "rng": rng,
            "elapsed": self.elapsed,
            "best_val_loss": self.best_val_loss,
            "history": self.history,
            "text_id": self.text_id,
        }

    def save(self, name: str) -> Path | None:
        if self.checkpoint_dir is None:
            return None
        return save_checkpoint(self.checkpoint_dir / name, self.checkpoint_payload())

    @classmethod
    def resume(cls, path, train_ids, val_ids, checkpoint_dir=None, device="cpu", text_id="", epochs=None):
        """Rebuild a trainer from ``path`` so that ``fit`` continues exactly where it stopped.

        ``epochs`` may raise the number of epochs to train in total.
        """
        payload = load_checkpoint(path, map_location=device)
        if "optimizer_state" not in payload or "position" not in payload:
            raise UsageError(f"{path} holds a model only, not a training state; it cannot be resumed")
        if text_id and payload.get("text_id") and payload["text_id"] != text_id:
            raise UsageError(f"{path} was trained on a different text; resume with the same --text as before")
        model, vocab = model_from_checkpoint(payload, device)
        config = TrainConfig.from_dict(payload["train_config"])
        if epochs is not None:
            config.epochs = epochs
        trainer = cls(
            model,
            vocab,
            train_ids,
            val_ids,
            config,
            checkpoint_dir or Path(path).parent,
            device,
            text_id or payload.get("text_id", ""),
        )
        trainer.optimizer.load_state_dict(payload["optimizer_state"])
        position = payload["position"]
        trainer.epoch, trainer.batch, trainer.step = position["epoch"], position["batch"], position["step"]
        if payload["carried_state"] is not None:
            trainer.carried_state = tuple(s.to(device) for s in payload["carried_state"])
        trainer.elapsed = payload["elapsed"]
        trainer.best_val_loss = payload["best_val_loss"]
        trainer.history = payload["history"]
        torch.set_rng_state(payload["rng"]["torch"])
        if "cuda" in payload["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(payload["rng"]["cuda"])
        return trainer
