"""Tests for lstm_lib.atomic: a file is replaced whole or not at all."""

import stat

import pytest

from lstm_lib.atomic import atomic_write


def test_writes_the_file_and_its_parent_folders(tmp_path):
    path = tmp_path / "a" / "b" / "out.bin"
    with atomic_write(path) as file:
        file.write(b"hello ")
        file.write(b"world")
    assert path.read_bytes() == b"hello world"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.bin"]


def test_replaces_an_existing_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old contents, longer than the new ones")
    with atomic_write(path) as file:
        file.write(b"new")
    assert path.read_bytes() == b"new"


def test_an_exception_midway_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_write(path) as file:
            file.write(b"half of the new")
            assert sorted(p.name for p in tmp_path.iterdir()) != ["out.bin"]  # the temporary file exists
            raise RuntimeError("disk on fire")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_an_exception_midway_creates_no_file(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "out.bin") as file:
            file.write(b"partial")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_the_file_is_readable_by_everyone(tmp_path):
    path = tmp_path / "out.bin"
    with atomic_write(path) as file:
        file.write(b"x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
