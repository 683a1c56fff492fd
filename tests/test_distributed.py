"""Data-parallel training with torchrun: the same result as one process, exact
resume, and a clear failure when a rank dies. Two CPU processes over gloo."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lstm_lib import load_checkpoint
from lstm_lib.errors import UsageError
from lstm_lib.runs import distributed
from lstm_lib.runs.distributed import World
from lstm_lib.runs.safety import LOCK_NAME

from .helpers import TEXT

TINY = [
    "--embedding-size",
    "8",
    "--hidden-size",
    "16",
    "--batch-size",
    "4",
    "--seq-len",
    "20",
    "--lr",
    "0.01",
]
WORKER = Path(__file__).with_name("ddp_worker.py")


def torchrun(*args, nproc=2, **kwargs):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False, **kwargs
    )


def weights(path):
    return torch.load(path, weights_only=True)["model_state"]


def max_difference(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_streams_split_into_blocks_and_join_again():
    data = torch.arange(24).view(3, 8)
    blocks = [distributed.shard_streams(data, World(rank, 4)) for rank in range(4)]
    assert [b.tolist() for b in blocks[1]] == [[2, 3], [10, 11], [18, 19]]
    assert torch.equal(torch.cat(blocks, dim=1), data)
    with pytest.raises(UsageError, match="batch_size 8 does not split evenly over 3 processes"):
        distributed.shard_streams(data, World(0, 3))


def test_two_processes_train_the_same_model_as_one(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TEXT * 3, encoding="utf-8")
    args = ["train", "--text", str(text), "--epochs", "2", *TINY, "--no-progress", "--sample-length", "10"]
    one = subprocess.run(
        [sys.executable, "-m", "lstm_lib", *args, "--checkpoint-dir", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert one.returncode == 0, one.stderr
    two = torchrun("-m", "lstm_lib", *args, "--checkpoint-dir", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr
    assert "2 processes, 2 streams each" in two.stdout
    assert two.stdout.count("best validation perplexity") == 1, "rank 0 alone prints"
    assert max_difference(weights(tmp_path / "one" / "last.pt"), weights(tmp_path / "two" / "last.pt")) < 1e-4
    val_one, val_two = (
        [e["val_loss"] for e in load_checkpoint(tmp_path / run / "last.pt")["history"]["epochs"]]
        for run in ("one", "two")
    )
    assert val_two == pytest.approx(val_one, rel=1e-5), "validation covers the whole text, token-weighted"


def test_a_resumed_distributed_run_matches_an_uninterrupted_one(tmp_path):
    for mode in ("straight", "first", "resume"):
        result = torchrun(str(WORKER), mode, str(tmp_path))
        assert result.returncode == 0, result.stderr
    stopped = load_checkpoint(tmp_path / "run" / "last.pt")
    assert stopped["position"]["epoch"] == 2
    straight, resumed = weights(tmp_path / "straight" / "last.pt"), weights(tmp_path / "run" / "last.pt")
    assert max_difference(straight, resumed) == 0.0


def test_a_killed_rank_fails_the_run_and_keeps_the_last_checkpoint(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TEXT * 40, encoding="utf-8")
    ckpt = tmp_path / "ckpt"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    args = ["-m", "lstm_lib", "train", "--text", str(text), "--epochs", "50", *TINY, "--no-progress"]
    launcher = subprocess.Popen(
        [*command, *args, "--checkpoint-dir", str(ckpt)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 120
    while not (ckpt / "last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert (ckpt / "last.pt").exists(), "the first epoch ended and was saved"
    ranks = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True).stdout.split()
    assert len(ranks) == 2
    os.kill(int(ranks[-1]), signal.SIGKILL)
    out, err = launcher.communicate(timeout=120)
    assert launcher.returncode != 0
    assert "ChildFailedError" in err and "Signal 9 (SIGKILL)" in err, err[-2000:]
    assert load_checkpoint(ckpt / "last.pt")["position"]["epoch"] >= 1, "the last checkpoint still loads"
    assert {p.name for p in ckpt.iterdir()} <= {"best.pt", "last.pt", LOCK_NAME}, "no half-written file"
