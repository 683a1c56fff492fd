"""What a training run saves and restores, so that a resumed run continues exactly.

A checkpoint holds the model and vocabulary (enough to generate), and for
resuming: the optimizer's state, the position (epoch, window, step), the (H, C)
carried into the next window, the random-number state, the training text's
path and SHA-256, and a summary of the history (every epoch's record, and the
steps of the epoch in progress, which its training loss needs).
"""

import math
from pathlib import Path

import torch

from ..errors import UsageError
from ..version import __version__
from . import distributed
from .checkpoint import CheckpointError, save_checkpoint
from .progress import Progress


class TrainingDiverged(UsageError):
    """The loss became NaN or infinite."""


RESUMABLE_SETTINGS = ("epochs", "lr", "lr_schedule", "clip", "time_limit")
"""TrainConfig fields a resumed run may change; the others fix how the text is
cut into streams and windows, which a resumed run must keep."""


class RunState:
    """The bookkeeping half of :class:`~lstm_lib.runs.Trainer`: position, elapsed
    time, best loss, history, and saving and restoring all of it with what it
    belongs to (the model, its vocabulary, settings and optimizer).

    Args:
        model, vocab, config, optimizer: what the checkpoints hold besides the position.
        checkpoint_dir: where ``last.pt`` and ``best.pt`` go; None saves nothing.
        text: ``{"path": ..., "sha256": ...}`` of the training text, or None.
        world: this process's place in a ``torchrun`` job.
    """

    def __init__(
        self, model, vocab, config, optimizer, checkpoint_dir=None, text=None, world=distributed.SINGLE
    ):
        self.model = model
        self.vocab = vocab
        self.config = config
        self.optimizer = optimizer
        self.world = world
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.text = text
        self.epoch = 0  # completed epochs
        self.batch = 0  # windows completed in the current epoch
        self.step = 0  # optimizer steps in total
        self.carried_state = None  # (H, C) entering window `batch`, mid-epoch
        self.elapsed = 0.0  # training seconds, summed over resumed runs
        self.best_val_loss = math.inf
        self.history = {"steps": [], "epochs": []}
        self.interrupted = False

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    def record_step(self, loss, grad_norm, tokens, seconds) -> dict:
        """Count one finished step and add it to the history."""
        if self.world.distributed:  # every rank's mean over the same number of characters
            (loss_sum,) = distributed.sum_over_ranks(loss, world=self.world)
            loss, tokens = loss_sum / self.world.size, tokens * self.world.size
        self.elapsed += seconds
        self.batch += 1
        self.step += 1
        record = {
            "step": self.step,
            "epoch": self.epoch + 1,
            "loss": loss,
            "grad_norm": grad_norm,
            "clipped": self.config.clip > 0 and grad_norm > self.config.clip,
            "tokens_per_s": tokens / seconds,
        }
        self.history["steps"].append(record)
        return record

    def say(self, line: str) -> None:
        """Print a line (rank 0 only)."""
        if self.world.is_main:
            Progress.write(line)

    def stop_if_diverged(self, what: str, value: float) -> None:
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
            f"{kept}try a smaller lr or clip",
            "lr",
        )

    def checkpoint_payload(self) -> dict:
        """Everything a resumed run needs. In a ``torchrun`` job every rank must call
        it (the streams' states and random states are gathered from all ranks)."""
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        carried = None
        if self.carried_state is not None:  # all streams' states, whatever the number of ranks
            carried = [distributed.gather_streams(s.detach(), self.world).cpu() for s in self.carried_state]
        current = [s for s in self.history["steps"] if s["epoch"] == self.epoch + 1]
        return {
            "lstm_lib_version": __version__,
            "model_config": self.model.config.to_dict(),
            "model_state": self.model.state_dict(),
            "vocab": self.vocab.to_list(),
            "train_config": self.config.to_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "position": {"epoch": self.epoch, "batch": self.batch, "step": self.step},
            "carried_state": carried,
            "rng": rng,
            "rng_per_rank": distributed.gather_objects(rng, self.world),
            "elapsed": self.elapsed,
            "best_val_loss": self.best_val_loss,
            "history": {"epochs": self.history["epochs"], "steps": current},
            "text": self.text,
        }

    def save(self, name: str) -> Path | None:
        """Write ``checkpoint_dir/name`` atomically; a failed write keeps the old file."""
        if self.checkpoint_dir is None:
            return None
        path = self.checkpoint_dir / name
        payload = self.checkpoint_payload()
        if not self.world.is_main:
            return None
        try:
            return save_checkpoint(path, payload)
        except OSError as exc:
            raise CheckpointError(
                f"could not save {path}: {exc.strerror or exc}; the previous {name}, if any, is kept",
                "checkpoint_dir",
            ) from None

    def restore(self, payload: dict, device) -> None:
        """Take position, optimizer, carried state, RNG and history from ``payload``."""
        self.optimizer.load_state_dict(payload["optimizer_state"])
        position = payload["position"]
        self.epoch, self.batch, self.step = position["epoch"], position["batch"], position["step"]
        if payload["carried_state"] is not None:
            self.carried_state = tuple(
                distributed.shard_streams(s, self.world).to(device) for s in payload["carried_state"]
            )
        self.elapsed = payload["elapsed"]
        self.best_val_loss = payload["best_val_loss"]
        self.history = payload["history"]
        rng = payload["rng"]
        per_rank = payload.get("rng_per_rank") or []
        if len(per_rank) == self.world.size:  # the same number of ranks as before: each its own
            rng = per_rank[self.world.rank]
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
