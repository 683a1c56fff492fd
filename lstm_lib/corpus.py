"""The course's text: Jane Austen's *Pride and Prejudice*.

The book uses one exact edition of the novel, the character vector ``prideprejudice``
of the R package janeaustenr: 13,030 lines joined with ``"\\n"`` (no newline at the
end), 684,767 characters, 75 distinct. Every number in the book was computed on it,
so it is checked against a SHA-256 checksum wherever it comes from.

The repository ships it as ``data/pride_and_prejudice.txt`` (``scripts/extract_corpus.py``
shows where it comes from). An installed ``lstm_lib`` without the repository, as in
Colab, downloads that file once from the repository and keeps it in a cache.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .atomic import atomic_write
from .errors import UsageError

PRIDE_AND_PREJUDICE_SHA256 = "2e44edaa4946d64ad541c68e0224f5d672f43bf3ce2a8a0b0637ad5e02fc6eb3"
"""SHA-256 of ``"\\n".join(janeaustenr::prideprejudice)`` encoded as UTF-8."""

CORPUS_FILENAME = "pride_and_prejudice.txt"
CORPUS_URL = (
    "https://raw.githubusercontent.com/lstm-from-scratch/lstm-from-scratch/main/data/" + CORPUS_FILENAME
)
"""Where a copy comes from when none is found; ``$LSTM_LIB_CORPUS_URL`` names a mirror instead."""
DOWNLOAD_TIMEOUT_S = 30


class CorpusError(UsageError):
    """The text could not be obtained or read; the message says how to fix it."""


def search_dirs() -> list[Path]:
    """Return the folders searched for the text, in order: ``$LSTM_LIB_DATA_DIR`` (when
    set), the repository's ``data/`` (when ``lstm_lib`` runs from a checkout), and the
    user cache :func:`cache_dir`."""
    dirs = []
    if os.environ.get("LSTM_LIB_DATA_DIR"):
        dirs.append(Path(os.environ["LSTM_LIB_DATA_DIR"]).expanduser())
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        dirs.append(checkout / "data")
    return [*dirs, cache_dir()]


def cache_dir() -> Path:
    """Return the user cache, ``$XDG_CACHE_HOME/lstm_lib`` or ``~/.cache/lstm_lib``."""
    xdg_cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg_cache) if Path(xdg_cache).is_absolute() else Path.home() / ".cache"
    return base / "lstm_lib"


def load_pride_and_prejudice() -> str:
    """Return the janeaustenr text of *Pride and Prejudice*, lines joined by ``"\\n"``.

    The first ``pride_and_prejudice.txt`` found in :func:`search_dirs` is read; if there is
    none, it is downloaded from :data:`CORPUS_URL` (or ``$LSTM_LIB_CORPUS_URL``) and saved
    in the first of those folders.

    Raises:
        CorpusError: when a file found or downloaded does not match the checksum, or the
            download fails; the message names the file or URL and what to do.
    """
    for folder in search_dirs():
        path = folder / CORPUS_FILENAME
        if path.is_file():
            return _verified(path.read_bytes(), str(path), f"delete {path} to download a fresh copy")

    url = os.environ.get("LSTM_LIB_CORPUS_URL") or CORPUS_URL
    target = search_dirs()[0] / CORPUS_FILENAME
    by_hand = f"download {url} by hand and save it as {target} (or in a folder named by LSTM_LIB_DATA_DIR)"
    print(f"downloading Pride and Prejudice from {url}", file=sys.stderr)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "lstm_lib"})
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except urllib.error.HTTPError as exc:
        raise CorpusError(f"cannot download {url} (HTTP {exc.code} {exc.reason}): {by_hand}") from None
    except (OSError, http.client.HTTPException) as exc:  # no network, a broken transfer
        reason = " ".join(str(getattr(exc, "reason", None) or exc).split()) or type(exc).__name__
        raise CorpusError(f"cannot download {url} ({reason}): {by_hand}") from None
    text = _verified(data, f"the download from {url}", f"nothing was saved; try again or {by_hand}")
    try:
        with atomic_write(target) as file:
            file.write(data)
        print(f"saved it as {target}", file=sys.stderr)
    except OSError as exc:
        print(f"could not save it as {target} ({exc.strerror}); it will be downloaded again", file=sys.stderr)
    return text


def read_text_file(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 text file given by the user, for example with ``--text PATH``.

    A byte-order mark at the start is dropped and Windows line endings (``"\\r\\n"``)
    become ``"\\n"``.

    Raises:
        CorpusError: in one line, naming the file and what to do, when the file is
            missing, is a directory, cannot be read, is empty, or is not valid UTF-8
            (the message gives the offset of the first bad byte).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CorpusError(f"text file not found: {path} (check the path given to --text)")
    if path.is_dir():
        raise CorpusError(f"{path} is a directory, not a text file (give the path of a UTF-8 .txt file)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read text file {path}: {exc.strerror}") from None

    data = data.removeprefix(b"\xef\xbb\xbf")  # UTF-8 byte-order mark
    encoding = encoding_of_byte_order_mark(data)
    if encoding:
        raise CorpusError(
            f"{path} is {encoding} text, as its byte-order mark says, not UTF-8; "
            f"convert it, e.g. iconv -f {encoding.split()[0]} -t UTF-8 {path} > out.txt"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path} is not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset "
            f"{exc.start} (convert it, e.g. iconv -f LATIN1 -t UTF-8 {path} > out.txt)"
        ) from None
    if not text.strip():
        raise CorpusError(f"text file is empty: {path} (give a file that contains text)")
    return text.replace("\r\n", "\n")


BYTE_ORDER_MARKS = (  # UTF-32's first, since its little-endian mark starts with UTF-16's
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
)


def encoding_of_byte_order_mark(data: bytes) -> str | None:
    """The encoding whose byte-order mark ``data`` starts with (UTF-16 or UTF-32), or None."""
    return next((name for mark, name in BYTE_ORDER_MARKS if data.startswith(mark)), None)


def sha256_of_text(text: str) -> str:
    """Return the SHA-256 of ``text`` encoded as UTF-8, in hexadecimal."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _verified(data: bytes, source: str, fix: str) -> str:
    """Return ``data`` decoded if its SHA-256 is the expected one; else raise, naming
    ``source``, both checksums and ``fix``."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != PRIDE_AND_PREJUDICE_SHA256:
        raise CorpusError(
            f"{source} is not the expected text of Pride and Prejudice: SHA-256 {actual}, "
            f"expected {PRIDE_AND_PREJUDICE_SHA256} ({fix})"
        )
    return data.decode("utf-8")
