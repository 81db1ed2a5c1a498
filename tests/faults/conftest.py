"""Fixtures of the fault tests: files to damage, a full disk, and a child process that is killed with SIGKILL.

A kill is made deterministic by having the child kill itself at a chosen point of its work (after step 1 of epoch 2,
during the third prediction batch): the parent sees exactly what a ``kill -9`` from outside leaves behind.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_child(script: str, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the Python ``script`` (source text) in a child process at the repository root."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=timeout)


class FullDisk:
    """``os.fsync`` raising ENOSPC once :meth:`fill` is called: a disk that fills up while a file is written (a full
    disk often shows only when the data is flushed). ``matching``: only for files whose path contains it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self._patch = monkeypatch
        self.failures = 0

    def fill(self, matching: str = "") -> None:
        fsync = os.fsync

        def no_space(fd):
            if matching in os.readlink(f"/proc/self/fd/{fd}"):
                self.failures += 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return fsync(fd)

        self._patch.setattr(os, "fsync", no_space)

    def free(self) -> None:
        self._patch.undo()


@pytest.fixture
def full_disk(monkeypatch) -> FullDisk:
    return FullDisk(monkeypatch)


@pytest.fixture
def read_only_folder(monkeypatch):
    """``read_only_folder(folder)``: creating a file in ``folder`` fails with EROFS from then on, as on a file
    system mounted read-only (simulated: root may write anywhere else)."""
    open_file = os.open

    def make(folder: Path) -> None:
        def refuse(path, flags, *args, **kwargs):
            if flags & os.O_CREAT and Path(path).parent == folder:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return open_file(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)

    return make


def ignores_file_permissions() -> bool:
    """Whether this process writes where it has no permission (root, or any process with CAP_DAC_OVERRIDE)."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder).chmod(0o500)
        try:
            (Path(folder) / "probe").write_text("x")
        except PermissionError:
            return False
        finally:
            Path(folder).chmod(0o700)
        return True


def load_fixture_module(name: str, path: str):
    """A conftest of another test folder as a plain module (e.g. the prediction tests' stand-in model)."""
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def truncate(path: Path, fraction: float = 0.5) -> None:
    """Cut ``path`` to ``fraction`` of its length: a copy or a write that stopped halfway."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def leftovers(folder: Path) -> list[str]:
    """Temporary files of unfinished atomic writes (``.<name>.<random>.tmp<suffix>``) under ``folder``."""
    return sorted(p.name for p in folder.rglob(".*.tmp*"))
