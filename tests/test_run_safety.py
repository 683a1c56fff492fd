"""Runs never overwrite each other, and one folder has one writer at a time.

- A new run into a folder that holds a run's checkpoints (``last.pt`` or ``best.pt``) is
  refused unless told to overwrite them (``overwrite=True``, ``--overwrite``); a resumed
  run may keep saving into its own checkpoint's folder, but not into another run's.
- While a run trains, it holds an ``flock`` on ``.lstm_lib.lock`` in its folder
  (:class:`lstm_lib.runs.safety.RunLock`): a second writer is refused and told the
  holder's process id; a killed run's leftover lock file blocks nobody.

The command line's behaviour is tested on real processes of ``python -m lstm_lib``.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from lstm_lib import Trainer, UsageError, load_checkpoint
from lstm_lib.runs.cli import main
from lstm_lib.runs.safety import LOCK_NAME, RunLock

from .helpers import RUN_FILES, TEXT, tiny_trainer

TINY = ["--embedding-size", "8", "--hidden-size", "16", "--batch-size", "4", "--seq-len", "20"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
"""One thread each: these tests run several processes at once on what may be a small machine."""
QUIET = ["--backend", "manual", "--no-progress", "--sample-length", "5"]
"""No compiling (seconds saved per process), no progress bar, a short closing sample."""


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def train_args(text_file, folder, *flags, epochs=1):
    return [
        "train",
        "--text",
        str(text_file),
        "--checkpoint-dir",
        str(folder),
        "--epochs",
        str(epochs),
        *TINY,
        *QUIET,
        *flags,
    ]


def cli(*args, timeout=300):
    """``python -m lstm_lib ARGS`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "lstm_lib", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def one_line_error(result, *fragments):
    """``result`` exited 2 with one line on stderr, no traceback, holding every fragment."""
    err = result.stderr.strip()
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], err[-2000:])
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: "), err
    for fragment in fragments:
        assert fragment in err, err
    return err


def snapshot(folder):
    """The bytes of every checkpoint in ``folder``."""
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.pt"))}


# -- a new run never replaces another's checkpoints (the library) ------------------


@pytest.mark.parametrize("left", ["both", "last.pt", "best.pt"])
def test_a_new_trainer_refuses_a_folder_that_holds_a_run(tmp_path, left):
    tiny_trainer(tmp_path, epochs=1).fit(progress=False)
    if left != "both":
        (tmp_path / ({"last.pt", "best.pt"} - {left}).pop()).unlink()
    before = snapshot(tmp_path)
    with pytest.raises(UsageError) as caught:
        tiny_trainer(tmp_path, epochs=1)
    message = str(caught.value)
    for fragment in (
        "already holds the checkpoints of a run",
        str(tmp_path),
        "--resume",
        "--checkpoint-dir",
        "--overwrite",
        "overwrite=True",
    ):
        assert fragment in message, message
    assert snapshot(tmp_path) == before, "nothing was touched"


def test_a_folder_without_checkpoints_is_free_and_overwrite_replaces_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    (tmp_path / LOCK_NAME).write_text("")  # a finished run's released lock file holds no run
    tiny_trainer(tmp_path, epochs=1).fit(progress=False)
    first = load_checkpoint(tmp_path / "last.pt")
    replaced = tiny_trainer(tmp_path, epochs=2, seed=1, overwrite=True)
    replaced.fit(progress=False)
    second = load_checkpoint(tmp_path / "last.pt")
    assert (first["train_config"]["seed"], second["train_config"]["seed"]) == (0, 1)
    assert second["position"]["epoch"] == 2
    assert (tmp_path / "notes.txt").read_text() == "not a checkpoint"


def test_resume_saves_into_its_own_folder_but_not_into_another_runs(tmp_path):
    tiny_trainer(tmp_path / "a", epochs=2).fit(progress=False, max_steps=3)
    tiny_trainer(tmp_path / "b", epochs=1).fit(progress=False)
    last = tmp_path / "a" / "last.pt"
    assert Trainer.resume(last, TEXT).checkpoint_dir == tmp_path / "a", "its own folder needs no overwrite"
    assert Trainer.resume(last, TEXT, checkpoint_dir=tmp_path / "new").checkpoint_dir == tmp_path / "new"
    before = snapshot(tmp_path / "b")
    with pytest.raises(UsageError, match="already holds the checkpoints of a run"):
        Trainer.resume(last, TEXT, checkpoint_dir=tmp_path / "b")
    assert snapshot(tmp_path / "b") == before
    resumed = Trainer.resume(last, TEXT, checkpoint_dir=tmp_path / "b", overwrite=True)
    resumed.fit(progress=False)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["position"]["epoch"] == 2, "a's run, continued"


# -- one writer per folder (the library) -------------------------------------------


def holder(folder):
    """The line the lock file of ``folder`` holds: who trains into it."""
    return (folder / LOCK_NAME).read_text()


def test_fit_holds_the_folder_lock_while_it_trains_and_releases_it(tmp_path):
    seen = []

    def try_to_take_the_lock(trainer, record):
        seen.append(holder(tmp_path))
        with pytest.raises(
            UsageError, match=f"is in use by a run that is still training \\(process {os.getpid()} "
        ):
            with RunLock(tmp_path):
                pass

    tiny_trainer(tmp_path, epochs=2).fit(progress=False, on_epoch_end=try_to_take_the_lock)
    assert len(seen) == 2 and all(line.startswith(f"process {os.getpid()} on ") for line in seen), seen
    assert holder(tmp_path) == "", "released: the file names nobody"
    with RunLock(tmp_path):  # free again
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == RUN_FILES


def test_a_second_fit_into_a_held_folder_is_refused_naming_the_holder(tmp_path):
    trainer = tiny_trainer(tmp_path, epochs=1)
    with RunLock(tmp_path):
        with pytest.raises(UsageError, match=f"process {os.getpid()} on ") as caught:
            trainer.fit(progress=False)
    assert "--checkpoint-dir" in str(caught.value)
    assert trainer.step == 0 and not list(tmp_path.glob("*.pt")), "it neither trained nor saved"
    trainer.fit(progress=False)  # once the holder is gone
    assert trainer.finished


@pytest.mark.parametrize("failure", ["diverged", "ctrl-c"])
def test_the_lock_is_released_however_fit_ends(tmp_path, failure):
    trainer = tiny_trainer(tmp_path, epochs=2)
    if failure == "diverged":
        with torch.no_grad():
            trainer.model.head.bias.fill_(float("nan"))
        with pytest.raises(UsageError, match="became nan"):
            trainer.fit(progress=False)
    else:

        def interrupted(*args):
            raise KeyboardInterrupt

        trainer.train_step = interrupted
        trainer.fit(progress=False)
        assert trainer.interrupted
    with RunLock(tmp_path):
        pass


def test_a_stale_lock_file_blocks_nobody(tmp_path):
    (tmp_path / LOCK_NAME).write_text("process 4194303 on a-machine-long-gone, since 2020-01-01 00:00:00\n")
    trainer = tiny_trainer(tmp_path, epochs=1)
    trainer.fit(progress=False)
    assert trainer.finished and (tmp_path / "last.pt").exists()


def test_a_run_that_saves_nothing_takes_no_lock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny_trainer(None, epochs=1).fit(progress=False)
    assert list(tmp_path.iterdir()) == []


# -- the command line, in real processes ------------------------------------------


def test_a_second_train_into_a_folder_holding_a_run_is_refused_until_overwrite(tmp_path, text_file):
    folder = tmp_path / "ckpt"
    first = cli(*train_args(text_file, folder))
    assert first.returncode == 0, first.stderr
    before = snapshot(folder)
    err = one_line_error(
        cli(*train_args(text_file, folder, "--seed", "1")),
        str(folder),
        "already holds the checkpoints of a run",
        f"--resume {folder / 'last.pt'}",
        "--checkpoint-dir",
        "--overwrite",
    )
    assert "overwrite=True" in err or "--overwrite" in err
    assert snapshot(folder) == before, "the refused run wrote nothing"
    replaced = cli(*train_args(text_file, folder, "--seed", "1", "--overwrite"))
    assert replaced.returncode == 0, replaced.stderr
    assert load_checkpoint(folder / "last.pt")["train_config"]["seed"] == 1


def test_resume_into_another_runs_folder_is_refused_until_overwrite(tmp_path, text_file, capsys):
    assert main(train_args(text_file, tmp_path / "a", epochs=1)) == 0
    assert main(train_args(text_file, tmp_path / "b", "--seed", "1", epochs=1)) == 0
    capsys.readouterr()
    last = tmp_path / "a" / "last.pt"
    resume = ["train", "--resume", str(last), "--epochs", "2", *QUIET]
    before = snapshot(tmp_path / "b")
    one_line_error(
        cli(*resume, "--checkpoint-dir", str(tmp_path / "b")),
        f"{tmp_path / 'b'} already holds the checkpoints of a run",
        "--overwrite",
    )
    assert snapshot(tmp_path / "b") == before
    into_b = cli(*resume, "--checkpoint-dir", str(tmp_path / "b"), "--overwrite")
    assert into_b.returncode == 0, into_b.stderr
    payload = load_checkpoint(tmp_path / "b" / "last.pt")
    assert (payload["train_config"]["seed"], payload["position"]["epoch"]) == (0, 2), "a's run, continued"
    into_new = cli(*resume, "--checkpoint-dir", str(tmp_path / "c"))
    assert into_new.returncode == 0, into_new.stderr
    own = cli(*resume)  # its own folder: no --overwrite needed
    assert own.returncode == 0, own.stderr
    assert load_checkpoint(last)["position"]["epoch"] == 2


def wait_for(condition, what, process, seconds=180):
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the first run ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_live_run_holds_its_folder_and_a_killed_runs_lock_blocks_nobody(tmp_path, text_file):
    long_text = tmp_path / "long.txt"
    long_text.write_text(TEXT * 10, encoding="utf-8")
    folder = tmp_path / "ckpt"
    first = subprocess.Popen(
        [sys.executable, "-m", "lstm_lib", *train_args(long_text, folder, epochs=100_000)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        lock = folder / LOCK_NAME
        wait_for(
            lambda: lock.exists() and holder(folder).startswith(f"process {first.pid} on "),
            "it took the lock",
            first,
        )
        wait_for(lambda: (folder / "last.pt").exists(), "its first checkpoint", first)
        in_use = f"is in use by a run that is still training (process {first.pid} on "
        # a new run told to overwrite, and the same run resumed: both refused while it trains
        one_line_error(
            cli(*train_args(long_text, folder, "--overwrite")), str(folder), in_use, "--checkpoint-dir"
        )
        one_line_error(cli("train", "--resume", str(folder / "last.pt"), *QUIET), in_use)
        assert first.poll() is None, "the first run trains on"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL
    assert holder(folder).startswith(f"process {first.pid} on "), "the killed run's lock file is left"
    killed = load_checkpoint(folder / "last.pt")
    assert killed["train_config"]["epochs"] == 100_000, "the refused runs wrote nothing"
    shutil.copy(folder / "last.pt", tmp_path / "killed.pt")
    after = cli(*train_args(long_text, folder, "--overwrite"))
    assert after.returncode == 0, after.stderr
    assert load_checkpoint(folder / "last.pt")["train_config"]["epochs"] == 1
    assert holder(folder) == ""


def test_a_trainer_made_before_another_run_filled_its_folder_does_not_replace_that_run(tmp_path):
    """The folder is checked when the trainer is made, and again when it starts training:
    another run may have trained into the folder in between (a notebook's trainer, made in
    one cell and fitted in a later one, while ``python -m lstm_lib train`` ran in a terminal)."""
    early = tiny_trainer(tmp_path, epochs=1)  # the folder is empty now
    tiny_trainer(tmp_path, epochs=1, seed=1).fit(progress=False)
    before = snapshot(tmp_path)
    with pytest.raises(UsageError, match="already holds the checkpoints of a run"):
        early.fit(progress=False)
    assert snapshot(tmp_path) == before, "the other run's checkpoints are kept"
    again = tiny_trainer(tmp_path, epochs=2, overwrite=True)
    again.fit(progress=False, max_steps=3)
    again.fit(progress=False)  # its own checkpoints: a trainer may go on saving over them
    assert load_checkpoint(tmp_path / "last.pt")["position"]["epoch"] == 2
