"""The command line: the main job on a small text, and every kind of bad input."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from lstm_lib import train as train_module
from lstm_lib.cli import main

from .helpers import TEXT

TINY = ["--embedding-size", "8", "--hidden-size", "16", "--batch-size", "4", "--seq-len", "20"]


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture
def trained(tmp_path, text_file, capsys):
    ckpt = tmp_path / "ckpt"
    args = ["train", "--text", str(text_file), "--epochs", "2", "--checkpoint-dir", str(ckpt), *TINY]
    assert main([*args, "--no-progress", "--sample-length", "50"]) == 0
    return ckpt


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_train_prints_perplexity_sample_and_checkpoint(trained, capsys):
    out = capsys.readouterr().out
    assert "best validation perplexity" in out
    assert f"checkpoints: {trained / 'best.pt'}" in out
    # "Elizabeth" is not in this text's vocabulary, so the sample starts from the validation text
    sample = out.split("sample (temperature 0.8):\n\n")[1]
    assert len(sample.rstrip("\n")) == 51
    assert sorted(p.name for p in trained.iterdir()) == ["best.pt", "last.pt"]


def test_generate_is_reproducible_with_a_seed(trained, capsys):
    capsys.readouterr()
    args = ["generate", "--checkpoint", str(trained / "best.pt"), "--prompt", "It is", "--length", "40"]
    assert main([*args, "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert main([*args, "--seed", "3"]) == 0
    assert capsys.readouterr().out == first and first.startswith("It is") and len(first) == len("It is") + 41
    assert main([*args, "--temperature", "0"]) == 0
    greedy = capsys.readouterr().out
    assert main([*args, "--temperature", "0", "--seed", "9"]) == 0
    assert capsys.readouterr().out == greedy, "greedy decoding ignores the seed"


def test_evaluate_reports_perplexity(trained, text_file, capsys):
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(trained / "best.pt"), "--text", str(text_file)]) == 0
    assert "perplexity" in capsys.readouterr().out


def test_resume_from_the_command_line(trained, text_file, capsys):
    args = ["train", "--resume", str(trained / "last.pt"), "--text", str(text_file), "--epochs", "3"]
    assert main([*args, "--checkpoint-dir", str(trained), "--no-progress", "--sample-length", "5"]) == 0
    assert "resuming from" in capsys.readouterr().out
    assert torch.load(trained / "last.pt", weights_only=True)["position"]["epoch"] == 3


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (None, ["not found", "missing.txt"]),
        (b"", ["empty"]),
        (b"caf\xe9 au lait", ["UTF-8"]),
        (b"far too short", ["too short", "--batch-size"]),
    ],
)
def test_bad_text_is_a_one_line_error(tmp_path, capsys, content, fragments):
    path = tmp_path / "missing.txt"
    if content is not None:
        path = tmp_path / "bad.txt"
        path.write_bytes(content)
    ckpt = tmp_path / "ckpt"
    code = main(["train", "--text", str(path), "--checkpoint-dir", str(ckpt), "--no-progress"])
    assert code == 2
    one_line_error(capsys, *fragments)
    assert not ckpt.exists(), "nothing is written when the input is bad"


@pytest.mark.parametrize(
    "args",
    [
        ["--epochs", "0"],
        ["--hidden-size", "-4"],
        ["--batch-size", "abc"],
        ["--lr", "-1"],
        ["--dropout", "1.5"],
        ["--backend", "nope"],
        ["--device", "cuda:7" if not torch.cuda.is_available() else "tpu"],
    ],
)
def test_bad_sizes_and_options_are_one_line_errors(text_file, tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exit_info:
        code = main(["train", "--text", str(text_file), "--checkpoint-dir", str(tmp_path / "c"), *args])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    one_line_error(capsys)
    assert not (tmp_path / "c").exists()


def test_generation_errors(trained, capsys):
    ckpt = str(trained / "best.pt")
    assert main(["generate", "--checkpoint", ckpt, "--temperature", "-0.5"]) == 2
    one_line_error(capsys, "temperature must be >= 0")
    assert main(["generate", "--checkpoint", ckpt, "--prompt", "Zebra€"]) == 2
    one_line_error(capsys, "'Z'", "'€'", "not in the model's vocabulary")


def test_checkpoint_errors(tmp_path, trained, capsys):
    assert main(["generate", "--checkpoint", str(tmp_path / "nope.pt")]) == 2
    one_line_error(capsys, "checkpoint not found")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes((trained / "best.pt").read_bytes()[:500])
    assert main(["generate", "--checkpoint", str(corrupt)]) == 2
    one_line_error(capsys, "corrupt")
    payload = torch.load(trained / "best.pt", weights_only=True)
    payload["model_config"]["hidden_size"] = 32
    torch.save(payload, tmp_path / "incompatible.pt")
    assert main(["generate", "--checkpoint", str(tmp_path / "incompatible.pt")]) == 2
    one_line_error(capsys, "do not fit")
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pt")
    assert main(["evaluate", "--checkpoint", str(tmp_path / "other.pt")]) == 2
    one_line_error(capsys, "not an lstm_lib checkpoint")


def test_diverging_loss_stops_with_exit_2_and_keeps_checkpoints(text_file, tmp_path, capsys, monkeypatch):
    calls = {"n": 0}
    real_cross_entropy = train_module.F.cross_entropy

    def cross_entropy_that_blows_up(*args, **kwargs):
        calls["n"] += 1
        loss = real_cross_entropy(*args, **kwargs)
        return loss * float("nan") if calls["n"] > 20 else loss  # in the second epoch

    monkeypatch.setattr(train_module.F, "cross_entropy", cross_entropy_that_blows_up)
    ckpt = tmp_path / "ckpt"
    args = ["train", "--text", str(text_file), "--checkpoint-dir", str(ckpt), "--no-progress", *TINY]
    assert main([*args, "--epochs", "3"]) == 2
    one_line_error(capsys, "loss became nan", "last good checkpoint is kept", "--lr")
    assert torch.load(ckpt / "last.pt", weights_only=True)["position"]["epoch"] == 1
    assert sorted(p.name for p in ckpt.iterdir()) == ["best.pt", "last.pt"], "no half-written files"


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(text_file, tmp_path):
    ckpt = tmp_path / "ckpt"
    long_text = tmp_path / "long.txt"
    long_text.write_text(TEXT * 40, encoding="utf-8")
    command = [sys.executable, "-m", "lstm_lib", "train", "--text", str(long_text), "--epochs", "50"]
    process = subprocess.Popen(
        [*command, "--checkpoint-dir", str(ckpt), "--no-progress", *TINY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert "steps per epoch" in process.stdout.readline()  # training has started
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted; checkpoint saved" in out and "--resume" in out
    payload = torch.load(ckpt / "last.pt", weights_only=True)
    assert payload["position"]["step"] >= 1
    assert {p.name for p in ckpt.iterdir()} <= {"best.pt", "last.pt"}, "no temp files left"
