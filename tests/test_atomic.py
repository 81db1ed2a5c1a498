import errno
import os
from pathlib import Path

import pytest

from fashion_seg.atomic import atomic_path, atomic_write
from fashion_seg.errors import FileAccessError


def test_atomic_write_replaces_the_file_whole(tmp_path: Path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with atomic_write(target) as handle:
        handle.write("new\n")
        assert target.read_text() == "old\n"  # readers still see the old file mid-write
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_atomic_path_keeps_the_suffix_and_creates_parents(tmp_path: Path):
    target = tmp_path / "deep" / "weights.h5"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".h5" and tmp.parent == target.parent
        tmp.write_bytes(b"\x89HDF")
    assert target.read_bytes() == b"\x89HDF"


def test_a_full_disk_is_one_error_naming_the_file_and_keeping_the_old_one(tmp_path: Path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(FileAccessError) as raised:
        with atomic_write(target) as handle:
            handle.write("new\n")
    assert str(raised.value) == f"cannot write {target}: no space left on the disk; the previous file is unchanged"
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_an_os_error_the_user_cannot_fix_keeps_its_type(tmp_path: Path):
    with pytest.raises(OSError) as raised:
        with atomic_write(tmp_path / "out.csv"):
            raise OSError(errno.EBADF, "Bad file descriptor")
    assert type(raised.value) is OSError and raised.value.errno == errno.EBADF
    assert list(tmp_path.iterdir()) == []
