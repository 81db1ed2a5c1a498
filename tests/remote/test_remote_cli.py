"""DGX_ssh_comm.py end to end against the test sshd: the commands a user types, their output and exit codes."""

from __future__ import annotations

import getpass
import http.server
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from fashion_seg.cli import EXIT_USER_ERROR, run
from fashion_seg.remote.commands import build_parser, main
from fashion_seg.remote.tunnel import PortForwarder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(sshd, known_hosts, tmp_path, monkeypatch, capsys):
    """Run DGX_ssh_comm.py commands configured through FASHION_SEG_* variables; returns (exit code, stdout, stderr)."""
    remote_dir = tmp_path / "remote project"
    monkeypatch.setenv("FASHION_SEG_SSH_HOST", "127.0.0.1")
    monkeypatch.setenv("FASHION_SEG_SSH_PORT", str(sshd.port))
    monkeypatch.setenv("FASHION_SEG_SSH_KEY", str(sshd.client_key_path))
    monkeypatch.setenv("FASHION_SEG_KNOWN_HOSTS", str(known_hosts))
    monkeypatch.setenv("FASHION_SEG_SSH_CONFIG", "/dev/null")
    monkeypatch.setenv("FASHION_SEG_REMOTE_DIR", str(remote_dir))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)

    def invoke(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run(main, ["--quiet", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    invoke.remote_dir = remote_dir
    return invoke


def test_push_launch_watch_fetch(cli, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(
        "import pathlib, sys\n"
        "pathlib.Path('logs').mkdir(exist_ok=True)\n"
        "pathlib.Path('logs/mask_rcnn_fashion_0001.h5').write_bytes(b'weights')\n"
        "print('trained with', sys.argv[1:])\n"
    )
    code, out, _ = cli("push", "--local-dir", str(project))
    assert code == 0 and "1 file(s) sent" in out and (cli.remote_dir / "train.py").exists()
    assert "0 file(s) sent" in cli("push", "--local-dir", str(project))[1]

    code, out, err = cli("launch", "--follow", "--", sys.executable, "train.py", "--profile", "dgx; rm -rf /")
    assert code == 0, err
    assert out.startswith("launched job ") and "trained with ['--profile', 'dgx; rm -rf /']" in out
    job_id = out.split()[2]
    assert f"job {job_id}: exited 0" in err

    code, out, _ = cli("status")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["JOB", "STATE", "PID"]
    assert out.splitlines()[1].split()[:3] == [job_id, "exited", "0"]
    assert "state:      exited 0" in cli("status", job_id[:-2])[1]
    assert cli("logs")[1] == "trained with ['--profile', 'dgx; rm -rf /']\n"

    dest = tmp_path / "results"
    code, out, _ = cli("fetch", job_id, "--what", "checkpoints", "--dest", str(dest))
    assert code == 0 and (dest / "logs" / "mask_rcnn_fashion_0001.h5").read_bytes() == b"weights"
    code, out, _ = cli("fetch", "--what", "logs", "--dest", str(dest))
    assert (dest / ".fashion_seg" / "jobs" / job_id / "output.log").exists()


def test_stop_from_the_command_line(cli, tmp_path):
    cli.remote_dir.mkdir()
    code, out, _ = cli("launch", "--", "sleep", "300")
    job_id = out.split()[2]
    assert cli("status", job_id)[1].splitlines()[1] == "state:      running"
    code, out, _ = cli("stop", "--grace", "2")
    assert code == 0 and out == f"job {job_id}: terminated\n"
    assert cli("stop", job_id)[1] == f"job {job_id} is not running (stopped)\n"


def test_errors_are_one_line_and_exit_2(cli, tmp_path, monkeypatch):
    code, out, err = cli("logs")
    assert code == EXIT_USER_ERROR and err.startswith("error: no jobs under") and err.count("\n") == 1
    code, _, err = cli("launch", "--", "true")
    assert code == EXIT_USER_ERROR and "does not exist: run push first" in err
    monkeypatch.setenv("FASHION_SEG_KNOWN_HOSTS", str(tmp_path / "empty_known_hosts"))
    code, _, err = cli("status")
    assert code == EXIT_USER_ERROR and "is not in" in err and "--accept-new-host" in err and err.count("\n") == 1


def test_connection_flags_work_before_and_after_the_command(sshd):
    parser = build_parser()
    before = parser.parse_args(["--host", "h", "--port", "2222", "-i", "k", "status"])
    after = parser.parse_args(["status", "--host", "h", "--port", "2222", "-i", "k"])
    assert (before.host, before.port, before.identity) == (after.host, after.port, after.identity) == ("h", 2222, ["k"])
    tunnel = parser.parse_args(["--port", "2222", "tunnel", "--port", "6007"])
    assert (tunnel.port, tunnel.tensorboard_port) == (2222, 6007)
    with pytest.raises(SystemExit):
        parser.parse_args(["--password", "secret", "status"])  # there is deliberately no such flag


def test_the_script_runs_as_a_program(sshd, known_hosts, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "DGX_ssh_comm.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(sshd.port),
            "-i",
            str(sshd.client_key_path),
            "--known-hosts",
            str(known_hosts),
            "--ssh-config",
            "/dev/null",
            "--remote-dir",
            str(tmp_path),
            "status",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"no jobs in {tmp_path} on {getpass.getuser()}@127.0.0.1:{sshd.port}\n"


def test_the_tunnel_carries_http_to_a_remote_port(remote):
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"TensorBoard stand-in"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with PortForwarder(remote.transport, server.server_address[1], local_port=0).start() as forwarder:
            assert forwarder.remote_is_listening()
            for _ in range(2):  # two connections through the same tunnel
                with urllib.request.urlopen(f"http://127.0.0.1:{forwarder.local_port}/", timeout=10) as response:
                    assert response.read() == b"TensorBoard stand-in"
    finally:
        server.shutdown()
        server.server_close()
    with PortForwarder(remote.transport, server.server_address[1], local_port=0) as closed:
        assert not closed.remote_is_listening()
