"""Command line: ``python -m lstm_lib {train,generate,evaluate}``."""

import argparse
import hashlib
import sys

import torch

from .batching import batchify, split_ids
from .checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from .corpus import load_pride_and_prejudice, read_text_file
from .errors import UsageError
from .evaluation import bits_per_character, evaluate, perplexity
from .generate import generate
from .model import CharLSTM, ModelConfig
from .train import LR_SCHEDULES, TrainConfig, Trainer
from .vocab import Vocabulary

DEFAULT_EPOCHS = 24  # four to six minutes on a 2-core CPU with the manual backend

EXPORTED_KEYS = (
    "model_config",
    "model_state",
    "vocab",
    "train_config",
    "history",
    "best_val_loss",
    "position",
)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; anything else must be a usable device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA GPU is available; use --device auto")
    return device


def load_text(path) -> str:
    return read_text_file(path) if path else load_pride_and_prejudice()


def text_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="python -m lstm_lib", description="A character-level LSTM language model built from scratch."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineErrorParser)

    train = commands.add_parser(
        "train",
        help="train a model (default: on Pride and Prejudice)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument("--text", help="a UTF-8 text file to train on instead of Pride and Prejudice")
    train.add_argument("--epochs", type=positive_int, default=DEFAULT_EPOCHS)
    train.add_argument("--batch-size", type=positive_int, default=TrainConfig.batch_size)
    train.add_argument("--seq-len", type=positive_int, default=TrainConfig.seq_len, help="BPTT window")
    train.add_argument("--lr", type=float, default=TrainConfig.lr)
    train.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=TrainConfig.lr_schedule)
    train.add_argument("--clip", type=float, default=TrainConfig.clip, help="max gradient norm; 0: off")
    train.add_argument("--seed", type=int, default=TrainConfig.seed)
    train.add_argument("--val-fraction", type=float, default=TrainConfig.val_fraction)
    train.add_argument(
        "--time-limit", type=float, default=0.0, help="stop after the epoch that passes this many seconds"
    )
    train.add_argument("--embedding-size", type=positive_int, default=ModelConfig.embedding_size)
    train.add_argument("--hidden-size", type=positive_int, default=ModelConfig.hidden_size)
    train.add_argument("--num-layers", type=positive_int, default=ModelConfig.num_layers)
    train.add_argument("--dropout", type=float, default=ModelConfig.dropout)
    train.add_argument(
        "--backend",
        default="manual",
        help=(
            "how the LSTM is differentiated: manual (hand-written backward), compiled (the same "
            "with compiled step kernels: faster once compiled, needs a C++ compiler), autograd"
        ),
    )
    train.add_argument("--checkpoint-dir", default="checkpoints")
    train.add_argument("--resume", metavar="CHECKPOINT", help="continue training from this checkpoint")
    train.add_argument("--device", default="auto")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--sample-length", type=int, default=300)
    train.add_argument("--prompt", default="Elizabeth", help="how the closing sample starts")

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
    ev.add_argument("--text", help="the text the model was trained on (default: Pride and Prejudice)")
    ev.add_argument("--device", default="auto")
    for subparser in commands.choices.values():
        for action in subparser._actions:
            if action.help is None and action.default not in (None, argparse.SUPPRESS):
                action.help = "default: %(default)s"
    return parser


def run_train(args) -> int:
    device = resolve_device(args.device)
    text = load_text(args.text)
    if args.resume:
        saved = load_checkpoint(args.resume)
        vocab = Vocabulary(saved["vocab"])
        train_config = TrainConfig.from_dict(saved.get("train_config", {}))
        train_ids, val_ids = split_ids(vocab.encode(text), train_config.val_fraction)
        trainer = Trainer.resume(
            args.resume, train_ids, val_ids, args.checkpoint_dir, device, text_id(text), args.epochs
        )
        print(f"resuming from {args.resume} at epoch {trainer.epoch + 1}, step {trainer.step}")
    else:
        train_config = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            seq_len=args.seq_len,
            lr=args.lr,
            lr_schedule=args.lr_schedule,
            clip=args.clip,
            seed=args.seed,
            val_fraction=args.val_fraction,
            time_limit=args.time_limit,
        )
        vocab = Vocabulary.from_text(text)
        model_config = ModelConfig(
            vocab_size=len(vocab),
            embedding_size=args.embedding_size,
            hidden_size=args.hidden_size,
            num_layers=args.num_layers,
            dropout=args.dropout,
            backend=args.backend,
        )
        torch.manual_seed(train_config.seed)
        model = CharLSTM(model_config).to(device)
        train_ids, val_ids = split_ids(vocab.encode(text), train_config.val_fraction)
        trainer = Trainer(
            model, vocab, train_ids, val_ids, train_config, args.checkpoint_dir, device, text_id(text)
        )
    n_params = sum(p.numel() for p in trainer.model.parameters())
    print(
        f"text: {len(text):,} characters, {len(vocab)} distinct | train {len(train_ids):,} / "
        f"validation {len(val_ids):,} | model: {n_params:,} parameters on {device} | "
        f"{trainer.steps_per_epoch} steps per epoch"
    )
    trainer.fit(progress=not args.no_progress)
    if trainer.interrupted:
        print(
            f"\ninterrupted; checkpoint saved to {trainer.checkpoint_dir / 'last.pt'}\n"
            f"continue with: python -m lstm_lib train --resume {trainer.checkpoint_dir / 'last.pt'}"
        )
        return 130
    best_path = trainer.checkpoint_dir / "best.pt"
    best = load_checkpoint(best_path, map_location=device)
    model, _ = model_from_checkpoint(best, device)
    print(
        f"best validation perplexity {perplexity(best['best_val_loss']):.3f} "
        f"({bits_per_character(best['best_val_loss']):.3f} bits/char) after epoch {best['position']['epoch']}"
    )
    print(f"checkpoints: {best_path} (best) and {trainer.checkpoint_dir / 'last.pt'} (last)")
    prompt = args.prompt if all(c in vocab for c in args.prompt) else vocab.decode(val_ids[:1])
    print("\nsample (temperature 0.8):\n")
    print(generate(model, vocab, prompt, args.sample_length, temperature=0.8, seed=0))
    return 0


def run_generate(args) -> int:
    device = resolve_device(args.device)
    model, vocab = model_from_checkpoint(load_checkpoint(args.checkpoint, device), device)
    print(generate(model, vocab, args.prompt, args.length, args.temperature, args.top_k, args.seed))
    return 0


def run_evaluate(args) -> int:
    device = resolve_device(args.device)
    payload = load_checkpoint(args.checkpoint, device)
    model, vocab = model_from_checkpoint(payload, device)
    config = TrainConfig.from_dict(payload.get("train_config", {}))
    _, val_ids = split_ids(vocab.encode(load_text(args.text)), config.val_fraction)
    nll = evaluate(model, batchify(val_ids, config.batch_size).to(device), config.seq_len)
    print(
        f"validation: {len(val_ids):,} characters | loss {nll:.4f} nats/char | "
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
        print(f"error: {exc}", file=sys.stderr)
        return 2
