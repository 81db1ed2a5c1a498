"""``push``: make the remote project directory match the local tree, sending only what changed.

A manifest of what was sent (size, mtime and SHA-256 of each file) is kept on the remote host in
``<remote-dir>/.fashion_seg/push-manifest.json``. A file is sent again only when it is missing remotely, its remote
size or mtime no longer match (someone changed it there), or its local size/mtime changed *and* its content hash
differs (a fresh clone or ``touch`` alone does not cause an upload). Each file is written under a temporary name in
its target directory and renamed into place, so a half-sent file is never seen under its real name.

``delete=True`` removes remote files that an earlier push sent and that no longer exist locally; files created on the
remote host (checkpoints, logs, data, job records) were never in the manifest and are never touched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import paramiko
from tqdm import tqdm

from ..errors import RemoteError
from .connection import RemoteHost
from .excludes import LocalFile, walk_tree
from .remote_files import mkdirs, replace, temporary_beside, write_atomically

log = logging.getLogger(__name__)

STATE_DIR = ".fashion_seg"
MANIFEST_NAME = "push-manifest.json"
MANIFEST_VERSION = 1


@dataclass
class PushReport:
    """What a push did; paths are '/'-separated, relative to the project root."""

    local_root: Path
    remote_root: str
    sent: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    bytes_sent: int = 0

    def summary(self) -> str:
        return (
            f"pushed {self.local_root} -> {self.remote_root}: {len(self.sent)} file(s) sent "
            f"({self.bytes_sent / 1e6:.2f} MB), {len(self.unchanged)} unchanged, {len(self.deleted)} deleted"
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(remote_root: str) -> str:
    return posixpath.join(remote_root, STATE_DIR, MANIFEST_NAME)


def read_manifest(sftp: paramiko.SFTPClient, remote_root: str) -> dict[str, dict]:
    """The remote manifest's ``{relpath: {"size", "mtime_ns", "sha256"}}``; empty if there is none yet."""
    path = manifest_path(remote_root)
    try:
        with sftp.open(path, "rb") as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError):
        log.warning("ignoring unreadable push manifest %s: every file will be compared again", path)
        return {}
    if document.get("version") != MANIFEST_VERSION:
        return {}
    return document["files"]


def list_remote_files(
    sftp: paramiko.SFTPClient, remote_root: str, directories: Iterable[str]
) -> dict[str, paramiko.SFTPAttributes]:
    """Attributes of the regular files directly inside each of ``directories`` (relative to ``remote_root``)."""
    found = {}
    for relative in sorted(set(directories)):
        try:
            entries = sftp.listdir_attr(posixpath.join(remote_root, relative) if relative else remote_root)
        except FileNotFoundError:
            continue
        for entry in entries:
            if stat.S_ISREG(entry.st_mode or 0):
                found[posixpath.join(relative, entry.filename) if relative else entry.filename] = entry
    return found


def _remote_matches(remote: paramiko.SFTPAttributes | None, local: LocalFile) -> bool:
    # SFTP v3 carries whole seconds; push sets the remote mtime to the local one after every upload.
    return remote is not None and remote.st_size == local.size and remote.st_mtime == local.mtime_ns // 1_000_000_000


