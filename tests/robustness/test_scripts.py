"""A handful of the corpus run as a user runs it: the real scripts in child processes, where logging goes to the
terminal (stderr). Nothing but the one ``error:`` line (or the tool's own report) may reach it: no traceback, not
even from a library's thread."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from .conftest import REPO, file_hashes, first_image, hanging_up_server, ignores_file_permissions, jpeg_claiming


def script(*argv, timeout=180) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *map(str, argv)], cwd=REPO, env=environment, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def data(small_demo, tmp_path):
    shutil.copytree(small_demo, tmp_path / "in")
    return tmp_path / "in"


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_validate_reports_a_decompression_bomb_by_name(data):
    jpeg_claiming(first_image(data), 20000, 20000)
    before = file_hashes(data)
    result = script("dataHandling.py", "validate", "--data-dir", data, "--check-pixels")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{first_image(data)} claims 20000x20000" in result.stdout
    assert file_hashes(data) == before


def test_an_unreadable_train_csv_is_one_error_line(data):
    if ignores_file_permissions():  # root reads anything: a folder in the file's place is what it cannot read
        (data / "train.csv").unlink()
        (data / "train.csv").mkdir()
        expected = f"error: {data / 'train.csv'}: is a directory, not a file"
    else:
        (data / "train.csv").chmod(0)
        expected = f"error: {data / 'train.csv'}: permission denied (check its mode and owner)"
    try:
        result = script("dataHandling.py", "stats", "--data-dir", data, "--out", data.parent / "out")
    finally:
        if (data / "train.csv").is_file():
            (data / "train.csv").chmod(0o644)
    assert result.returncode == 2
    assert error_line(result.stderr) == expected
    assert not (data.parent / "out").exists()


def test_a_port_that_is_not_ssh_gives_one_line_and_no_paramiko_traceback(tmp_path):
    (tmp_path / "ssh_config").write_text("")
    port = hanging_up_server()
    result = script("DGX_ssh_comm.py", "--host", "127.0.0.1", "--port", port, "--ssh-config", tmp_path / "ssh_config",
                    "--known-hosts", tmp_path / "known_hosts", "--connect-timeout", 5, "status")
    assert result.returncode == 2
    assert error_line(result.stderr) == (f"error: 127.0.0.1:{port} is not an SSH server: it hung up without an SSH "
                                         "greeting; check --port and --host")
    assert "paramiko" not in result.stderr
    assert not (tmp_path / "known_hosts").exists()


def test_predict_without_its_image_folder(tmp_path):
    result = script("predict.py", tmp_path / "test", "--weights", "last", "--out", tmp_path / "s.csv")
    assert result.returncode == 2
    assert error_line(result.stderr) == f"error: test folder not found: {tmp_path / 'test'}"
    assert list(tmp_path.iterdir()) == []


def test_train_with_weights_that_do_not_exist(data, tmp_path):
    result = script("train.py", "--weights", tmp_path / "w.h5", "--data-dir", data, "--model-dir", tmp_path / "logs")
    assert result.returncode == 2
    assert error_line(result.stderr).startswith(f"error: --weights {tmp_path / 'w.h5'}: no such file")
    assert not (tmp_path / "logs").exists()
