"""Truncated BPTT training: learning, perplexity, checkpoints and exact resume."""

import errno
import math

import pytest
import torch
import torch.nn.functional as F

from lstm_lib import (
    Trainer,
    UsageError,
    evaluate,
    get_batch,
    load_checkpoint,
    model_from_checkpoint,
    train_step,
    window_starts,
)
from lstm_lib import checkpoint as checkpoint_module
from lstm_lib.checkpoint import CheckpointError
from lstm_lib.train import TrainingDiverged

from .helpers import data_ids, tiny_trainer


def test_training_lowers_validation_loss_and_records_history():
    trainer = tiny_trainer(epochs=3)
    before = evaluate(trainer.model, trainer.val_data, 20)
    history = trainer.fit(progress=False)
    assert len(history["epochs"]) == 3
    assert len(history["steps"]) == 3 * trainer.steps_per_epoch
    assert history["epochs"][-1]["val_loss"] < before - 0.5
    step = history["steps"][0]
    assert set(step) == {"step", "epoch", "loss", "grad_norm", "clipped", "tokens_per_s"}
    assert step["grad_norm"] > 0 and step["tokens_per_s"] > 0
    record = history["epochs"][-1]
    assert math.isclose(record["val_ppl"], math.exp(record["val_loss"]))


def test_evaluate_is_token_normalized():
    trainer = tiny_trainer()
    source, seq_len = trainer.val_data, 7  # windows of unequal length
    model = trainer.model.eval()
    total, count, state = 0.0, 0, None
    per_window = []
    for i in window_starts(source, seq_len):
        inputs, targets = get_batch(source, i, seq_len)
        logits, state = model(inputs, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum")
        total, count = total + loss.item(), count + targets.numel()
        per_window.append(loss.item() / targets.numel())
    assert len({len(get_batch(source, i, seq_len)[0]) for i in window_starts(source, seq_len)}) > 1
    assert evaluate(model, source, seq_len) == pytest.approx(total / count, rel=1e-6)
    assert evaluate(model, source, seq_len) != pytest.approx(sum(per_window) / len(per_window), rel=1e-6)


def test_gradient_norm_is_logged_before_clipping():
    trainer = tiny_trainer(epochs=1, clip=1e-3)
    history = trainer.fit(progress=False)
    assert all(s["clipped"] for s in history["steps"])
    assert all(s["grad_norm"] > 1e-3 for s in history["steps"])


def test_checkpoints_hold_everything_and_load_weights_only(tmp_path):
    trainer = tiny_trainer(tmp_path, epochs=2)
    trainer.fit(progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]
    payload = torch.load(tmp_path / "last.pt", weights_only=True)
    for key in ("model_state", "optimizer_state", "vocab", "model_config", "train_config", "rng", "position"):
        assert key in payload
    best = load_checkpoint(tmp_path / "best.pt")
    best_epoch = min(trainer.history["epochs"], key=lambda r: r["val_loss"])
    assert best["position"]["epoch"] == best_epoch["epoch"]
    model, vocab = model_from_checkpoint(best)
    assert evaluate(model, trainer.val_data, 20) == pytest.approx(best_epoch["val_loss"], rel=1e-6)


def _losses(history):
    return [s["loss"] for s in history["steps"]]


@pytest.mark.parametrize(("stop_after", "schedule"), [(5, "constant"), (12, "cosine"), (17, "constant")])
def test_resume_continues_exactly_as_if_never_stopped(tmp_path, stop_after, schedule):
    options = {"epochs": 2, "dropout": 0.3, "num_layers": 2, "lr_schedule": schedule}
    straight = tiny_trainer(tmp_path / "a", **options)
    straight.fit(progress=False)

    first = tiny_trainer(tmp_path / "b", **options)
    first.fit(progress=False, max_steps=stop_after)
    assert len(first.history["steps"]) == stop_after
    torch.manual_seed(1234)  # whatever happens in between must not matter
    train_ids, val_ids = data_ids()
    resumed = Trainer.resume(tmp_path / "b" / "last.pt", train_ids, val_ids)
    resumed.fit(progress=False)

    # A checkpoint keeps the steps of the epoch in progress only; those and every
    # step after them match the uninterrupted run.
    continued = _losses(resumed.history)
    assert len(continued) >= 2 * straight.steps_per_epoch - stop_after
    assert continued == _losses(straight.history)[-len(continued) :]
    assert [e["val_loss"] for e in resumed.history["epochs"]] == [
        e["val_loss"] for e in straight.history["epochs"]
    ]
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(tmp_path, monkeypatch):
    straight = tiny_trainer(tmp_path / "a", epochs=2)
    straight.fit(progress=False)

    trainer = tiny_trainer(tmp_path / "b", epochs=2)
    real_step = trainer.train_step
    calls = {"n": 0}

    def interrupted_step(*args):
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return real_step(*args)

    monkeypatch.setattr(trainer, "train_step", interrupted_step)
    trainer.fit(progress=False)
    assert trainer.interrupted
    assert load_checkpoint(tmp_path / "b" / "last.pt")["position"]["step"] == 8
    resumed = Trainer.resume(tmp_path / "b" / "last.pt", *data_ids())
    resumed.fit(progress=False)
    continued = _losses(resumed.history)
    assert continued == _losses(straight.history)[-len(continued) :]
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = tiny_trainer(tmp_path, epochs=3)
    trainer.fit(progress=False, max_steps=trainer.steps_per_epoch + 2)  # saves last.pt
    good = (tmp_path / "last.pt").read_bytes()
    with torch.no_grad():
        trainer.model.head.bias.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="loss became nan.*last good checkpoint is kept"):
        trainer.fit(progress=False)
    assert (tmp_path / "last.pt").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"], "no temp files left"


