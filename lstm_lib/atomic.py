"""Writing files so that a reader never sees half of one."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_write(path) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for binary writing; on leaving the
    ``with`` block, flush it to disk and rename it over ``path`` in one step.

    If the block raises, ``path`` keeps its old contents (or stays absent) and
    the temporary file is removed. Parent directories are created as needed;
    the file is readable by everyone (0o644), like one written with ``open``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), 0o644)  # mkstemp makes it private (0o600)
            yield tmp
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
