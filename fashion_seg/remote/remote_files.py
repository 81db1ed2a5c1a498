"""Small SFTP building blocks: atomic remote writes, ``mkdir -p``, reading small remote files."""

from __future__ import annotations

import posixpath
import secrets
import stat
from contextlib import contextmanager
from typing import Iterator

import paramiko

from ..errors import RemoteError

PART_SUFFIX = ".fashion-seg-part"


def part_name(path: str) -> str:
    """A hidden temporary name beside ``path`` (same directory, so the final rename is atomic)."""
    directory, name = posixpath.split(path)
    return posixpath.join(directory, f".{name}.{secrets.token_hex(4)}{PART_SUFFIX}")


def replace(sftp: paramiko.SFTPClient, source: str, target: str) -> None:
    """Rename ``source`` over ``target``, atomically where the server has OpenSSH's posix-rename extension."""
    try:
        sftp.posix_rename(source, target)
    except OSError:
        try:
            sftp.remove(target)
        except FileNotFoundError:
            pass
        sftp.rename(source, target)


@contextmanager
def temporary_beside(sftp: paramiko.SFTPClient, path: str) -> Iterator[str]:
    """A temporary name beside ``path`` for the body to write and rename over ``path``; removed if the body fails
    (or is interrupted), so a failed write leaves ``path`` as it was and no part file behind."""
    temporary = part_name(path)
    try:
        yield temporary
    except BaseException:
        try:
            sftp.remove(temporary)
        except OSError:
            pass
        raise


def write_atomically(sftp: paramiko.SFTPClient, path: str, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path`` and rename it over ``path``."""
    with temporary_beside(sftp, path) as temporary:
        with sftp.open(temporary, "wb") as handle:
            handle.write(data)
        replace(sftp, temporary, path)


def read_small(sftp: paramiko.SFTPClient, path: str) -> bytes | None:
    """The whole content of a small remote file, or ``None`` if it does not exist."""
    try:
        with sftp.open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def mkdirs(sftp: paramiko.SFTPClient, path: str, known: set[str] | None = None) -> None:
    """``mkdir -p`` over SFTP; ``known`` caches directories already seen to exist."""
    known = set() if known is None else known
    missing = []
    current = path
    while current not in known and current not in ("/", ""):
        try:
            attributes = sftp.stat(current)
        except FileNotFoundError:
            missing.append(current)
            current = posixpath.dirname(current)
            continue
        if not stat.S_ISDIR(attributes.st_mode):
            raise RemoteError(f"remote path {current} exists but is not a directory; move it away and try again")
        break
    for directory in reversed(missing):
        sftp.mkdir(directory)
    known.update(missing)
    known.add(path)
