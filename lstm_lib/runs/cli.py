"""Command line: ``python -m lstm_lib {train,generate,evaluate,export}``.

Every flag of ``train`` defaults to "not given"; its value then comes from
:class:`~lstm_lib.train.TrainConfig` and :class:`~lstm_lib.model.ModelConfig`
(a new run) or from the checkpoint (``--resume``), so the dataclasses are the
one source of defaults. The work is the library's (:class:`~lstm_lib.runs.Trainer`
and its resume, :mod:`lstm_lib.runs.text`, :mod:`lstm_lib.runs.safety`); this
module turns flags into calls and errors into one line.
"""

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
from pathlib import Path

import torch

from ..batching import batchify
from ..errors import UsageError
from ..evaluation import bits_per_character, evaluate, perplexity
from ..fast import compiled
from ..layer import backend_names
from ..model import CharLSTM, ModelConfig
from ..sampling import generate
from ..train import LR_SCHEDULES, TrainConfig
from ..vocab import Vocabulary
from . import distributed
from .checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from .text import load_recorded_text, load_text, text_record, training_split
from .trainer import Trainer

TRAINING_BACKEND = "compiled"
"""The backend ``train`` uses unless ``--backend`` says otherwise: the hand-written
backward with compiled step kernels, the fastest on the CPU measured in chapter 13.
Where nothing can compile them (no C++ compiler), ``train`` says so and uses
:data:`FALLBACK_BACKEND`."""
FALLBACK_BACKEND = "manual"
"""The same hand-written backward with eager step kernels: needs no compiler."""
INFERENCE_BACKEND = "manual"
"""What ``generate`` and ``evaluate`` run: nothing to compile for a few calls."""

EXPORTED_KEYS = (
    "model_config",
    "model_state",
    "vocab",
    "train_config",
    "history",
    "best_val_loss",
    "position",
    "text",
    "lstm_lib_version",
)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; anything else must be a usable device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda", "device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("cuda was asked for but no CUDA GPU is available; use auto", "device")
    return device


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {number}")
    return number


