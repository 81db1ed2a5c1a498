"""A real OpenSSH server on 127.0.0.1 for the remote-job tests, and keys and known_hosts to talk to it.

The server runs as the current user with its own host key, its own authorized_keys and its own pid file, all in a
temporary directory; it is stopped by the PID in its pid file. The "remote host" is therefore this machine: remote
directories are temporary paths and jobs are small shell or Python commands.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from fashion_seg.remote.connection import RemoteHost, connect
from fashion_seg.remote.host_keys import append_known_host
from fashion_seg.remote.target import SSHTarget

SSHD = Path("/usr/sbin/sshd")


@dataclass(frozen=True)
class SSHServer:
    port: int
    host_key: paramiko.PKey
    client_key_path: Path
    directory: Path

    def target(self, known_hosts: Path, *, identity: Path | None = None, accept_new_host: bool = False) -> SSHTarget:
        return SSHTarget(
            alias="127.0.0.1",
            hostname="127.0.0.1",
            port=self.port,
            user=getpass.getuser(),
            identity_files=(identity or self.client_key_path,),
            known_hosts=known_hosts,
            accept_new_host=accept_new_host,
            connect_timeout=10,
            use_agent=False,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _new_key(path: Path) -> paramiko.PKey:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return paramiko.PKey.from_path(path)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory, missing) -> SSHServer:
    if not SSHD.exists():
        missing(f"{SSHD} is missing: install openssh-server (.ci/run does) to run the remote-job tests")
    directory = tmp_path_factory.mktemp("sshd")
    try:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    except PermissionError:
        missing("cannot create /run/sshd (needs root once: sudo mkdir -p -m 0755 /run/sshd)")
    host_key = _new_key(directory / "ssh_host_ed25519_key")
    _new_key(directory / "client_key")
    (directory / "authorized_keys").write_text((directory / "client_key.pub").read_text())
    port = _free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {directory / 'ssh_host_ed25519_key'}\n"
        f"PidFile {directory / 'sshd.pid'}\nAuthorizedKeysFile {directory / 'authorized_keys'}\n"
        "StrictModes no\nSubsystem sftp internal-sftp\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nMaxStartups 50\nMaxSessions 50\nLogLevel ERROR\n"
    )
    log = (directory / "sshd.log").open("wb")
    process = subprocess.Popen([str(SSHD), "-f", str(config), "-D", "-e"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = (directory / "sshd.log").read_text(errors="replace")
                if os.geteuid() != 0:
                    missing(f"sshd does not start as a non-root user here: {output.strip()[-300:]}")
                raise RuntimeError(f"sshd did not start: {output}")
            time.sleep(0.05)
    yield SSHServer(port, host_key, directory / "client_key", directory)
    pid_file = directory / "sshd.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else process.pid
    os.kill(pid, signal.SIGTERM)
    process.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def known_hosts(sshd, tmp_path_factory) -> Path:
    """A known_hosts file that already trusts the test server's host key."""
    path = tmp_path_factory.mktemp("client") / "known_hosts"
    append_known_host(path, f"[127.0.0.1]:{sshd.port}", sshd.host_key)
    return path


@pytest.fixture(scope="session")
def target(sshd, known_hosts) -> SSHTarget:
    return sshd.target(known_hosts)


@pytest.fixture(scope="module")
def remote(target) -> RemoteHost:
    """One connection shared by the tests of a module; each test works in its own remote directory."""
    with connect(target) as host:
        yield host