def push(
    host: RemoteHost,
    local_root: str | Path,
    remote_root: str,
    *,
    delete: bool = False,
    excludes: Iterable[str] = (),
    progress: bool = True,
) -> PushReport:
    """Sync ``local_root`` to ``remote_root`` (absolute, or relative to the remote home). See the module docstring."""
    local_root = Path(local_root).resolve()
    if not local_root.is_dir():
        raise RemoteError(f"local project directory {local_root} does not exist")
    remote_root = host.resolve(remote_root)
    sftp = host.sftp
    excludes = list(excludes)
    files = list(walk_tree(local_root, excludes))
    local_by_path = {f.relpath: f for f in files}

    manifest = read_manifest(sftp, remote_root)
    directories = {posixpath.dirname(relpath) for relpath in [*local_by_path, *manifest]}
    remote_files = list_remote_files(sftp, remote_root, directories)

    report = PushReport(local_root, remote_root)
    new_manifest: dict[str, dict] = {}
    to_send: list[tuple[LocalFile, str]] = []
    for local in files:
        recorded = manifest.get(local.relpath)
        remote = remote_files.get(local.relpath)
        if (
            recorded
            and recorded["size"] == local.size
            and recorded["mtime_ns"] == local.mtime_ns
            and _remote_matches(remote, local)
        ):
            new_manifest[local.relpath] = recorded
            report.unchanged.append(local.relpath)
            continue
        digest = sha256_of(local.path)
        if recorded and recorded["sha256"] == digest and remote is not None and remote.st_size == local.size:
            # Same content, new local mtime (checkout, touch): bring the remote mtime along instead of re-sending.
            sftp.utime(posixpath.join(remote_root, local.relpath), (local.mtime_ns // 10**9, local.mtime_ns // 10**9))
            new_manifest[local.relpath] = {"size": local.size, "mtime_ns": local.mtime_ns, "sha256": digest}
            report.unchanged.append(local.relpath)
            continue
        to_send.append((local, digest))

    known_dirs: set[str] = set()
    mkdirs(sftp, posixpath.join(remote_root, STATE_DIR), known_dirs)
    total = sum(local.size for local, _ in to_send)
    try:
        with tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="push", disable=not progress or not to_send
        ) as bar:
            for local, digest in to_send:
                _send_file(sftp, local, remote_root, known_dirs, bar)
                new_manifest[local.relpath] = {"size": local.size, "mtime_ns": local.mtime_ns, "sha256": digest}
                report.sent.append(local.relpath)
                report.bytes_sent += local.size
        if delete:
            _delete_gone(sftp, remote_root, manifest, local_by_path, remote_files, local_root, report)
    finally:
        # Whatever was sent before a failure is recorded, so the next push does not send it again.
        kept = {
            relpath: entry
            for relpath, entry in manifest.items()
            if relpath not in local_by_path and relpath not in report.deleted
        }
        document = {"version": MANIFEST_VERSION, "files": {**kept, **new_manifest}}
        write_atomically(sftp, manifest_path(remote_root), json.dumps(document, indent=1, sort_keys=True).encode())
    return report


def _send_file(sftp: paramiko.SFTPClient, local: LocalFile, remote_root: str, known_dirs: set[str], bar: tqdm) -> None:
    target = posixpath.join(remote_root, local.relpath)
    mkdirs(sftp, posixpath.dirname(target), known_dirs)
    sent = 0

    def advance(done: int, _total: int) -> None:
        nonlocal sent
        bar.update(done - sent)
        sent = done

    with temporary_beside(sftp, target) as temporary:
        sftp.put(str(local.path), temporary, callback=advance, confirm=True)
        sftp.chmod(temporary, local.mode)
        seconds = local.mtime_ns // 1_000_000_000
        sftp.utime(temporary, (seconds, seconds))
        replace(sftp, temporary, target)


def _delete_gone(
    sftp: paramiko.SFTPClient,
    remote_root: str,
    manifest: dict[str, dict],
    local_by_path: dict[str, LocalFile],
    remote_files: dict[str, paramiko.SFTPAttributes],
    local_root: Path,
    report: PushReport,
) -> None:
    """Remove what an earlier push sent and the local tree no longer has.

    A file that still exists locally but is now excluded stays on the remote host (as with rsync's --delete).
    """
    emptied = set()
    for relpath in sorted(manifest):
        if relpath in local_by_path or (local_root / relpath).exists():
            continue
        if relpath in remote_files:
            sftp.remove(posixpath.join(remote_root, relpath))
        report.deleted.append(relpath)
        emptied.add(posixpath.dirname(relpath))
    # Directories that only held deleted files go too; rmdir refuses non-empty ones, which is what we want.
    candidates = set()
    for directory in emptied:
        while directory:
            candidates.add(directory)
            directory = posixpath.dirname(directory)
    for directory in sorted(candidates, key=lambda d: d.count("/"), reverse=True):
        try:
            sftp.rmdir(posixpath.join(remote_root, directory))
        except OSError:
            pass
