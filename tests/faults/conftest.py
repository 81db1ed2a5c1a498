"""Fixtures of the fault tests: files to damage, a full disk, and a child process that is killed with SIGKILL.

A kill is made deterministic by having the child kill itself at a chosen point of its work (after step 1 of epoch 2,
during the third prediction batch): the parent sees exactly what a ``kill -9`` from outside leaves behind.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_child(script: str, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the Python ``script`` (source text) in a child process at the repository root."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def child():
    """:func:`run_child`: ``child(script, *args)`` -> CompletedProcess (returncode -9 after a SIGKILL)."""
    return run_child


class FullDisk:
    """``os.fsync`` (and, with ``writes=True``, ``os.write``) raising ENOSPC once :meth:`fill` is called: a disk
    that fills up while a file is written (a full disk often only shows when the data is flushed)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self._patch = monkeypatch
        self.failures = 0

    def fill(self, writes: bool = False) -> None:
        def no_space(*args, **kwargs):
            self.failures += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        self._patch.setattr(os, "fsync", no_space)
        if writes:
            self._patch.setattr(os, "write", no_space)

    def free(self) -> None:
        self._patch.undo()


@pytest.fixture
def full_disk(monkeypatch) -> FullDisk:
    return FullDisk(monkeypatch)


def truncate(path: Path, fraction: float = 0.5) -> None:
    """Cut ``path`` to ``fraction`` of its length: a copy or a write that stopped halfway."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def leftovers(folder: Path) -> list[str]:
    """Temporary files of unfinished atomic writes (``.<name>.<random>.tmp<suffix>``) under ``folder``."""
    return sorted(p.name for p in folder.rglob(".*.tmp*"))
