"""The course's text: Jane Austen's *Pride and Prejudice*.

The book uses one exact edition of the novel, the character vector
``prideprejudice`` from the R package janeaustenr: 13,030 lines which, joined
with ``"\\n"`` (and no newline at the end), make 684,767 characters drawn from
75 distinct characters.  Every number quoted in the book was computed on that
text, so :func:`load_pride_and_prejudice` checks it against a SHA-256 checksum.

The text is not stored in the repository.  The first call fetches it and saves
it in :func:`cache_dir`; later calls read the saved copy.  The sources, tried
in order until one gives the right text, are:

1. the cache, ``cache_dir() / "pride_and_prejudice.txt"``;
2. the janeaustenr source package on CRAN (needs internet access);
3. Debian's ``r-cran-janeaustenr`` package, fetched with ``apt-get download``
   (nothing is installed; works on Debian and Ubuntu machines);
4. Project Gutenberg's eBook #1342, a *different* edition: it is used only as a
   last resort, with a warning, because the numbers will differ from the book's.

Each source that fails is reported in one line on standard error.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

from .atomic import atomic_write
from .errors import UsageError

PRIDE_AND_PREJUDICE_SHA256 = "2e44edaa4946d64ad541c68e0224f5d672f43bf3ce2a8a0b0637ad5e02fc6eb3"
"""SHA-256 of the UTF-8 bytes of ``"\\n".join(janeaustenr::prideprejudice)``."""

CACHE_FILENAME = "pride_and_prejudice.txt"
GUTENBERG_CACHE_FILENAME = "pride_and_prejudice_gutenberg.txt"

CRAN_URLS = (
    "https://cran.r-project.org/src/contrib/janeaustenr_1.0.0.tar.gz",
    "https://cran.r-project.org/src/contrib/Archive/janeaustenr/janeaustenr_1.0.0.tar.gz",
)
CRAN_MEMBER = "janeaustenr/data/prideprejudice.rda"

DEBIAN_PACKAGE = "r-cran-janeaustenr"
DEBIAN_DATA_DIR = "janeaustenr/data/"  # inside the R library directory

GUTENBERG_URLS = (
    "https://www.gutenberg.org/cache/epub/1342/pg1342.txt",
    "https://www.gutenberg.org/files/1342/1342-0.txt",
)

R_OBJECT_NAME = "prideprejudice"
DOWNLOAD_TIMEOUT_S = 20
APT_TIMEOUT_S = 300


class CorpusError(UsageError):
    """The text could not be obtained or read; the message says how to fix it."""


class OtherEditionWarning(UserWarning):
    """The text is not the janeaustenr edition, so results will differ from the book's."""


class _SourceFailed(Exception):
    """One source did not give the text; the message is a one-line reason."""


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def cache_dir() -> Path:
    """Return the directory where downloaded texts are kept.

    In order of preference:

    1. the directory named by the environment variable ``LSTM_LIB_DATA_DIR``;
    2. ``<repository>/data`` when the package is used from a checkout of the
       course repository (the package's parent directory holds both
       ``pyproject.toml`` and a ``data/`` directory);
    3. ``$XDG_CACHE_HOME/lstm_lib``, or ``~/.cache/lstm_lib``.

    The directory is not created here; it is created when a file is saved.
    """
    from_env = os.environ.get("LSTM_LIB_DATA_DIR")
    if from_env:
        return Path(from_env).expanduser()

    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
        return checkout / "data"

    xdg_cache = os.environ.get("XDG_CACHE_HOME")
    if xdg_cache and Path(xdg_cache).is_absolute():
        return Path(xdg_cache) / "lstm_lib"
    return Path.home() / ".cache" / "lstm_lib"


