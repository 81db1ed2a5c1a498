"""Atomic file writes: a reader sees the old file or the complete new one, never half of it.

Used for everything a long job leaves behind (checkpoints, submissions, cleaned CSVs, manifests):
the data goes to a temporary file in the same directory, is flushed to disk, and is renamed over the target.

A write that fails for a reason the user can fix (a full disk, a read-only or forbidden folder: see
:func:`fashion_seg.errors.file_error`) raises :class:`~fashion_seg.errors.FileAccessError` naming the target and
saying that the previous file is unchanged (or that there was none); the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from .errors import FileAccessError, file_error


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    For libraries that insist on writing to a path themselves (h5py, Keras, matplotlib). The temporary name keeps
    ``path``'s suffix (or ``suffix``) so that libraries choosing a format by extension still do the right thing.
    On an exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.",
                                        suffix=".tmp" + (suffix if suffix is not None else target.suffix),
                                        dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_directory(target.parent)
    except OSError as error:
        user_error = file_error(error, target, writing=True)
        if user_error is None:
            raise
        kept = "the previous file is unchanged" if target.exists() else "nothing was written there"
        raise FileAccessError(f"{user_error}; {kept}") from error
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file for writing; on success it replaces ``path`` atomically.

    ``mode`` is ``"w"`` or ``"wb"``; text mode defaults to UTF-8 and ``newline=""`` is honoured as usual.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write supports modes 'w' and 'wb', not {mode!r}")
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
