"""Rebuild ``data/pride_and_prejudice.txt`` from its source, the R package janeaustenr.

    python scripts/extract_corpus.py [--output PATH]

Downloads Debian's ``r-cran-janeaustenr`` package with ``apt-get download`` (nothing is
installed and R is not needed), reads the character vector ``prideprejudice`` from the
package's data with the ``rdata`` package, writes its lines joined by ``"\\n"`` to PATH
(default ``data/pride_and_prejudice.extracted.txt``) and prints its SHA-256.

Exit status: 0 when the text matches the committed ``data/pride_and_prejudice.txt`` and
the checksum recorded in ``lstm_lib.corpus``; 1 when it does not; 2 when the package
cannot be downloaded or read.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lstm_lib.atomic import atomic_write  # noqa: E402
from lstm_lib.corpus import CORPUS_FILENAME, PRIDE_AND_PREJUDICE_SHA256  # noqa: E402

PACKAGE = "r-cran-janeaustenr"
DATA_DIR = "/janeaustenr/data/"  # inside the R library folder of the package's files
R_OBJECT = "prideprejudice"
COMMITTED = ROOT / "data" / CORPUS_FILENAME


class ExtractionError(Exception):
    """The package could not be downloaded or read; the message says why."""


def download_deb(folder: Path) -> Path:
    """Run ``apt-get download`` in ``folder`` and return the ``.deb`` file."""
    try:
        result = subprocess.run(
            ["apt-get", "download", PACKAGE], cwd=folder, capture_output=True, text=True, timeout=300
        )
    except FileNotFoundError:
        raise ExtractionError("apt-get not found: run this on Debian or Ubuntu") from None
    debs = sorted(folder.glob(f"{PACKAGE}_*.deb"))
    if result.returncode != 0 or not debs:
        errors = [line for line in result.stderr.splitlines() if line.startswith("E:")] or [result.stderr]
        raise ExtractionError(
            f"apt-get download {PACKAGE} failed: {errors[-1].strip()} (try `sudo apt-get update`)"
        )
    return debs[-1]


def package_files(deb: Path, names: tuple[str, ...]) -> list[bytes]:
    """Return the contents of the files ``DATA_DIR + name`` in the package ``deb``."""
    result = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True)
    if result.returncode != 0:
        raise ExtractionError(f"dpkg-deb cannot read {deb.name}: {result.stderr.decode().strip()}")
    found = {}
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        for member in archive.getmembers():
            for name in names:
                if member.isfile() and member.name.endswith(DATA_DIR + name):
                    found[name] = archive.extractfile(member).read()
    missing = [name for name in names if name not in found]
    if missing:
        raise ExtractionError(f"{deb.name} has no file ...{DATA_DIR}{missing[0]}")
    return [found[name] for name in names]


def parse_r(data: bytes) -> object:
    """Parse serialized R data (gzip-compressed or not) into Python objects."""
    import rdata

    with warnings.catch_warnings():
        # A bare serialization has no file header; rdata then warns that it assumed RDS, which is right.
        warnings.filterwarnings("ignore", message="Unknown file type")
        return rdata.conversion.convert(rdata.parser.parse_data(data))


def lazy_load_object(index: bytes, database: bytes, name: str) -> object:
    """Read the object ``name`` from an installed R package's lazy-load database.

    ``Rdata.rdx`` (``index``) maps each object to the (offset, length) of its record in
    ``Rdata.rdb`` (``database``). A record is the uncompressed length as a 4-byte big-endian
    integer, then a zlib stream (R's default compression, the one Debian's package uses).
    """
    entries = parse_r(index)
    offset, length = (int(number) for number in entries["variables"][name])
    if int(entries["compressed"][0]) != 1:
        raise ExtractionError(f"{name} is not zlib-compressed in the lazy-load database")
    record = database[offset : offset + length]
    raw = zlib.decompress(record[4:])
    if len(raw) != int.from_bytes(record[:4], "big"):
        raise ExtractionError(f"the record of {name} has the wrong length")
    return parse_r(raw)


def extract_text() -> str:
    """Download the package and return the novel's lines joined by ``"\\n"``."""
    with tempfile.TemporaryDirectory(prefix="janeaustenr-") as tmp:
        index, database = package_files(download_deb(Path(tmp)), ("Rdata.rdx", "Rdata.rdb"))
    lines = lazy_load_object(index, database, R_OBJECT)
    if isinstance(lines, (str, bytes)) or not all(isinstance(line, str) for line in lines):
        raise ExtractionError(f"{R_OBJECT} is not a character vector")
    return "\n".join(str(line) for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "data" / "pride_and_prejudice.extracted.txt")
    args = parser.parse_args(argv)
    try:
        data = extract_text().encode("utf-8")
    except (ExtractionError, ImportError, OSError, KeyError, ValueError, zlib.error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with atomic_write(args.output) as file:
        file.write(data)
    actual = hashlib.sha256(data).hexdigest()
    print(f"{actual}  {args.output}")

    expected = {"recorded in lstm_lib.corpus": PRIDE_AND_PREJUDICE_SHA256}
    if COMMITTED.is_file():
        expected[f"of {COMMITTED.relative_to(ROOT)}"] = hashlib.sha256(COMMITTED.read_bytes()).hexdigest()
    differing = [f"{where}: {sha}" for where, sha in expected.items() if sha != actual]
    for line in differing:
        print(f"mismatch: the SHA-256 {line}", file=sys.stderr)
    if not differing:
        print(f"matches the SHA-256 {' and '.join(expected)}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
