"""Truncated BPTT training: learning, perplexity, checkpoints and exact resume."""

import errno
import math

import pytest
import torch
import torch.nn.functional as F

from lstm_lib import (
    CharLSTM,
    ModelConfig,
    TrainConfig,
    Trainer,
    UsageError,
    Vocabulary,
    evaluate,
    get_batch,
    load_checkpoint,
    model_from_checkpoint,
    split_ids,
    train_step,
    window_starts,
)
from lstm_lib.runs import TrainingDiverged
from lstm_lib.runs import checkpoint as checkpoint_module
from lstm_lib.runs.checkpoint import CheckpointError
from lstm_lib.runs.safety import LOCK_NAME
from lstm_lib.runs.text import load_text

from .helpers import RUN_FILES, TEXT, tiny_trainer


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
    assert sorted(p.name for p in tmp_path.iterdir()) == RUN_FILES
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
    resumed = Trainer.resume(tmp_path / "b" / "last.pt", TEXT)
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
    resumed = Trainer.resume(tmp_path / "b" / "last.pt", TEXT)
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
    assert sorted(p.name for p in tmp_path.iterdir()) == RUN_FILES, "no temp files left"


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
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([LOCK_NAME, "last.pt"]), "no temp file left"


def test_resume_overrides_only_what_may_change(tmp_path):
    trainer = tiny_trainer(tmp_path, epochs=2, lr_schedule="cosine")
    trainer.fit(progress=False, max_steps=3)
    resumed = Trainer.resume(tmp_path / "last.pt", TEXT, overrides={"epochs": 5})
    assert resumed.config.epochs == 5 and resumed.config.lr_schedule == "cosine"
    assert resumed.saved_settings["epochs"] == 2, "what the checkpoint held, for the CLI to report"
    assert resumed.checkpoint_dir == tmp_path
    with pytest.raises(UsageError, match="batch_size cannot change when a run is resumed"):
        Trainer.resume(tmp_path / "last.pt", TEXT, overrides={"batch_size": 8})


def recorded_run(tmp_path, text=TEXT):
    """A run on the text file ``tmp_path/text.txt``, recorded as the CLI records it, stopped
    after 3 steps; returns the text file and ``last.pt``."""
    text_file = tmp_path / "text.txt"
    text_file.write_text(text, encoding="utf-8")
    _, record = load_text(text_file)
    trainer = tiny_trainer(tmp_path / "run", epochs=2)
    trainer.text = record
    trainer.fit(progress=False, max_steps=3)
    return text_file, tmp_path / "run" / "last.pt"


def test_resume_reads_the_recorded_text_and_splits_it_itself(tmp_path):
    text_file, last = recorded_run(tmp_path)
    straight = tiny_trainer(epochs=2)
    resumed = Trainer.resume(last)
    assert resumed.text == load_checkpoint(last)["text"]
    assert resumed.split_sizes == straight.split_sizes
    assert torch.equal(resumed.train_data, straight.train_data), "the same streams"
    assert torch.equal(resumed.val_data, straight.val_data)
    moved = tmp_path / "moved.txt"
    text_file.rename(moved)
    with pytest.raises(UsageError, match="which is missing") as caught:
        Trainer.resume(last)
    assert caught.value.parameter == "text"
    assert Trainer.resume(last, text_path=moved).step == 3, "the text's new place"
    assert Trainer.resume(last, text=TEXT).step == 3, "the text itself, as a notebook holds it"


@pytest.mark.parametrize("given", ["text", "text_path"])
def test_resume_refuses_a_text_other_than_the_recorded_one(tmp_path, given):
    _, last = recorded_run(tmp_path)
    other = TEXT.replace("wife", "life")
    other_file = tmp_path / "other.txt"
    other_file.write_text(other, encoding="utf-8")
    before = last.read_bytes()
    options = {"text": other} if given == "text" else {"text_path": other_file}
    with pytest.raises(UsageError, match="is a different text") as caught:
        Trainer.resume(last, **options)
    assert caught.value.parameter == "text"
    assert last.read_bytes() == before


def test_resume_of_a_run_that_recorded_no_text_asks_for_the_text(tmp_path):
    """A trainer made from ids alone records no text (``text=None``): resuming it without
    the text cannot know which text to read, and must not guess Pride and Prejudice."""
    trainer = tiny_trainer(tmp_path, epochs=2)
    assert trainer.text is None
    trainer.fit(progress=False, max_steps=3)
    with pytest.raises(UsageError) as caught:
        Trainer.resume(tmp_path / "last.pt")
    assert caught.value.parameter == "text", str(caught.value)
    assert "not in the model's vocabulary" not in str(caught.value), "a guess at the text is no answer"
    assert Trainer.resume(tmp_path / "last.pt", TEXT).step == 3, "given the text, it resumes"


def test_resume_of_a_run_that_recorded_no_text_never_trains_on_the_novel_instead(tmp_path):
    """Even when the novel happens to be written in the model's characters."""
    novel = load_text()[0]
    text = "".join(sorted(set(novel))) + TEXT  # every character of the novel, and more
    vocab = Vocabulary.from_text(text)
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(len(vocab), embedding_size=8, hidden_size=16))
    config = TrainConfig(epochs=2, batch_size=4, seq_len=20)
    trainer = Trainer(model, vocab, *split_ids(vocab.encode(text), 0.1), config, tmp_path)
    trainer.fit(progress=False, max_steps=3)
    try:
        resumed = Trainer.resume(tmp_path / "last.pt")
    except UsageError as error:
        assert error.parameter == "text", str(error)
    else:
        assert resumed.split_sizes == trainer.split_sizes, "it resumed on another text than its own"