def load_pride_and_prejudice(verbose: bool = True) -> str:
    """Return the janeaustenr text of *Pride and Prejudice*, lines joined by ``"\\n"``.

    The sources are tried in the order given in the module's documentation.
    With ``verbose=True`` each failed source, and where a fetched text was
    saved, is reported in one line on standard error.

    Raises:
        CorpusError: when no source gives the text.  The message lists every
            source tried and how to supply the file by hand.
    """
    target = cache_dir() / CACHE_FILENAME
    tried = []

    def report(line: str) -> None:
        if verbose:
            print(line, file=sys.stderr)

    def failed(source: str, reason: object) -> None:
        tried.append(f"{source}: {reason}")
        report(tried[-1])

    # 1. The cache.
    try:
        return _read_cached_text(target)
    except _SourceFailed as exc:
        failed("cache", exc)

    # 2 and 3. Sources of the exact edition, checked against the checksum.
    for source, fetch in (("CRAN", _text_from_cran), ("Debian", _text_from_debian)):
        try:
            text = _verified(fetch())
        except _SourceFailed as exc:
            failed(source, exc)
            continue
        except Exception as exc:  # a damaged download must not stop the next source
            failed(source, f"{type(exc).__name__}: {_reason(exc)}")
            continue
        try:
            write_text_atomically(target, text)
            report(f"{source}: got the text; saved it as {_shown(target)}")
        except OSError as exc:
            report(f"{source}: got the text but could not save it: {exc}")
        return text

    # 4. Another edition, as a last resort.
    try:
        text = _text_from_gutenberg(cache_dir() / GUTENBERG_CACHE_FILENAME, report)
    except _SourceFailed as exc:
        failed("Project Gutenberg", exc)
    except Exception as exc:
        failed("Project Gutenberg", f"{type(exc).__name__}: {_reason(exc)}")
    else:
        warnings.warn(
            "using Project Gutenberg's edition of Pride and Prejudice, not the "
            "janeaustenr one: lengths, vocabulary and losses will differ from "
            "the numbers in the book",
            OtherEditionWarning,
            stacklevel=2,
        )
        return text

    raise CorpusError(
        "could not get the text of Pride and Prejudice. Tried:\n"
        + "".join(f"  {line}\n" for line in tried)
        + f"To supply it by hand, save the janeaustenr text as {target} "
        f'(in R: writeLines(janeaustenr::prideprejudice, "{target}")), '
        "or set LSTM_LIB_DATA_DIR to a directory holding "
        f"{CACHE_FILENAME}, or pass --text PATH to train on another text."
    )


