"""DGX_ssh_comm.py against a real sshd (the remote tests' server on 127.0.0.1) with bad keys and host keys, and job
commands with nothing to act on: one ``error:`` line naming the file, host or value, exit code 2, and the user's files
left as they were."""

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
    return ["--identity", folder / "key", "status"]


def missing_identity(folder, sshd):
    return ["--identity", folder / "no_such_key", "status"]


def public_key_as_identity(folder, sshd):
    (folder / "key.pub").write_bytes(sshd.client_key_path.with_suffix(".pub").read_bytes())
    return ["--identity", folder / "key.pub", "status"]


def unknown_host(folder, sshd):
    (folder / "known_hosts").write_text("")
    return ["--identity", sshd.client_key_path, "status"]


def known_hosts_is_a_directory(folder, sshd):
    (folder / "known_hosts").unlink()
    (folder / "known_hosts").mkdir()
    return ["--identity", sshd.client_key_path, "status"]


def job_command(*command):
    """A command about jobs in an empty remote project folder."""
    def spoil(folder, sshd):
        return ["--identity", sshd.client_key_path, "--remote-dir", folder / "remote_project", *command]
    return spoil


def push_missing_folder(folder, sshd):
    return ["--identity", sshd.client_key_path, "--remote-dir", folder / "remote_project", "push", "--local-dir",
            folder / "no_such_project"]


CASES = {
    "identity-is-not-a-key": (spoil_identity, ["{folder}/key is not a private key: expected an OpenSSH or PEM"]),
    "identity-does-not-exist": (missing_identity, ["{folder}/no_such_key"]),
    "identity-is-a-public-key": (public_key_as_identity,
                                 ["{folder}/key.pub is not a private key: it is the public half"]),
    "host-not-in-known-hosts": (unknown_host, ["is not in", "--accept-new-host"]),
    "known-hosts-is-a-directory": (known_hosts_is_a_directory, ["{folder}/known_hosts"]),
    "logs-of-no-job": (job_command("logs"), ["no jobs under {folder}/remote_project"]),
    "stop-with-no-job": (job_command("stop", "nosuchjob"), ["no jobs under {folder}/remote_project"]),
    "fetch-with-no-job": (job_command("fetch", "nosuchjob"), ["no jobs under {folder}/remote_project"]),
    "launch-env-without-value": (job_command("launch", "--env", "NOVALUE", "--", "true"), ["NOVALUE"]),
    "push-a-missing-folder": (push_missing_folder, ["{folder}/no_such_project"]),
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
            *spoil(folder, sshd)]
    before = file_hashes(tmp_path)
    code, stdout, stderr = invoke("remote", argv)
    assert code == 2, (stdout, stderr)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    for text in says:
        assert text.format(folder=folder) in errors[0], errors[0]
    assert file_hashes(tmp_path) == before
