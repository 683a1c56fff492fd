"""Tests for lstm_lib.corpus: the committed text, where it is looked for, the download
(from a local HTTP server), checksum errors, read_text_file, and scripts/extract_corpus.py."""

import hashlib
import http.server
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
from functools import partial

import pytest

from lstm_lib import corpus
from lstm_lib.corpus import (
    CORPUS_FILENAME,
    PRIDE_AND_PREJUDICE_SHA256,
    CorpusError,
    load_pride_and_prejudice,
    read_text_file,
    sha256_of_text,
)
from lstm_lib.errors import UsageError

from .conftest import ROOT, skip_or_fail

COMMITTED = ROOT / "data" / CORPUS_FILENAME


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """lstm_lib as if installed without the repository: no checkout ``data/``, an empty
    user cache, no ``$LSTM_LIB_DATA_DIR``, and no network unless a test serves one."""
    monkeypatch.setattr(corpus, "__file__", str(tmp_path / "site-packages" / "lstm_lib" / "corpus.py"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LSTM_LIB_DATA_DIR", raising=False)
    monkeypatch.setattr(corpus, "CORPUS_URL", f"http://127.0.0.1:{_closed_port()}/{CORPUS_FILENAME}")
    return tmp_path


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """Serve the given bytes on 127.0.0.1 and point ``CORPUS_URL`` at them."""
    servers = []

    def start(data: bytes) -> None:
        root = tmp_path / "www"
        (root / "data").mkdir(parents=True)
        (root / "data" / CORPUS_FILENAME).write_bytes(data)
        handler = partial(_QuietHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        monkeypatch.setattr(
            corpus, "CORPUS_URL", f"http://127.0.0.1:{server.server_port}/data/{CORPUS_FILENAME}"
        )

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _closed_port() -> int:
    """A local port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _files(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


# --- the committed text --------------------------------------------------------


def test_committed_text_is_the_janeaustenr_edition():
    data = COMMITTED.read_bytes()
    assert hashlib.sha256(data).hexdigest() == PRIDE_AND_PREJUDICE_SHA256
    text = data.decode("utf-8")
    assert (len(text.split("\n")), len(text), len(set(text))) == (13_030, 684_767, 75)
    assert text.startswith("PRIDE AND PREJUDICE") and not text.endswith("\n")


def test_loads_the_checkout_data_without_network(tmp_path, monkeypatch):
    monkeypatch.delenv("LSTM_LIB_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(urllib.request, "urlopen", pytest.fail)
    text = load_pride_and_prejudice()
    assert text == COMMITTED.read_bytes().decode("utf-8")
    assert sha256_of_text(text) == PRIDE_AND_PREJUDICE_SHA256
    assert _files(tmp_path / "cache") == []


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("LSTM_LIB_DATA_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert corpus.search_dirs() == [tmp_path / "mine", ROOT / "data", tmp_path / "cache" / "lstm_lib"]
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert corpus.cache_dir() == tmp_path / "home" / ".cache" / "lstm_lib"


def test_loads_from_lstm_lib_data_dir_first(installed, monkeypatch):
    mine = installed / "mine"
    mine.mkdir()
    shutil.copyfile(COMMITTED, mine / CORPUS_FILENAME)
    monkeypatch.setenv("LSTM_LIB_DATA_DIR", str(mine))
    # Even in a checkout, LSTM_LIB_DATA_DIR comes first: a damaged file there is reported.
    monkeypatch.setattr(corpus, "__file__", str(ROOT / "lstm_lib" / "corpus.py"))
    assert sha256_of_text(load_pride_and_prejudice()) == PRIDE_AND_PREJUDICE_SHA256
    (mine / CORPUS_FILENAME).write_bytes(COMMITTED.read_bytes() + b"\n")
    with pytest.raises(CorpusError, match="mine/pride_and_prejudice.txt is not the expected"):
        load_pride_and_prejudice()


def test_checksum_mismatch_names_the_file_both_checksums_and_the_fix(installed, monkeypatch):
    monkeypatch.setenv("LSTM_LIB_DATA_DIR", str(installed))
    damaged = COMMITTED.read_bytes().replace(b"Elizabeth", b"Elisabeth", 1)
    (installed / CORPUS_FILENAME).write_bytes(damaged)
    with pytest.raises(UsageError) as caught:
        load_pride_and_prejudice()
    message = str(caught.value)
    assert str(installed / CORPUS_FILENAME) in message
    assert hashlib.sha256(damaged).hexdigest() in message
    assert f"expected {PRIDE_AND_PREJUDICE_SHA256}" in message
    assert f"delete {installed / CORPUS_FILENAME} to download a fresh copy" in message
    assert "\n" not in message


# --- the download --------------------------------------------------------------


def test_download_verifies_and_caches_the_text(installed, serve, capsys):
    serve(COMMITTED.read_bytes())
    text = load_pride_and_prejudice()
    assert sha256_of_text(text) == PRIDE_AND_PREJUDICE_SHA256
    cache = installed / "cache" / "lstm_lib"
    assert _files(cache) == [CORPUS_FILENAME]  # no temporary file left
    assert (cache / CORPUS_FILENAME).read_bytes() == COMMITTED.read_bytes()
    assert f"saved it as {cache / CORPUS_FILENAME}" in capsys.readouterr().err

    corpus.CORPUS_URL = f"http://127.0.0.1:{_closed_port()}/gone"  # restored by monkeypatch
    assert load_pride_and_prejudice() == text  # from the cache, no download


def test_download_goes_to_lstm_lib_data_dir_when_set(installed, serve, monkeypatch):
    monkeypatch.setenv("LSTM_LIB_DATA_DIR", str(installed / "mine"))
    serve(COMMITTED.read_bytes())
    load_pride_and_prejudice()
    assert _files(installed / "mine") == [CORPUS_FILENAME]
    assert _files(installed / "cache") == []


def test_corrupted_download_leaves_no_file(installed, serve):
    corrupted = COMMITTED.read_bytes()[:-1000]  # e.g. a truncated transfer
    serve(corrupted)
    with pytest.raises(CorpusError) as caught:
        load_pride_and_prejudice()
    message = str(caught.value)
    assert f"the download from {corpus.CORPUS_URL} is not the expected" in message
    assert hashlib.sha256(corrupted).hexdigest() in message and PRIDE_AND_PREJUDICE_SHA256 in message
    assert "nothing was saved" in message and "\n" not in message
    assert _files(installed / "cache") == []


def test_no_network_is_one_line_naming_the_url_and_the_manual_fix(installed):
    with pytest.raises(CorpusError) as caught:
        load_pride_and_prejudice()
    message = str(caught.value)
    target = installed / "cache" / "lstm_lib" / CORPUS_FILENAME
    assert message.startswith(f"cannot download {corpus.CORPUS_URL} (")
    assert f"download {corpus.CORPUS_URL} by hand and save it as {target}" in message
    assert "\n" not in message
    assert _files(installed / "cache") == []


def test_http_error_is_reported_like_no_network(installed, serve):
    serve(COMMITTED.read_bytes())
    corpus.CORPUS_URL = corpus.CORPUS_URL.replace(CORPUS_FILENAME, "missing.txt")
    with pytest.raises(
        CorpusError, match=r"^cannot download .*missing\.txt \(HTTP 404 File not found\): download "
    ):
        load_pride_and_prejudice()


# --- read_text_file ------------------------------------------------------------


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
    path.write_bytes(b" \n")
    with pytest.raises(CorpusError, match=r"empty: .*empty\.txt"):
        read_text_file(path)


def test_read_text_file_not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Caf\u00e9 au lait".encode("latin-1"))
    with pytest.raises(CorpusError, match="not UTF-8 text: byte 0xe9 at byte offset 3") as caught:
        read_text_file(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Café au lait".encode("utf-16"), "UTF-16 (little-endian)"),  # Python writes the BOM first
        (b"\xfe\xff" + "Café au lait".encode("utf-16-be"), "UTF-16 (big-endian)"),
        ("Café au lait".encode("utf-32"), "UTF-32 (little-endian)"),  # not mistaken for UTF-16's mark
        (b"\x00\x00\xfe\xff" + "Café au lait".encode("utf-32-be"), "UTF-32 (big-endian)"),
    ],
    ids=["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"],
)
def test_read_text_file_names_a_utf16_or_utf32_file_and_how_to_convert_it(tmp_path, data, encoding):
    path = tmp_path / "wide.txt"
    path.write_bytes(data)
    with pytest.raises(CorpusError) as caught:
        read_text_file(path)
    message = str(caught.value)
    assert f"is {encoding} text" in message and "not UTF-8" in message, message
    assert f"iconv -f {encoding.split()[0]} -t UTF-8 {path}" in message, message
    assert "\n" not in message


# --- scripts/extract_corpus.py (needs apt-get and Debian's package registry) ------


def test_extract_corpus_rebuilds_the_committed_file(tmp_path):
    if shutil.which("apt-get") is None:
        skip_or_fail("apt-get is not available (not a Debian-based system)")
    probe = subprocess.run(
        ["apt-get", "download", "--print-uris", "r-cran-janeaustenr"], capture_output=True, text=True
    )
    if probe.returncode != 0 or ".deb" not in probe.stdout:
        skip_or_fail(f"apt-get cannot find r-cran-janeaustenr (run `apt-get update`): {probe.stderr.strip()}")
    output = tmp_path / "extracted.txt"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "extract_corpus.py"), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == COMMITTED.read_bytes()
    assert f"{PRIDE_AND_PREJUDICE_SHA256}  {output}" in result.stdout