def read_text_file(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 text file given by the user, for example with ``--text PATH``.

    A byte-order mark at the start is dropped and Windows line endings
    (``"\\r\\n"``) become ``"\\n"``.

    Raises:
        CorpusError: in one line, naming the file and what to do, when the
            file is missing, is a directory, cannot be read, is empty, or is
            not valid UTF-8 (the message gives the offset of the first bad byte).
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


def strip_gutenberg_boilerplate(text: str) -> str:
    """Return the body of a Project Gutenberg eBook, without the license text.

    The body lies between the line starting with ``*** START OF`` and the line
    starting with ``*** END OF``.  Line endings become ``"\\n"`` and blank
    lines around the body are removed.

    Raises:
        ValueError: if either marker line is missing.
    """
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    start = _index_of_line_starting(lines, "*** START OF")
    end = _index_of_line_starting(lines, "*** END OF", begin=start + 1)
    return "\n".join(lines[start + 1 : end]).strip("\n")


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` so that readers never see a partial
    file (see :func:`lstm_lib.atomic.atomic_write`)."""
    with atomic_write(path) as file:
        file.write(text.encode("utf-8"))


def sha256_of_text(text: str) -> str:
    """Return the SHA-256 of ``text`` encoded as UTF-8, in hexadecimal."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# Source 1: the cache
# ---------------------------------------------------------------------------


def _read_cached_text(path: Path) -> str:
    """Return the cached text if it is there and matches the checksum."""
    if not path.is_file():
        raise _SourceFailed(f"no file at {_shown(path)}")
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _SourceFailed(f"cannot read {_shown(path)}: {exc}") from None
    try:
        return _verified(text)
    except _SourceFailed as exc:
        raise _SourceFailed(f"{_shown(path)}: {exc}, ignoring it") from None


def _verified(text: str) -> str:
    """Return ``text`` in canonical form if it is the janeaustenr edition.

    A file saved by hand may end with a newline (R's ``writeLines`` adds one)
    or use Windows line endings; both are accepted and undone.
    """
    canonical = text.replace("\r\n", "\n").removesuffix("\n")
    if sha256_of_text(canonical) != PRIDE_AND_PREJUDICE_SHA256:
        raise _SourceFailed(f"checksum mismatch ({len(canonical):,} characters)")
    return canonical


# ---------------------------------------------------------------------------
# Source 2: the janeaustenr source package on CRAN
# ---------------------------------------------------------------------------


def _text_from_cran() -> str:
    """Download janeaustenr's source package and read the novel from it."""
    reasons = []
    for url in CRAN_URLS:
        try:
            tarball = _download(url)
        except urllib.error.HTTPError as exc:  # e.g. moved to the archive
            reasons.append(f"{url}: HTTP {exc.code} {exc.reason}")
            continue
        except OSError as exc:  # no network: no use trying again
            reasons.append(f"{url}: {_reason(exc)}")
            break
        return "\n".join(_lines_from_cran_tarball(tarball))
    raise _SourceFailed("; ".join(reasons))


def _lines_from_cran_tarball(tarball: bytes) -> list[str]:
    """Return the lines of the novel from janeaustenr's source tarball."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:*") as archive:
            rda = archive.extractfile(CRAN_MEMBER).read()
    except (tarfile.TarError, KeyError, AttributeError, OSError) as exc:
        raise _SourceFailed(f"cannot read {CRAN_MEMBER} from the tarball: {exc}") from None
    objects = _r_object_from_bytes(rda)
    if R_OBJECT_NAME not in objects:
        raise _SourceFailed(f"{CRAN_MEMBER} holds no object {R_OBJECT_NAME!r}")
    return _as_lines(objects[R_OBJECT_NAME])


# ---------------------------------------------------------------------------
# Source 3: Debian's r-cran-janeaustenr package
# ---------------------------------------------------------------------------


def _text_from_debian() -> str:
    """Download the Debian package with apt-get and read the novel from it.

    The package is only downloaded, not installed.  An installed R package
    keeps its data sets in a "lazy-load database": ``Rdata.rdx`` is an index,
    ``Rdata.rdb`` holds the objects.
    """
    with tempfile.TemporaryDirectory(prefix="lstm_lib-") as tmp:
        deb = _apt_get_download(DEBIAN_PACKAGE, Path(tmp))
        files = _files_from_deb(deb, (DEBIAN_DATA_DIR + "Rdata.rdx", DEBIAN_DATA_DIR + "Rdata.rdb"))
    index, database = files
    return "\n".join(_as_lines(_read_lazy_load_object(index, database, R_OBJECT_NAME)))


def _apt_get_download(package: str, directory: Path) -> Path:
    """Run ``apt-get download package`` in ``directory``; return the ``.deb`` path."""
    try:
        result = subprocess.run(
            ["apt-get", "download", package],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=APT_TIMEOUT_S,
        )
    except FileNotFoundError:
        raise _SourceFailed("apt-get not found (this is not a Debian-based system)") from None
    except subprocess.TimeoutExpired:
        raise _SourceFailed(f"apt-get download took over {APT_TIMEOUT_S} s") from None
    debs = sorted(directory.glob(f"{package}_*.deb"))
    if result.returncode != 0 or not debs:
        errors = [line for line in result.stderr.splitlines() if line.startswith("E:")]
        message = errors[-1] if errors else f"exit status {result.returncode}"
        raise _SourceFailed(
            f"apt-get download {package} failed: {message} "
            "(the package lists may be missing: try `sudo apt-get update`)"
        )
    return debs[-1]


def _files_from_deb(deb: Path, wanted: tuple[str, ...]) -> list[bytes]:
    """Return the contents of the files whose paths end with ``wanted``.

    A ``.deb`` file is an ``ar`` archive whose member ``data.tar.*`` is a
    compressed tar archive of the installed files.
    """
    members = _read_ar_archive(deb.read_bytes())
    names = [name for name in members if name.startswith("data.tar")]
    if not names:
        raise _SourceFailed(f"{deb.name} has no data.tar member")
    data_tar = members[names[0]]
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data_tar), mode="r:*")
    except tarfile.ReadError:
        # e.g. data.tar.zst, which Python's tarfile reads only from 3.14 on.
        archive = tarfile.open(fileobj=io.BytesIO(_dpkg_deb_fsys_tarfile(deb)), mode="r:")
    with archive:
        found = {}
        for member in archive.getmembers():
            for suffix in wanted:
                if member.isfile() and member.name.endswith("/" + suffix):
                    found[suffix] = archive.extractfile(member).read()
    missing = [suffix for suffix in wanted if suffix not in found]
    if missing:
        raise _SourceFailed(f"{deb.name} has no file .../{missing[0]}")
    return [found[suffix] for suffix in wanted]


def _read_ar_archive(data: bytes) -> dict[str, bytes]:
    """Split an ``ar`` archive into ``{member name: contents}``.

    The format: the magic ``!<arch>\\n``, then for each member a 60-byte header
    (name in bytes 0-16, size in decimal in bytes 48-58) followed by the
    contents, padded to an even length.
    """
    magic = b"!<arch>\n"
    if not data.startswith(magic):
        raise _SourceFailed("the downloaded .deb is not an ar archive")
    members = {}
    position = len(magic)
    while position + 60 <= len(data):
        header = data[position : position + 60]
        name = header[0:16].decode("ascii", "replace").strip().removesuffix("/")
        try:
            size = int(header[48:58])
        except ValueError:
            raise _SourceFailed(f"damaged ar header at byte {position}") from None
        start = position + 60
        members[name] = data[start : start + size]
        position = start + size + size % 2
    return members


def _dpkg_deb_fsys_tarfile(deb: Path) -> bytes:
    """Return the uncompressed data tar of ``deb``, using ``dpkg-deb``."""
    if shutil.which("dpkg-deb") is None:
        raise _SourceFailed(f"cannot decompress the data of {deb.name} (dpkg-deb not found)")
    result = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True)
    if result.returncode != 0:
        raise _SourceFailed(f"dpkg-deb --fsys-tarfile failed: {result.stderr.decode().strip()}")
    return result.stdout


def _read_lazy_load_object(index_bytes: bytes, database: bytes, name: str) -> object:
    """Read the object ``name`` from an R lazy-load database.

    ``index_bytes`` (the ``.rdx`` file) is a gzip-compressed R serialization
    of a list whose ``variables`` maps each object name to its (offset,
    length) in ``database`` (the ``.rdb`` file), and whose ``compressed``
    says how each record is compressed.
    """
    index = _r_object_from_bytes(index_bytes)
    try:
        offset, length = (int(number) for number in index["variables"][name])
        compression = int(index["compressed"][0])
    except (KeyError, TypeError, ValueError) as exc:
        raise _SourceFailed(f"no object {name!r} in the lazy-load index ({exc})") from None
    record = database[offset : offset + length]
    return _r_object_from_bytes(_decompress_lazy_load_record(record, compression))


def _decompress_lazy_load_record(record: bytes, compression: int) -> bytes:
    """Decompress one record of an R lazy-load database (``.rdb`` file).

    A record is the uncompressed length as a 4-byte big-endian integer, then
    the compressed bytes.  With ``compression`` 1 (R's default) they are a
    zlib stream; with 2 or 3 a type byte comes first: ``"Z"`` for xz,
    ``"2"`` for bzip2, ``"1"`` for zlib and ``"0"`` for no compression.
    """
    expected_length = int.from_bytes(record[:4], "big")
    body = record[4:]
    try:
        if compression == 1:
            raw = zlib.decompress(body)
        else:
            kind, body = body[:1], body[1:]
            decompress = {b"Z": lzma.decompress, b"2": bz2.decompress, b"1": zlib.decompress}
            raw = decompress[kind](body) if kind in decompress else body
    except (zlib.error, lzma.LZMAError, OSError, ValueError) as exc:
        raise _SourceFailed(f"cannot decompress the R data: {exc}") from None
    if len(raw) != expected_length:
        raise _SourceFailed(f"R data is {len(raw)} bytes, expected {expected_length}")
    return raw


# ---------------------------------------------------------------------------
# Source 4: Project Gutenberg (another edition)
# ---------------------------------------------------------------------------


def _text_from_gutenberg(saved_copy: Path, report: Callable[[str], None]) -> str:
    """Return Project Gutenberg's text, from ``saved_copy`` or downloaded.

    There is no checksum to check, so a download is saved under its own
    file name, never as the canonical text.
    """
    if saved_copy.is_file():
        try:
            return read_text_file(saved_copy)
        except CorpusError as exc:
            raise _SourceFailed(str(exc)) from None
    reasons = []
    for url in GUTENBERG_URLS:
        try:
            text = strip_gutenberg_boilerplate(_download(url).decode("utf-8"))
        except urllib.error.HTTPError as exc:
            reasons.append(f"{url}: HTTP {exc.code} {exc.reason}")
            continue
        except OSError as exc:  # no network: no use trying again
            reasons.append(f"{url}: {_reason(exc)}")
            break
        except ValueError as exc:  # not UTF-8, or no START/END markers
            reasons.append(f"{url}: {_reason(exc)}")
            continue
        try:
            write_text_atomically(saved_copy, text)
            report(f"Project Gutenberg: saved its edition to {_shown(saved_copy)}")
        except OSError as exc:
            report(f"Project Gutenberg: could not save its edition: {exc}")
        return text
    raise _SourceFailed("; ".join(reasons))


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _download(url: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> bytes:
    """Return the bytes at ``url``; raise ``OSError`` (``URLError``) on failure."""
    request = urllib.request.Request(url, headers={"User-Agent": "lstm_lib"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def _r_object_from_bytes(data: bytes) -> object:
    """Parse serialized R data (``.rda``, ``.rds`` or raw) into Python objects."""
    try:
        import rdata  # imported here: only the R-data sources need it
    except ImportError:
        raise _SourceFailed("the rdata package is needed to read R data (pip install rdata)") from None

    with warnings.catch_warnings():
        # A bare serialization has no file header; rdata then warns that it
        # "assumed RDS", which is right.
        warnings.filterwarnings("ignore", message="Unknown file type")
        try:
            return rdata.conversion.convert(rdata.parser.parse_data(data))
        except Exception as exc:  # rdata raises many kinds on bad input
            raise _SourceFailed(f"cannot parse the R data: {_reason(exc)}") from None


def _as_lines(vector: object) -> list[str]:
    """Check that an R object is a character vector; return it as a list of str."""
    is_sequence = hasattr(vector, "__len__") and not isinstance(vector, (str, bytes, dict))
    if not is_sequence or not all(isinstance(line, str) for line in vector):
        raise _SourceFailed(f"expected a character vector, got {type(vector).__name__}")
    return [str(line) for line in vector]  # numpy.str_ -> str


def _index_of_line_starting(lines: list[str], prefix: str, begin: int = 0) -> int:
    """Return the index of the first line at or after ``begin`` starting with ``prefix``."""
    for index in range(begin, len(lines)):
        if lines[index].lstrip().upper().startswith(prefix):
            return index
    raise ValueError(f"no line starting with {prefix!r}")


def _reason(exc: BaseException) -> str:
    """Describe a failure in one short line."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _shown(path: Path) -> str:
    """Return ``path`` relative to the working directory when it lies inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