class OneLineErrorParser(argparse.ArgumentParser):
    """Reports a bad command line in one line, exit status 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def flag(parameter: str) -> str:
    """The command-line flag of a library parameter: ``batch_size`` -> ``--batch-size``."""
    return "--" + parameter.replace("_", "-")


def add_config_flags(parser, config_class, names, types, helps=None):
    """One flag per dataclass field, defaulting to None ("not given"); --help
    shows the dataclass's default."""
    defaults = {f.name: f.default for f in dataclasses.fields(config_class)}
    for name in names:
        extra = f"; {helps[name]}" if helps and name in helps else ""
        kwargs = {"choices": LR_SCHEDULES} if name == "lr_schedule" else {"type": types.get(name, float)}
        parser.add_argument(flag(name), default=None, help=f"default: {defaults[name]}{extra}", **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="python -m lstm_lib", description="A character-level LSTM language model built from scratch."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineErrorParser)

    train = commands.add_parser(
        "train",
        help="train a model (default: on Pride and Prejudice)",
        description=(
            "Train a model. With --resume CHECKPOINT alone, the saved run continues exactly: same text, "
            "settings, schedule and directory; a flag given with it overrides its saved value."
        ),
    )
    train.add_argument("--text", help="a UTF-8 text file to train on (default: Pride and Prejudice)")
    int_types = {n: positive_int for n in ("epochs", "batch_size", "seq_len")} | {"seed": int}
    add_config_flags(
        train,
        TrainConfig,
        (
            "epochs",
            "batch_size",
            "seq_len",
            "lr",
            "lr_schedule",
            "clip",
            "seed",
            "val_fraction",
            "time_limit",
        ),
        int_types,
        {
            "seq_len": "BPTT window",
            "clip": "max gradient norm; 0: off",
            "time_limit": "seconds; stop after the epoch that passes it (0: no limit)",
        },
    )
    add_config_flags(
        train,
        ModelConfig,
        ("embedding_size", "hidden_size", "num_layers", "dropout"),
        {n: positive_int for n in ("embedding_size", "hidden_size", "num_layers")},
    )
    train.add_argument(
        "--backend",
        choices=backend_names(),
        help=(
            f"how the LSTM is differentiated (default: {TRAINING_BACKEND}, or {FALLBACK_BACKEND} where "
            "nothing can compile): compiled (hand-written backward, step kernels compiled by TorchInductor "
            "in seconds, needs a C++ compiler), manual (the same without compiling), autograd; never saved"
        ),
    )
    train.add_argument("--checkpoint-dir", help="default: checkpoints, or the resumed checkpoint's folder")
    train.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in this checkpoint")
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the checkpoints of an earlier run in the checkpoint folder (default: refuse)",
    )
    train.add_argument("--device", default="auto", help="default: %(default)s")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--sample-length", type=int, default=300, help="default: %(default)s")
    train.add_argument(
        "--prompt", default="Elizabeth", help="how the closing sample starts (default: %(default)s)"
    )

    gen = commands.add_parser(
        "generate",
        help="generate text from a checkpoint",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    gen.add_argument("--checkpoint", required=True)
    gen.add_argument("--prompt", default="Elizabeth")
    gen.add_argument("--length", type=int, default=500)
    gen.add_argument("--temperature", type=float, default=0.8, help="0 is greedy")
    gen.add_argument("--top-k", type=positive_int, default=None)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--device", default="auto")

    ex = commands.add_parser(
        "export",
        help="write a small, model-only copy of a checkpoint",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ex.add_argument("--checkpoint", required=True)
    ex.add_argument("--output", required=True)

    ev = commands.add_parser(
        "evaluate",
        help="validation loss and perplexity of a checkpoint",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument(
        "--text",
        help=(
            "measure on this text: the training text's validation part if it is the training text, "
            "else all of it (default: the recorded training text)"
        ),
    )
    ev.add_argument("--device", default="auto")
    for subparser in (gen, ex, ev):
        for action in subparser._actions:
            if action.help is None and action.default not in (None, argparse.SUPPRESS):
                action.help = "default: %(default)s"
    return parser


def given(args, config_class) -> dict:
    """The fields of ``config_class`` whose flags were given."""
    names = {f.name for f in dataclasses.fields(config_class)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def resume_trainer(args, device, world):
    """A trainer that continues the run in ``args.resume``; flags given override, one line each."""
    model_flags = given(args, ModelConfig)
    if model_flags:
        raise UsageError(
            f"the model's sizes cannot change when a run is resumed ({', '.join(map(flag, model_flags))} "
            "given); leave them out, or start a new run"
        )
    overrides = given(args, TrainConfig)
    trainer = Trainer.resume(
        args.resume,
        text_path=args.text,
        device=device,
        checkpoint_dir=args.checkpoint_dir,
        overrides=overrides,
        overwrite=args.overwrite,
        world=world,
    )
    for name, value in overrides.items():
        print(f"{flag(name)} {value} overrides the saved {trainer.saved_settings.get(name)!r}")
    if args.checkpoint_dir and Path(args.checkpoint_dir).resolve() != Path(args.resume).parent.resolve():
        print(
            f"--checkpoint-dir {args.checkpoint_dir} overrides "
            f"the checkpoint's folder {Path(args.resume).parent}"
        )
    return trainer


def build_model(config: ModelConfig, device) -> CharLSTM:
    """``CharLSTM(config)`` on ``device``; a UsageError instead of the allocator's error
    when it cannot fit (its parameters, their gradients and Adam's two moments)."""
    with torch.random.fork_rng(devices=[]), torch.device("meta"):  # sizes only: no memory, no random draws
        parameters = sum(p.numel() for p in CharLSTM(config).parameters())
    needed = 4 * parameters * 4  # float32 bytes: weights, gradients, Adam's two moments
    available = physical_memory() if torch.device(device).type == "cpu" else None
    too_big = UsageError(
        f"a model of {config.num_layers} × {config.hidden_size} has {parameters:,} parameters, which "
        f"with their gradients and the optimizer's state need {needed / 2**30:,.1f} GiB"
        + (f", more than this machine's {available / 2**30:,.1f} GiB" if available else "")
        + "; choose a smaller --hidden-size or --num-layers",
    )
    if available and needed > available:
        raise too_big
    try:
        return CharLSTM(config).to(device)
    except (RuntimeError, MemoryError) as exc:  # the allocator's "can't allocate", or CUDA's out of memory
        if isinstance(exc, MemoryError) or "alloc" in str(exc) or "out of memory" in str(exc):
            raise too_big from None
        raise


def physical_memory() -> int | None:
    """This machine's memory in bytes, where the system tells."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def new_trainer(args, device, world):
    text, record = load_text(args.text)
    train_config = TrainConfig(**given(args, TrainConfig))
    vocab = Vocabulary.from_text(text)
    model_config = ModelConfig(vocab_size=len(vocab), **given(args, ModelConfig))
    torch.manual_seed(train_config.seed)
    model = build_model(model_config, device)
    return Trainer(
        model,
        vocab,
        *training_split(text, vocab, train_config.val_fraction),
        train_config,
        args.checkpoint_dir or "checkpoints",
        device,
        record,
        world=world,
        overwrite=args.overwrite,
    )


def run_train(args) -> int:
    """``train``, in one process or as one rank of a ``torchrun`` job (rank 0 prints and saves)."""
    device = resolve_device(args.device)
    world = distributed.init(device)
    try:
        with contextlib.ExitStack() as stack:
            if not world.is_main:  # one voice: the other ranks' output goes nowhere
                stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
            return train_in(args, distributed.device_for(world, device), world)
    finally:
        distributed.shutdown(world)


def compile_step_kernels(trainer, device, fall_back):
    """Compile the step kernels before the first step and say how long it took.
    Where they cannot be compiled, switch to :data:`FALLBACK_BACKEND` with a note
    if ``fall_back`` (the backend was the default), else raise the UsageError."""
    try:
        seconds = compiled.compile_for(
            trainer.train_data.shape[1], trainer.model.config.hidden_size, device=device
        )
    except UsageError as error:
        if not fall_back:
            raise
        reason = error.__cause__ or error
        print(
            f"note: the step kernels could not be compiled here ({type(reason).__name__}); "
            f"training with --backend {FALLBACK_BACKEND}, the same arithmetic without them"
        )
        trainer.model.set_backend(FALLBACK_BACKEND)
        return
    print(f"compiled the step kernels in {seconds:.1f} s" if seconds else "step kernels already compiled")


def epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def train_in(args, device, world) -> int:
    if args.resume:
        trainer = resume_trainer(args, device, world)
        if trainer.finished:
            print(
                f"{args.resume} has trained {epochs(trainer.epoch)}, and the run asks for "
                f"{trainer.config.epochs}: nothing to do (give --epochs N with N > {trainer.epoch} "
                "to train further)"
            )
            return 0
        print(f"resuming from {args.resume} at epoch {trainer.epoch + 1}, step {trainer.step}")
    else:
        trainer = new_trainer(args, device, world)
    vocab = trainer.vocab
    trainer.model.set_backend(args.backend or TRAINING_BACKEND)
    if trainer.model.backend == "compiled":
        compile_step_kernels(trainer, device, fall_back=args.backend is None)
    n_params = sum(p.numel() for p in trainer.model.parameters())
    ranks = (
        f" | {world.size} processes, {trainer.train_data.shape[1]} streams each" if world.distributed else ""
    )
    print(
        f"text: {sum(trainer.split_sizes):,} characters, {len(vocab)} distinct | "
        f"train {trainer.split_sizes[0]:,} / validation {trainer.split_sizes[1]:,} | "
        f"model: {n_params:,} parameters on {device}, "
        f"{trainer.model.backend} backend | {trainer.steps_per_epoch} steps per epoch{ranks}"
    )
    received = []

    def save_as_on_ctrl_c(signum, frame):  # SIGTERM: stop and save as Ctrl-C does
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, save_as_on_ctrl_c)
    try:
        trainer.fit(progress=not args.no_progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
    last = trainer.checkpoint_dir / "last.pt"
    if trainer.interrupted:
        why = "terminated" if received else "interrupted"
        kept = (
            "the checkpoint of the last finished epoch is kept at"
            if world.distributed
            else "checkpoint saved to"
        )
        print(f"\n{why}; {kept} {last}\ncontinue with: python -m lstm_lib train --resume {last}")
        return 128 + (received[0] if received else signal.SIGINT)
    if not world.is_main:
        return 0
    best_path = trainer.checkpoint_dir / "best.pt"
    best = load_checkpoint(best_path, map_location=device)
    model, _ = model_from_checkpoint(best, device, INFERENCE_BACKEND)
    print(
        f"best validation perplexity {perplexity(best['best_val_loss']):.3f} "
        f"({bits_per_character(best['best_val_loss']):.3f} bits/char) after epoch {best['position']['epoch']}"
    )
    print(f"checkpoints: {best_path} (best) and {last} (last)")
    prompt = args.prompt if all(c in vocab for c in args.prompt) else vocab.chars[0]
    print("\nsample (temperature 0.8):\n")
    print(generate(model, vocab, prompt, args.sample_length, temperature=0.8, seed=0))
    return 0


def run_generate(args) -> int:
    device = resolve_device(args.device)
    model, vocab = model_from_checkpoint(load_checkpoint(args.checkpoint, device), device, INFERENCE_BACKEND)
    print(generate(model, vocab, args.prompt, args.length, args.temperature, args.top_k, args.seed))
    return 0


def run_evaluate(args) -> int:
    """The loss of a checkpoint on the validation part of its training text, or on all of
    another text written in its characters (``--text``: out-of-domain perplexity)."""
    device = resolve_device(args.device)
    payload = load_checkpoint(args.checkpoint, device)
    model, vocab = model_from_checkpoint(payload, device, INFERENCE_BACKEND)
    config = TrainConfig.from_dict(payload.get("train_config", {}))
    record = text_record(payload)
    if args.text:
        text, found = load_text(args.text)
        training_text = record is not None and found["sha256"] == record.get("sha256")
    else:
        text, found = load_recorded_text(args.checkpoint, record)
        training_text = True
    name = found["path"] or "Pride and Prejudice"
    if training_text:
        _, ids = training_split(text, vocab, config.val_fraction)
        measured = f"the validation part of the training text, {name}"
    else:
        ids = vocab.encode(text)
        measured = f"all of {name}, which is not the training text"
    nll = evaluate(model, batchify(ids, config.batch_size).to(device), config.seq_len)
    print(
        f"{measured}: {len(ids):,} characters | loss {nll:.4f} nats/char | "
        f"perplexity {perplexity(nll):.3f} | {bits_per_character(nll):.3f} bits/char"
    )
    return 0


def run_export(args) -> int:
    payload = load_checkpoint(args.checkpoint)
    model_from_checkpoint(payload)  # refuse to export something that does not load
    path = save_checkpoint(args.output, {k: v for k, v in payload.items() if k in EXPORTED_KEYS})
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): model, vocabulary, configs and history")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "train": run_train,
        "generate": run_generate,
        "evaluate": run_evaluate,
        "export": run_export,
    }
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        where = f" ({flag(exc.parameter)})" if exc.parameter else ""
        print(f"error: {exc}{where}", file=sys.stderr)
        return 2
