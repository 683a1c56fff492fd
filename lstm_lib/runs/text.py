"""Which text a run trains on, recorded so that a resumed run finds and checks the same one.

A run records its text as ``{"path": ..., "sha256": ...}`` (path None: the default
novel). Resuming reads the recorded text, or one given in its place, and refuses
a text whose SHA-256 differs: the streams and the vocabulary depend on every character.
"""

from pathlib import Path

import torch

from ..batching import split_ids
from ..corpus import load_pride_and_prejudice, read_text_file, sha256_of_text
from ..errors import UsageError
from ..vocab import Vocabulary


def load_text(path=None) -> tuple[str, dict]:
    """The text at ``path`` (None: *Pride and Prejudice*) and its record ``{"path", "sha256"}``."""
    text = read_text_file(path) if path else load_pride_and_prejudice()
    return text, {
        "path": str(Path(path).expanduser().resolve()) if path else None,
        "sha256": sha256_of_text(text),
    }


def text_record(payload: dict) -> dict | None:
    """The text record of a loaded checkpoint (lstm_lib 1.0 kept only the SHA-256)."""
    if payload.get("text"):
        return payload["text"]
    return {"path": None, "sha256": payload["text_id"]} if payload.get("text_id") else None


def check_same_text(checkpoint, record: dict | None, sha256: str, given: str) -> None:
    """Raise UsageError unless ``sha256`` is the recorded text's (or nothing was recorded)."""
    expected = (record or {}).get("sha256")
    if expected and sha256 != expected:
        where = (record or {}).get("path") or "Pride and Prejudice"
        raise UsageError(
            f"{checkpoint} was trained on {where} (sha256 {expected[:12]}…), but {given} is a "
            f"different text (sha256 {sha256[:12]}…); give the same text, or leave the text out "
            "to use the recorded one",
            "text",
        )


def load_recorded_text(checkpoint, record: dict | None, given_path=None) -> tuple[str, dict]:
    """The text a checkpoint was trained on and its record: ``given_path`` if given (the
    text's new place), else the recorded path (or the default novel), checked against
    the recorded SHA-256.

    Raises:
        UsageError: naming the checkpoint, the text and what to do, when the text is
            missing, has changed, or is not the recorded one.
    """
    record = record or {}
    if not record.get("sha256") and not given_path:
        raise UsageError(
            f"{checkpoint} does not record which text it was trained on; give it "
            "(--text FILE, or text= / text_path= in Python)",
            "text",
        )
    if given_path:
        text, found = load_text(given_path)
        check_same_text(checkpoint, record, found["sha256"], f"the text given ({given_path})")
        return text, found
    path = record.get("path")
    if path and not Path(path).is_file():
        raise UsageError(
            f"{checkpoint} was trained on {path}, which is missing; put it back or give its new place",
            "text",
        )
    text, found = load_text(path)
    expected = record.get("sha256")
    if expected and found["sha256"] != expected:
        raise UsageError(
            f"{checkpoint} was trained on {path or 'Pride and Prejudice'}, which has changed since "
            f"(sha256 {expected[:12]}… expected, {found['sha256'][:12]}… found); "
            "restore the original text or give it",
            "text",
        )
    return text, found


def training_split(text: str, vocab: Vocabulary, val_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train_ids, val_ids)``: the text encoded and split contiguously, validation last."""
    return split_ids(vocab.encode(text), val_fraction)
