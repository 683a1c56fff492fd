"""The training loop: epochs of truncated-BPTT windows, validation, checkpoints (chapter 10).

The loop follows PyTorch's ``examples/word_language_model``: the text is laid
out as parallel streams, each window is one :func:`~lstm_lib.train.train_step`,
and validation perplexity is measured after each epoch. What a run saves and
restores lives in :mod:`lstm_lib.runs.state`; which text it trains on in
:mod:`lstm_lib.runs.text`; how runs are kept apart in :mod:`lstm_lib.runs.safety`.
"""

import time
from pathlib import Path

import torch

from ..batching import batchify, get_batch, window_starts
from ..corpus import sha256_of_text
from ..errors import UsageError
from ..evaluation import bits_per_character, nll_and_count, perplexity
from ..train import TrainConfig, learning_rate, train_step
from . import distributed
from .checkpoint import load_checkpoint, model_from_checkpoint
from .progress import Progress
from .safety import RunLock, refuse_to_replace
from .state import RESUMABLE_SETTINGS, RunState, TrainingDiverged  # noqa: F401 (TrainingDiverged: API)
from .text import check_same_text, load_recorded_text, text_record, training_split


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
        step_fn: the update of one window, :func:`~lstm_lib.train.train_step` or one with its
            signature (a learner's own, for instance).
        world: this process's place among the ranks of a ``torchrun`` job
            (:mod:`lstm_lib.runs.distributed`); it then trains on its block of the streams.
        overwrite: replace the checkpoints of an earlier run in ``checkpoint_dir``; without
            it, a folder that holds them is refused (:class:`~lstm_lib.errors.UsageError`).
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
        overwrite=False,
    ):
        if checkpoint_dir is not None and not overwrite:
            refuse_to_replace(checkpoint_dir)
        self.may_replace = overwrite  # may fit() write over checkpoints it did not write itself?
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        super().__init__(model, vocab, config, optimizer, checkpoint_dir, text, world)
        self.device = torch.device(device)
        self.split_sizes = (len(train_ids), len(val_ids))
        streams = batchify(train_ids, config.batch_size, config.seq_len)
        self.train_data = distributed.shard_streams(streams, world).to(self.device)
        self.val_data = distributed.shard_streams(batchify(val_ids, config.batch_size, 1), world).to(
            self.device
        )
        self.starts = window_starts(self.train_data, config.seq_len)
        self.trained_model = distributed.wrap(model, world, self.device)  # model itself, or its DDP
        self.step_fn = step_fn

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

        Raises:
            UsageError: when another live run trains into the same ``checkpoint_dir``.
        """
        if self.checkpoint_dir is None or not self.world.is_main:
            return self._fit(progress, max_steps, on_epoch_end)
        with RunLock(self.checkpoint_dir):
            if not self.may_replace:  # another run may have filled the folder since __init__
                refuse_to_replace(self.checkpoint_dir)
            self.may_replace = True  # the checkpoints there are this run's own from now on
            return self._fit(progress, max_steps, on_epoch_end)

    def _fit(self, progress, max_steps, on_epoch_end):
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

    @classmethod
    def resume(
        cls,
        path,
        text=None,
        text_path=None,
        device="cpu",
        checkpoint_dir=None,
        overrides=None,
        overwrite=False,
        **options,
    ):
        """Rebuild a trainer from ``path`` so that ``fit`` continues exactly where it stopped.

        The training text is checked against the SHA-256 the checkpoint recorded: a
        different text would give other streams, and the run would not continue.

        Args:
            path: a ``last.pt`` (or ``best.pt``) written by a trainer.
            text: the training text, when it is at hand (a notebook's string); else
            text_path: the file that holds it now; with neither, the recorded file (or
                the default novel) is read.
            checkpoint_dir: where to keep saving; the checkpoint's own folder when None.
                Another folder that holds a run's checkpoints needs ``overwrite``.
            overrides: ``{field: value}`` for the :data:`~lstm_lib.runs.state.RESUMABLE_SETTINGS`
                to change (more epochs, another time limit, ...); the others are the saved ones.
            options: passed on to the trainer (``step_fn``, ``world``).

        Raises:
            UsageError: the checkpoint holds no training state, the text is not the
                recorded one, or an override may not change.
        """
        payload = load_checkpoint(path, map_location=device)
        if "optimizer_state" not in payload or "position" not in payload:
            raise UsageError(f"{path} holds a model only, not a training state; it cannot be resumed")
        settings = dict(payload["train_config"])
        for name, value in (overrides or {}).items():
            if name not in RESUMABLE_SETTINGS:
                raise UsageError(
                    f"{name} cannot change when a run is resumed (it was {settings.get(name)!r}); "
                    f"only {', '.join(RESUMABLE_SETTINGS)} can",
                    name,
                )
            settings[name] = value
        record = text_record(payload)
        if text is not None:
            check_same_text(path, record, sha256_of_text(text), "the text given")
        else:
            text, record = load_recorded_text(path, record, text_path)
        model, vocab = model_from_checkpoint(payload, device)
        config = TrainConfig.from_dict(settings)
        own_folder = Path(path).parent
        folder = Path(checkpoint_dir) if checkpoint_dir else own_folder
        same_folder = folder.resolve() == own_folder.resolve()
        trainer = cls(
            model,
            vocab,
            *training_split(text, vocab, config.val_fraction),
            config,
            folder,
            device,
            text=record,
            overwrite=overwrite or same_folder,
            **options,
        )
        trainer.restore(payload, device)
        trainer.saved_settings = payload["train_config"]
        return trainer
