"""DGX_ssh_comm.py against a real sshd (the remote tests' server on 127.0.0.1) with bad keys and host keys: one
``error:`` line naming the file or host, exit code 2, and the user's files left as they were."""

from __future__ import annotations

import getpass
import importlib.util
import sys

import pytest

from .conftest import REPO, file_hashes, invoke

_spec = importlib.util.spec_from_file_location("remote_fixtures", REPO / "tests" / "remote" / "conftest.py")
_remote = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _remote  # dataclasses look their module up there
_spec.loader.exec_module(_remote)
sshd = _remote.sshd
known_hosts = _remote.known_hosts


def spoil_identity(folder, sshd):
    (folder / "key").write_text("this is not a private key\n")
    return ["--identity", folder / "key"]


def missing_identity(folder, sshd):
    return ["--identity", folder / "no_such_key"]


def public_key_as_identity(folder, sshd):
    (folder / "key.pub").write_bytes(sshd.client_key_path.with_suffix(".pub").read_bytes())
    return ["--identity", folder / "key.pub"]


def unknown_host(folder, sshd):
    (folder / "known_hosts").write_text("")
    return ["--identity", sshd.client_key_path]


def known_hosts_is_a_directory(folder, sshd):
    (folder / "known_hosts").unlink()
    (folder / "known_hosts").mkdir()
    return ["--identity", sshd.client_key_path]


CASES = {
    "identity-is-not-a-key": (spoil_identity, ["{folder}/key is not a private key: expected an OpenSSH or PEM"]),
    "identity-does-not-exist": (missing_identity, ["{folder}/no_such_key"]),
    "identity-is-a-public-key": (public_key_as_identity,
                                 ["{folder}/key.pub is not a private key: it is the public half"]),
    "host-not-in-known-hosts": (unknown_host, ["is not in", "--accept-new-host"]),
    "known-hosts-is-a-directory": (known_hosts_is_a_directory, ["{folder}/known_hosts"]),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_key_or_host_key(name, sshd, known_hosts, tmp_path):
    spoil, says = CASES[name]
    folder = tmp_path / "client"
    folder.mkdir()
    (folder / "ssh_config").write_text("")
    (folder / "known_hosts").write_bytes(known_hosts.read_bytes())
    argv = ["--host", "127.0.0.1", "--port", sshd.port, "--user", getpass.getuser(), "--ssh-config",
            folder / "ssh_config", "--known-hosts", folder / "known_hosts", "--connect-timeout", 10,
            *spoil(folder, sshd), "status"]
    before = file_hashes(tmp_path)
    code, stdout, stderr = invoke("remote", argv)
    assert code == 2, (stdout, stderr)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    for text in says:
        assert text.format(folder=folder) in errors[0], errors[0]
    assert file_hashes(tmp_path) == before