def test_cosine_schedule_decays_from_lr_to_zero():
    trainer = tiny_trainer(epochs=2, lr_schedule="cosine")
    total = 2 * trainer.steps_per_epoch
    rates = [trainer.learning_rate(step) for step in range(total + 1)]
    assert rates[0] == trainer.config.lr and rates[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert tiny_trainer(epochs=2, lr_schedule="constant").learning_rate(total) == trainer.config.lr


def test_time_limit_stops_after_the_epoch_that_passes_it():
    trainer = tiny_trainer(epochs=5, time_limit=1e-9)
    history = trainer.fit(progress=False)
    assert len(history["epochs"]) == 1


def test_checkpoints_keep_epoch_records_and_only_the_current_epochs_steps(tmp_path):
    trainer = tiny_trainer(tmp_path, epochs=3)
    trainer.fit(progress=False, max_steps=2 * trainer.steps_per_epoch + 3)
    saved = load_checkpoint(tmp_path / "last.pt")["history"]
    assert [e["epoch"] for e in saved["epochs"]] == [1, 2]
    assert [s["epoch"] for s in saved["steps"]] == [3, 3, 3]
    assert len(trainer.history["steps"]) == 2 * trainer.steps_per_epoch + 3, "memory keeps all steps"


def test_train_step_detaches_the_state_and_clips_the_global_norm():
    trainer = tiny_trainer()
    model, optimizer = trainer.model, trainer.optimizer
    inputs, targets = get_batch(trainer.train_data, 0, 20)
    loss, norm, state = train_step(model, optimizer, inputs, targets, None, clip=1e-3)
    assert loss > 0 and norm > 1e-3
    assert all(not s.requires_grad for s in state), "the returned state is cut from the graph"
    attached = tuple(s.clone().requires_grad_() for s in state)
    next_inputs, next_targets = get_batch(trainer.train_data, 20, 20)
    train_step(model, optimizer, next_inputs, next_targets, attached, clip=1e-3)
    assert all(s.grad is None for s in attached), "backpropagation stops at the window's start"
    clipped = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    assert clipped == pytest.approx(1e-3, rel=1e-4)


def test_trainer_runs_any_step_function_with_train_steps_signature():
    calls = []

    def counting_step(*args):
        calls.append(len(args))
        return train_step(*args)

    trainer = tiny_trainer(epochs=1)
    trainer.step_fn = counting_step
    trainer.fit(progress=False)
    assert calls == [6] * trainer.steps_per_epoch


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    trainer = tiny_trainer(tmp_path, epochs=2)
    trainer.fit(progress=False, max_steps=3)
    good = (tmp_path / "last.pt").read_bytes()

    def disk_full(payload, file):
        file.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", disk_full)
    with pytest.raises(CheckpointError, match="No space left on device.*previous last.pt, if any, is kept"):
        trainer.fit(progress=False, max_steps=1)
    assert (tmp_path / "last.pt").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"], "no temp file left behind"


def test_resume_overrides_only_what_may_change(tmp_path):
    trainer = tiny_trainer(tmp_path, epochs=2, lr_schedule="cosine")
    trainer.fit(progress=False, max_steps=3)
    resumed = Trainer.resume(tmp_path / "last.pt", *data_ids(), overrides={"epochs": 5})
    assert resumed.config.epochs == 5 and resumed.config.lr_schedule == "cosine"
    assert resumed.checkpoint_dir == tmp_path
    with pytest.raises(UsageError, match="batch_size cannot change when a run is resumed"):
        Trainer.resume(tmp_path / "last.pt", *data_ids(), overrides={"batch_size": 8})
