"""Fixtures of the bad-input corpus: a small competition folder to spoil, and the tools run in this process as their
scripts run them."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import stat
import struct
from contextlib import redirect_stderr, redirect_stdout
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]



@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """4 training and 2 test images (64-128 px) in the competition layout. Copy it to spoil it."""
    from fashion_seg.data.synthetic import make_demo_dataset

    root = tmp_path_factory.mktemp("small_demo")
    make_demo_dataset(root, seed=0, train_images=4, test_images=2, min_side=64, max_side=128, large_side=None)
    return root


def tool_main(tool: str):
    """The ``main`` of a command-line tool: ``data`` (dataHandling.py), ``train``, ``predict``, ``remote``
    (DGX_ssh_comm.py)."""
    if tool == "data":
        import dataHandling

        return dataHandling.main
    if tool == "train":
        import train

        return train.main
    if tool == "predict":
        import predict

        return predict.main
    from fashion_seg.remote.commands import main

    return main


def invoke(tool: str, argv: list) -> tuple[int, str, str]:
    """Run a tool as its script does (``sys.exit(run(main))``), in this process: (exit code, stdout, stderr)."""
    from fashion_seg.cli import run

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = run(tool_main(tool), [str(a) for a in argv])
            except SystemExit as exit_:  # argparse
                code = exit_.code
    finally:  # the tool's logging set-up would otherwise keep writing to this call's stderr
        for handler in set(root.handlers) - set(handlers):
            root.removeHandler(handler)
        root.setLevel(level)
    return code, out.getvalue(), err.getvalue()


def ignores_file_permissions() -> bool:
    """Whether this process reads a file without read permission (root, or any process with CAP_DAC_OVERRIDE):
    then the permission cases cannot happen, and a directory in the file's place is the unreadable case to try."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_text("x")
        probe.chmod(0)
        try:
            probe.read_text()
        except PermissionError:
            return False
        return True


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 and mode of every file under ``folder``, by path relative to it (a file a case made unreadable is
    read by lending its owner read permission for a moment)."""
    return {str(p.relative_to(folder)): _digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def _digest(path: Path) -> str:
    mode = path.stat().st_mode
    if os.access(path, os.R_OK):
        return f"{mode:o} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    path.chmod(mode | stat.S_IRUSR)
    try:
        return f"{mode:o} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    finally:
        path.chmod(mode)


def jpeg_claiming(path: Path, height: int, width: int) -> None:
    """A small JPEG whose header (SOF0) claims ``height`` x ``width`` pixels: a decompression bomb's header."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    start = data.index(b"\xff\xc0")
    data[start + 5:start + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))


def first_image(inp: Path, split: str = "train") -> Path:
    return min((inp / split).glob("*.jpg"))


def hanging_up_server() -> int:
    """A server on 127.0.0.1 that answers in HTTP and hangs up (a web server on the port given as SSH's)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve():
        with server:
            connection, _ = server.accept()
            connection.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
            connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]
