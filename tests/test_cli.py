"""The command line: the main job on a small text, and every kind of bad input."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from lstm_lib import (
    CharLSTM,
    ModelConfig,
    TrainConfig,
    Trainer,
    UsageError,
    Vocabulary,
    __version__,
    batchify,
    evaluate,
    load_checkpoint,
    model_from_checkpoint,
    split_ids,
)
from lstm_lib import train as train_module
from lstm_lib.corpus import sha256_of_text
from lstm_lib.fast import compiled
from lstm_lib.runs.cli import main
from lstm_lib.runs.safety import LOCK_NAME

from .helpers import RUN_FILES, TEXT, without_a_cpp_compiler

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
    assert sorted(p.name for p in trained.iterdir()) == RUN_FILES


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


def evaluated(capsys, *args):
    """The line ``evaluate`` prints, and the loss it reports."""
    assert main(["evaluate", *args]) == 0
    [line] = capsys.readouterr().out.splitlines()
    return line, float(re.search(r"loss (\d+\.\d+) nats/char", line).group(1))


def expected_loss(checkpoint, ids):
    payload = load_checkpoint(checkpoint)
    model, _ = model_from_checkpoint(payload)
    config = TrainConfig.from_dict(payload["train_config"])
    return evaluate(model, batchify(ids, config.batch_size), config.seq_len)


def test_evaluate_measures_the_validation_part_of_the_training_text_and_says_so(trained, text_file, capsys):
    capsys.readouterr()
    best = trained / "best.pt"
    vocab = Vocabulary(load_checkpoint(best)["vocab"])
    _, val_ids = split_ids(vocab.encode(TEXT), 0.1)
    for args in (["--text", str(text_file)], []):  # named, or the recorded text
        line, loss = evaluated(capsys, "--checkpoint", str(best), *args)
        assert line.startswith(
            f"the validation part of the training text, {text_file.resolve()}: {len(val_ids):,} characters |"
        ), line
        assert "not the training text" not in line
        assert loss == pytest.approx(expected_loss(best, val_ids), abs=1e-4)


def test_evaluate_measures_all_of_another_text_and_says_it_is_not_the_training_text(
    trained, tmp_path, capsys
):
    capsys.readouterr()
    other_text = " ".join(reversed(TEXT.split()))  # the model's characters, another text
    other = tmp_path / "other.txt"
    other.write_text(other_text, encoding="utf-8")
    best = trained / "best.pt"
    line, loss = evaluated(capsys, "--checkpoint", str(best), "--text", str(other))
    assert line.startswith(
        f"all of {other.resolve()}, which is not the training text: {len(other_text):,} characters |"
    ), line
    vocab = Vocabulary(load_checkpoint(best)["vocab"])
    assert loss == pytest.approx(expected_loss(best, vocab.encode(other_text)), abs=1e-4)
    other.write_text("Zebra", encoding="utf-8")
    assert main(["evaluate", "--checkpoint", str(best), "--text", str(other)]) == 2
    one_line_error(capsys, "'Z'", "not in the model's vocabulary")


def test_a_model_too_big_for_the_machine_is_one_line_not_a_traceback(text_file, tmp_path):
    ckpt = tmp_path / "ckpt"
    command = [
        sys.executable,
        "-m",
        "lstm_lib",
        "train",
        "--text",
        str(text_file),
        "--checkpoint-dir",
        str(ckpt),
    ]
    result = subprocess.run(
        [*command, "--hidden-size", "3000000", "--no-progress"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2, (result.stdout[-2000:], result.stderr[-2000:])
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in ("error: a model of 1 × 3000000 has", "parameters", "GiB", "--hidden-size"):
        assert fragment in err, err
    assert not ckpt.exists(), "nothing is written"


def test_resume_from_the_command_line(trained, text_file, capsys):
    args = ["train", "--resume", str(trained / "last.pt"), "--text", str(text_file), "--epochs", "3"]
    assert main([*args, "--checkpoint-dir", str(trained), "--no-progress", "--sample-length", "5"]) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out and "--epochs 3 overrides the saved 2" in out
    assert torch.load(trained / "last.pt", weights_only=True)["position"]["epoch"] == 3


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (None, ["not found", "missing.txt"]),
        (b"", ["empty"]),
        (b"caf\xe9 au lait", ["UTF-8"]),
        (b"far too short", ["too short", "--batch-size"]),
        (b"a", ["a text of 1 character is too short", "--batch-size"]),
        (TEXT.encode("utf-16"), ["is UTF-16", "iconv -f UTF-16 -t UTF-8"]),  # little-endian, with its BOM
        (b"\xfe\xff" + TEXT.encode("utf-16-be"), ["is UTF-16", "iconv -f UTF-16 -t UTF-8"]),
        (TEXT.encode("utf-32"), ["is UTF-32", "iconv -f UTF-32 -t UTF-8"]),
    ],
    ids=["missing", "empty", "latin-1", "too short", "one character", "utf-16", "utf-16-be", "utf-32"],
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
    assert sorted(p.name for p in ckpt.iterdir()) == RUN_FILES, "no half-written files"


@pytest.mark.parametrize(
    ("sent", "said"),
    [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_a_signal_mid_epoch_saves_a_checkpoint_and_exits_cleanly(text_file, tmp_path, sent, said):
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
        # A shell's background job starts with SIGINT ignored, and a child inherits that: give the
        # trainer the default disposition, as a terminal's Ctrl-C finds it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    while "steps per epoch" not in process.stdout.readline():  # training starts after this line
        assert process.poll() is None, process.stderr.read()
    time.sleep(3)
    process.send_signal(sent)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + sent, out + err
    assert f"{said}; checkpoint saved" in out and "--resume" in out
    payload = torch.load(ckpt / "last.pt", weights_only=True)
    assert payload["position"]["step"] >= 1
    assert {p.name for p in ckpt.iterdir()} <= {"best.pt", "last.pt", LOCK_NAME}, "no temp files left"


# -- resume continues the saved run ------------------------------------------------


def interrupted_run(tmp_path, text_file, steps=5, **options):
    """A run on ``text_file`` saved after ``steps`` steps, as Ctrl-C would leave it."""
    vocab = Vocabulary.from_text(TEXT)
    config = TrainConfig(epochs=3, batch_size=4, seq_len=20, lr_schedule="cosine", **options)
    torch.manual_seed(config.seed)
    model = CharLSTM(ModelConfig(len(vocab), embedding_size=8, hidden_size=16)).set_backend("manual")
    record = {"path": str(text_file.resolve()), "sha256": sha256_of_text(TEXT)}
    trainer = Trainer(
        model, vocab, *split_ids(vocab.encode(TEXT), 0.1), config, tmp_path / "run", text=record
    )
    trainer.fit(progress=False, max_steps=steps)
    return trainer, tmp_path / "run" / "last.pt"


def test_resume_alone_continues_exactly_the_saved_run(tmp_path, text_file, capsys, monkeypatch):
    straight, _ = interrupted_run(tmp_path / "a", text_file, steps=10**6)
    _, last = interrupted_run(tmp_path / "b", text_file)
    monkeypatch.chdir(tmp_path)
    # the backend is not part of the run: --backend manual, as the straight run used, for equal weights
    args = ["train", "--resume", str(last), "--backend", "manual", "--no-progress", "--sample-length", "5"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out and "overrides" not in out
    payload = torch.load(last, weights_only=True)
    assert payload["position"]["epoch"] == 3, "the saved number of epochs, not a command-line default"
    assert payload["train_config"]["lr_schedule"] == "cosine"
    assert payload["text"]["path"] == str(text_file.resolve())
    assert not (tmp_path / "checkpoints").exists(), "it keeps saving where the run saved"
    for a, b in zip(straight.model.state_dict().values(), payload["model_state"].values()):
        assert torch.equal(a, b), "the same weights as a run that was never stopped"


def test_a_flag_given_on_resume_overrides_and_says_so(tmp_path, text_file, capsys):
    _, last = interrupted_run(tmp_path, text_file)
    args = ["train", "--resume", str(last), "--epochs", "4", "--no-progress", "--sample-length", "5"]
    assert main(args) == 0
    assert "--epochs 4 overrides the saved 3" in capsys.readouterr().out
    assert torch.load(last, weights_only=True)["position"]["epoch"] == 4


def test_resuming_a_finished_run_says_so(trained, capsys):
    capsys.readouterr()
    assert main(["train", "--resume", str(trained / "last.pt"), "--no-progress"]) == 0
    assert "has trained 2 epochs, and the run asks for 2: nothing to do" in capsys.readouterr().out


def test_resuming_a_finished_run_with_fewer_epochs_says_how_many_it_trained(trained, capsys):
    capsys.readouterr()
    before = (trained / "last.pt").read_bytes()
    assert main(["train", "--resume", str(trained / "last.pt"), "--epochs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "has trained 2 epochs, and the run asks for 1: nothing to do" in out, out
    assert "2 of 1 epochs" not in out
    assert (trained / "last.pt").read_bytes() == before, "nothing trained, nothing saved"


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ("missing", ["was trained on", "which is missing", "(--text)"]),
        ("changed", ["which has changed since", "sha256", "(--text)"]),
        ("other text", ["but the text given", "is a different text", "(--text)"]),
        ("model size", ["sizes cannot change", "--hidden-size"]),
        ("batch size", ["batch_size cannot change when a run is resumed", "(--batch-size)"]),
    ],
)
def test_resume_refuses_what_would_not_continue_the_run(tmp_path, text_file, capsys, change, fragments):
    _, last = interrupted_run(tmp_path, text_file)
    args = ["train", "--resume", str(last), "--no-progress"]
    if change == "missing":
        text_file.unlink()
    elif change == "changed":
        text_file.write_text(TEXT.replace("wife", "life"), encoding="utf-8")
    elif change == "other text":
        other = tmp_path / "other.txt"
        other.write_text(TEXT.upper(), encoding="utf-8")
        args += ["--text", str(other)]
    elif change == "model size":
        args += ["--hidden-size", "32"]
    else:
        args += ["--batch-size", "8"]
    before = last.read_bytes()
    assert main(args) == 2
    err = one_line_error(capsys, *fragments)
    assert last.read_bytes() == before
    for flag in ("--hidden-size", "--batch-size", "--text"):
        assert err.count(flag) <= 1, f"{flag} named once, not twice: {err}"


def test_a_checkpoint_from_another_library_version_names_both(tmp_path, trained, capsys):
    payload = torch.load(trained / "last.pt", weights_only=True)
    payload.update(format_version=7, lstm_lib_version="9.0.0")
    torch.save(payload, tmp_path / "future.pt")
    assert main(["train", "--resume", str(tmp_path / "future.pt")]) == 2
    one_line_error(
        capsys, "written by lstm_lib 9.0.0 (checkpoint format 7)", f"this is lstm_lib {__version__}"
    )


def test_the_backend_is_chosen_per_command_and_never_saved(trained, tmp_path, capsys):
    payload = torch.load(trained / "best.pt", weights_only=True)
    assert "backend" not in payload["model_config"]
    payload["model_config"]["backend"] = "compiled"  # as lstm_lib 1.0 saved it
    payload["format_version"] = 1
    torch.save(payload, tmp_path / "old.pt")
    model, _ = model_from_checkpoint(load_checkpoint(tmp_path / "old.pt"))
    assert model.backend == "autograd", "an old checkpoint's backend is ignored"
    assert (
        main(["generate", "--checkpoint", str(tmp_path / "old.pt"), "--prompt", "It", "--length", "20"]) == 0
    )
    assert len(capsys.readouterr().out) > 20


def test_library_errors_name_the_parameter_and_the_cli_the_flag(text_file, tmp_path, capsys):
    with pytest.raises(UsageError, match=r"^batch_size must be a positive integer, got 0$"):
        TrainConfig(batch_size=0)
    args = ["train", "--text", str(text_file), "--checkpoint-dir", str(tmp_path / "c"), "--no-progress"]
    assert main([*args, "--batch-size", "5000"]) == 2
    one_line_error(capsys, "too short", "(--batch-size)")
    assert main([*args, "--val-fraction", "2"]) == 2
    one_line_error(capsys, "val_fraction must be between 0 and 1", "(--val-fraction)")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs (root only): room for a few small checkpoints, then full."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], check=False
    )
    if result.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_keeps_the_previous_checkpoint(text_file, tiny_disk, capsys):
    ckpt = tiny_disk / "ckpt"
    args = ["train", "--text", str(text_file), "--epochs", "1", "--checkpoint-dir", str(ckpt), *TINY]
    assert main([*args, "--no-progress", "--sample-length", "5"]) == 0
    good = (ckpt / "last.pt").read_bytes()
    free = os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize
    (tiny_disk / "filler").write_bytes(b"\0" * (free - len(good) // 2))  # not room for another one
    capsys.readouterr()
    assert main(["train", "--resume", str(ckpt / "last.pt"), "--epochs", "2", "--no-progress"]) == 2
    one_line_error(capsys, "could not save", "No space left on device", "is kept")
    assert (ckpt / "last.pt").read_bytes() == good
    assert sorted(p.name for p in ckpt.iterdir()) == RUN_FILES, "no half-written file"


def one_epoch_of_the_tiny_model(text_file, checkpoint_dir, *flags):
    """``train`` arguments: one epoch of the tiny model on ``text_file``, quietly."""
    run = ["--epochs", "1", *TINY, "--no-progress", "--sample-length", "5", *flags]
    return ["train", "--text", str(text_file), "--checkpoint-dir", str(checkpoint_dir), *run]


def test_the_compiled_backend_compiles_before_training_and_says_how_long(text_file, tmp_path, capsys):
    assert main(one_epoch_of_the_tiny_model(text_file, tmp_path / "c", "--backend", "compiled")) == 0
    out = capsys.readouterr().out
    assert re.search(r"compiled the step kernels in \d+\.\d s|step kernels already compiled", out), out
    assert "compiled backend" in out
    payload = torch.load(tmp_path / "c" / "last.pt", weights_only=True)
    assert "backend" not in payload["model_config"], "how it was trained is not saved"


def test_train_falls_back_to_manual_where_the_default_cannot_compile(
    text_file, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(compiled, "_compile_graph", without_a_cpp_compiler)
    monkeypatch.setattr(compiled, "_compiled", {})
    assert main(one_epoch_of_the_tiny_model(text_file, tmp_path / "default")) == 0
    out = capsys.readouterr().out
    assert "could not be compiled here (CppCompileError); training with --backend manual" in out
    assert "manual backend" in out
    # asked for by name, it is an error, not a silent change
    assert main(one_epoch_of_the_tiny_model(text_file, tmp_path / "named", "--backend", "compiled")) == 2
    one_line_error(capsys, "could not compile the LSTM step", "choose the backend manual", "(--backend)")
