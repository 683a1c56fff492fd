"""Tests for lstm_lib.corpus: getting, checking and caching the text."""

import bz2
import contextlib
import io
import lzma
import shutil
import subprocess
import tarfile
import urllib.error
import zlib

import pytest

from lstm_lib import corpus
from lstm_lib.corpus import (
    PRIDE_AND_PREJUDICE_SHA256,
    CorpusError,
    OtherEditionWarning,
    load_pride_and_prejudice,
    read_text_file,
    sha256_of_text,
    strip_gutenberg_boilerplate,
    write_text_atomically,
)
from lstm_lib.errors import UsageError


def _apt_can_download_janeaustenr() -> tuple[bool, str]:
    """Whether ``apt-get download r-cran-janeaustenr`` can work here, and why not."""
    if shutil.which("apt-get") is None:
        return False, "apt-get is not available (not a Debian-based system)"
    result = subprocess.run(
        ["apt-get", "download", "--print-uris", corpus.DEBIAN_PACKAGE],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        return False, f"apt-get cannot find {corpus.DEBIAN_PACKAGE} (run `apt-get update`)"
    return True, ""


def _no_network(url, timeout=None):
    raise urllib.error.URLError("network disabled in the tests")


def _must_not_be_called():
    raise AssertionError("this source should not have been tried")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty cache directory, with the network switched off."""
    directory = tmp_path / "data"
    monkeypatch.setenv("LSTM_LIB_DATA_DIR", str(directory))
    monkeypatch.setattr(corpus, "_download", _no_network)
    return directory


@pytest.fixture(scope="module")
def debian_run(tmp_path_factory):
    """Fetch the text once for real through the Debian route.

    Returns the text, the lines reported on standard error and the cache path.
    """
    usable, reason = _apt_can_download_janeaustenr()
    if not usable:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("data")
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stderr(stderr):
        monkeypatch.setenv("LSTM_LIB_DATA_DIR", str(directory))
        monkeypatch.setattr(corpus, "_download", _no_network)
        text = load_pride_and_prejudice(verbose=True)
    return text, stderr.getvalue().splitlines(), directory / corpus.CACHE_FILENAME


# --- the real Debian route ---------------------------------------------------


def test_debian_route_gives_the_janeaustenr_text(debian_run):
    text, reported, cache_file = debian_run
    assert len(text) == 684_767
    assert len(set(text)) == 75
    assert len(text.split("\n")) == 13_030
    assert not text.endswith("\n")
    assert sha256_of_text(text) == PRIDE_AND_PREJUDICE_SHA256
    assert text.startswith("PRIDE AND PREJUDICE\n")

    assert reported[0].startswith("cache: no file at ")
    assert reported[1].startswith("CRAN: ")
    assert reported[2].startswith("Debian: got the text; saved it as ")
    assert len(reported) == 3

    assert cache_file.read_bytes() == text.encode("utf-8")
    assert [path.name for path in cache_file.parent.iterdir()] == [corpus.CACHE_FILENAME]


def test_second_call_is_served_from_the_cache(debian_run, monkeypatch, capsys):
    text, _, cache_file = debian_run
    monkeypatch.setenv("LSTM_LIB_DATA_DIR", str(cache_file.parent))
    monkeypatch.setattr(corpus, "_text_from_cran", _must_not_be_called)
    monkeypatch.setattr(corpus, "_text_from_debian", _must_not_be_called)
    assert load_pride_and_prejudice() == text
    assert capsys.readouterr().err == ""


# --- the cache ----------------------------------------------------------------


def test_corrupted_cache_is_rejected_and_replaced(debian_run, data_dir, monkeypatch, capsys):
    text = debian_run[0]
    cache_file = data_dir / corpus.CACHE_FILENAME
    data_dir.mkdir()
    cache_file.write_text(text[:1000], encoding="utf-8")  # a truncated download
    monkeypatch.setattr(corpus, "_text_from_debian", lambda: text)

    assert load_pride_and_prejudice() == text
    reported = capsys.readouterr().err.splitlines()
    assert "checksum mismatch" in reported[0]
    assert reported[-1].startswith("Debian: got the text")
    assert cache_file.read_bytes() == text.encode("utf-8")
    assert [path.name for path in data_dir.iterdir()] == [corpus.CACHE_FILENAME]


def test_cache_saved_by_r_writelines_is_accepted(debian_run, data_dir, monkeypatch):
    text = debian_run[0]
    data_dir.mkdir()
    (data_dir / corpus.CACHE_FILENAME).write_text(text + "\n", encoding="utf-8")
    monkeypatch.setattr(corpus, "_text_from_debian", _must_not_be_called)
    assert load_pride_and_prejudice(verbose=False) == text


def test_atomic_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    write_text_atomically(target, "first")
    assert target.read_text() == "first"

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(corpus.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_text_atomically(target, "second")
    assert target.read_text() == "first"
    assert [path.name for path in tmp_path.iterdir()] == ["out.txt"]


def test_cache_dir_prefers_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("LSTM_LIB_DATA_DIR", str(tmp_path / "mine"))
    assert corpus.cache_dir() == tmp_path / "mine"


def test_cache_dir_uses_the_checkout_then_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("LSTM_LIB_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    checkout = tmp_path / "checkout"
    (checkout / "lstm_lib").mkdir(parents=True)
    monkeypatch.setattr(corpus, "__file__", str(checkout / "lstm_lib" / "corpus.py"))

    assert corpus.cache_dir() == tmp_path / "xdg" / "lstm_lib"  # not a checkout yet
    (checkout / "pyproject.toml").write_text("")
    (checkout / "data").mkdir()
    assert corpus.cache_dir() == checkout / "data"


# --- when everything fails, or only Project Gutenberg works -------------------


def test_all_sources_failing_raises_an_error_listing_them(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get
    with pytest.raises(CorpusError) as caught:
        load_pride_and_prejudice(verbose=False)
    assert isinstance(caught.value, UsageError)
    message = str(caught.value)
    assert "  cache: no file at " in message
    assert "  CRAN: " in message
    assert "  Debian: apt-get not found" in message
    assert "  Project Gutenberg: " in message
    assert str(data_dir / corpus.CACHE_FILENAME) in message
    assert "--text PATH" in message
    assert "LSTM_LIB_DATA_DIR" in message


GUTENBERG_PAGE = (
    "\ufeffThe Project Gutenberg eBook of Pride and Prejudice\r\n"
    "This eBook is for the use of anyone anywhere.\r\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK PRIDE AND PREJUDICE ***\r\n"
    "\r\n"
    "Chapter I.\r\n"
    "\r\n"
    "It is a truth universally acknowledged.\r\n"
    "\r\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK PRIDE AND PREJUDICE ***\r\n"
    "Section 1. General Terms of Use\r\n"
)
GUTENBERG_BODY = "Chapter I.\n\nIt is a truth universally acknowledged."


def test_strip_gutenberg_boilerplate():
    assert strip_gutenberg_boilerplate(GUTENBERG_PAGE) == GUTENBERG_BODY


def test_strip_gutenberg_boilerplate_needs_both_markers():
    with pytest.raises(ValueError, match="END OF"):
        strip_gutenberg_boilerplate("*** START OF THE BOOK ***\nText without an end.\n")
    with pytest.raises(ValueError, match="START OF"):
        strip_gutenberg_boilerplate("No markers at all.\n")


def test_gutenberg_is_the_last_resort_and_is_cached_apart(data_dir, monkeypatch):
    def fake_download(url, timeout=None):
        if url in corpus.GUTENBERG_URLS:
            return GUTENBERG_PAGE.encode("utf-8")
        return _no_network(url)

    monkeypatch.setattr(corpus, "_download", fake_download)
    monkeypatch.setattr(corpus, "_text_from_debian", lambda: "not the right text")
    with pytest.warns(OtherEditionWarning):
        assert load_pride_and_prejudice(verbose=False) == GUTENBERG_BODY
    assert not (data_dir / corpus.CACHE_FILENAME).exists()
    assert (data_dir / corpus.GUTENBERG_CACHE_FILENAME).read_text() == GUTENBERG_BODY


# --- reading the R data -------------------------------------------------------


def test_cran_tarball_is_read(tmp_path):
    rdata = pytest.importorskip("rdata")
    if not hasattr(rdata, "write_rda"):
        pytest.skip("this version of rdata cannot write .rda files")
    lines = ["PRIDE AND PREJUDICE", "", "It is a truth universally acknowledged"]
    rda = tmp_path / "prideprejudice.rda"
    np = pytest.importorskip("numpy")
    rdata.write_rda(rda, {"prideprejudice": np.array(lines)})  # a list would be an R list
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as archive:
        archive.add(rda, arcname=corpus.CRAN_MEMBER)
    assert corpus._lines_from_cran_tarball(tarball.getvalue()) == lines


@pytest.mark.parametrize(
    ("compression", "packed"),
    [
        (1, zlib.compress),
        (2, lambda raw: b"2" + bz2.compress(raw)),
        (2, lambda raw: b"0" + raw),
        (3, lambda raw: b"Z" + lzma.compress(raw)),
    ],
)
def test_lazy_load_records_are_decompressed(compression, packed):
    raw = b"X\n" + bytes(range(256)) * 10
    record = len(raw).to_bytes(4, "big") + packed(raw)
    assert corpus._decompress_lazy_load_record(record, compression) == raw


def test_ar_archive_is_split():
    def member(name, contents):
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{644:<8}{len(contents):<10}`\n"
        return header.encode("ascii") + contents + b"\n" * (len(contents) % 2)

    archive = b"!<arch>\n" + member("debian-binary", b"2.0\n") + member("data.tar.xz", b"abc")
    assert corpus._read_ar_archive(archive) == {"debian-binary": b"2.0\n", "data.tar.xz": b"abc"}


# --- read_text_file -----------------------------------------------------------


def test_read_text_file_reads_utf8(tmp_path):
    path = tmp_path / "book.txt"
    path.write_bytes("\ufeffCafé\r\nau lait\n".encode())
    assert read_text_file(path) == "Café\nau lait\n"


def test_read_text_file_missing(tmp_path):
    with pytest.raises(CorpusError, match=r"not found: .*nope\.txt"):
        read_text_file(tmp_path / "nope.txt")


def test_read_text_file_directory(tmp_path):
    with pytest.raises(CorpusError, match="is a directory"):
        read_text_file(tmp_path)


def test_read_text_file_empty(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(CorpusError, match=r"empty: .*empty\.txt"):
        read_text_file(path)


def test_read_text_file_not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Caf\u00e9 au lait".encode("latin-1"))
    with pytest.raises(CorpusError, match="not UTF-8 text: byte 0xe9 at byte offset 3") as caught:
        read_text_file(path)
    assert "\n" not in str(caught.value)
