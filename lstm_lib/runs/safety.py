"""Keeping runs apart: no run replaces another's checkpoints, and one folder has one writer.

- :func:`refuse_to_replace`: a new run into a folder that already holds a run's
  checkpoints is refused unless the user says to overwrite them.
- :class:`RunLock`: a run holds a lock on its folder while it trains; a second run
  into the same folder is refused and told which process holds it. The lock is an
  ``flock`` on ``.lstm_lib.lock``, which the operating system releases when the
  process ends, however it ends: a killed run's lock never blocks the next one.
"""

import os
import socket
import time
from pathlib import Path

from ..errors import UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: runs are not locked there
    fcntl = None

CHECKPOINT_NAMES = ("last.pt", "best.pt")
LOCK_NAME = ".lstm_lib.lock"


def describe_run(folder: Path) -> str:
    """``1 × 256, 16 of 16 epochs``: what the checkpoints in ``folder`` hold, as far as they tell."""
    from .checkpoint import load_checkpoint  # loads torch's serialization only when needed

    for name in CHECKPOINT_NAMES:
        try:
            payload = load_checkpoint(folder / name)
        except UsageError:
            continue
        model, position = payload["model_config"], payload.get("position") or {}
        epochs = payload.get("train_config", {}).get("epochs")
        size = f"{model['num_layers']} × {model['hidden_size']}"
        return f"{size}, {position.get('epoch', '?')} of {epochs} epochs" if epochs else size
    return "unreadable checkpoints"


def refuse_to_replace(folder) -> None:
    """Raise UsageError when ``folder`` holds checkpoints that a new run would replace."""
    folder = Path(folder)
    if not any((folder / name).exists() for name in CHECKPOINT_NAMES):
        return
    raise UsageError(
        f"{folder} already holds the checkpoints of a run ({describe_run(folder)}); to keep them, "
        f"continue that run with --resume {folder / 'last.pt'} or train into another folder with "
        "--checkpoint-dir DIR; to replace them, add --overwrite (overwrite=True in Python)"
    )


class RunLock:
    """The lock of one checkpoint folder, held while a run trains into it.

    Use as ``with RunLock(folder): ...``; entering raises UsageError naming the
    process that holds the folder when another live run does.
    """

    def __init__(self, folder):
        self.path = Path(folder) / LOCK_NAME
        self._fd = None

    def __enter__(self) -> "RunLock":
        if fcntl is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise UsageError(
                f"{self.path.parent} is in use by a run that is still training ({holder}); "
                "wait for it to end, stop it, or train into another folder with --checkpoint-dir DIR"
            ) from None
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()}, since {started}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc_info) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
