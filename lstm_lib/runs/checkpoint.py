"""Saving and loading training checkpoints, atomically and safely."""

from pathlib import Path

import torch

from ..atomic import atomic_write
from ..errors import UsageError
from ..model import CharLSTM, ModelConfig
from ..version import __version__
from ..vocab import Vocabulary

FORMAT_VERSION = 2
"""Written by this lstm_lib. Format 1 (lstm_lib 1.0) also saved the backend in
the model config and the whole step history; it still loads."""
READABLE_FORMATS = (1, 2)
REQUIRED_KEYS = ("format_version", "model_config", "model_state", "vocab")


class CheckpointError(UsageError):
    """A checkpoint that is missing, unreadable or does not fit."""


def save_checkpoint(path, payload: dict) -> Path:
    """Write ``payload`` to ``path`` so that a reader never sees half a file
    (see :func:`lstm_lib.atomic.atomic_write`)."""
    path = Path(path)
    with atomic_write(path) as file:
        torch.save({"format_version": FORMAT_VERSION, **payload}, file)
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (train one with: python -m lstm_lib train)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is corrupt or not a checkpoint ({reason[:120]})"
        ) from None
    if not isinstance(payload, dict) or any(key not in payload for key in REQUIRED_KEYS):
        raise CheckpointError(f"{path} is not an lstm_lib checkpoint (missing model, config or vocabulary)")
    if payload["format_version"] not in READABLE_FORMATS:
        written_by = payload.get("lstm_lib_version", "an unknown version")
        raise CheckpointError(
            f"{path} was written by lstm_lib {written_by} (checkpoint format {payload['format_version']}); "
            f"this is lstm_lib {__version__}, which reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}; install lstm_lib {written_by} to use it"
        )
    return payload


def model_from_checkpoint(payload: dict, device="cpu", backend="autograd"):
    """Rebuild ``(model, vocab)`` from a loaded checkpoint, in eval mode.

    ``backend`` is chosen here, not read from the checkpoint: how a model was
    trained does not bind how it is run (an old checkpoint's saved backend is ignored).
    """
    vocab = Vocabulary(payload["vocab"])
    config = ModelConfig.from_dict(payload["model_config"])
    if config.vocab_size != len(vocab):
        raise CheckpointError(
            f"checkpoint is inconsistent: model expects {config.vocab_size} characters, "
            f"vocabulary has {len(vocab)}"
        )
    model = CharLSTM(config).set_backend(backend)
    try:
        model.load_state_dict(payload["model_state"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"checkpoint weights do not fit the saved model config: {first}") from None
    return model.to(device).eval(), vocab
