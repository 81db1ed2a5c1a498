"""Connecting: where the settings come from, host-key checking, authentication, and one-line errors."""

from __future__ import annotations

import dataclasses
import logging
import socket
import subprocess
import threading
from pathlib import Path

import paramiko
import pytest

from fashion_seg.errors import RemoteError
from fashion_seg.remote.connection import connect
from fashion_seg.remote.target import resolve_target


def test_flags_beat_environment_beat_ssh_config(tmp_path):
    key_a, key_b, key_c = (tmp_path / name for name in ("a", "b", "c"))
    for key in (key_a, key_b, key_c):
        key.write_text("not read here")
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host dgx\n  HostName dgx-station.example.org\n  User trainer\n  Port 2200\n  IdentityFile {key_c}\n"
        "  ServerAliveInterval 7\n"
    )

    from_config = resolve_target("dgx", ssh_config=config, environ={})
    assert (from_config.hostname, from_config.user, from_config.port) == ("dgx-station.example.org", "trainer", 2200)
    assert from_config.identity_files == (key_c,) and from_config.keepalive == 7
    assert from_config.known_hosts_name == "[dgx-station.example.org]:2200"

    env = {
        "FASHION_SEG_SSH_HOST": "dgx",
        "FASHION_SEG_SSH_USER": "envuser",
        "FASHION_SEG_SSH_PORT": "2201",
        "FASHION_SEG_SSH_KEY": str(key_b),
        "FASHION_SEG_SSH_CONFIG": str(config),
    }
    from_env = resolve_target(None, environ=env)
    assert (from_env.hostname, from_env.user, from_env.port, from_env.identity_files) == (
        "dgx-station.example.org",
        "envuser",
        2201,
        (key_b,),
    )

    from_flags = resolve_target("dgx", user="flaguser", port=22, identity=[key_a], environ=env)
    assert (from_flags.user, from_flags.port, from_flags.identity_files) == ("flaguser", 22, (key_a,))
    assert from_flags.known_hosts_name == "dgx-station.example.org"


@pytest.mark.parametrize(
    "kwargs, env, message",
    [
        ({}, {}, "no remote host given"),
        ({"host": "h", "port": "ssh"}, {}, "--port='ssh' is not a port number"),
        ({"host": "h"}, {"FASHION_SEG_SSH_PORT": "70000"}, "FASHION_SEG_SSH_PORT=70000 is outside"),
        ({"host": "h", "identity": "/nonexistent/key"}, {}, "identity file /nonexistent/key does not exist"),
        ({"host": "h", "ssh_config": "/nonexistent/config"}, {}, "ssh config file /nonexistent/config does not exist"),
    ],
)
def test_bad_settings_are_named_in_the_error(kwargs, env, message):
    with pytest.raises(RemoteError, match=message.replace("(", r"\(")):
        resolve_target(environ=env, **kwargs)


def test_a_proxy_in_the_ssh_config_is_refused_with_a_way_out(tmp_path):
    config = tmp_path / "config"
    config.write_text("Host inside\n  ProxyJump bastion\n")
    with pytest.raises(RemoteError, match="proxyjump.*not support"):
        resolve_target("inside", ssh_config=config, environ={})


def test_an_unknown_host_is_refused(sshd, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    with pytest.raises(RemoteError) as error:
        connect(sshd.target(known_hosts))
    message = str(error.value)
    assert f"host [127.0.0.1]:{sshd.port} is not in {known_hosts}" in message
    assert sshd.host_key.fingerprint in message and "--accept-new-host" in message
    assert not known_hosts.exists()


def test_accept_new_host_records_the_key_and_later_connections_use_it(sshd, tmp_path):
    known_hosts = tmp_path / ".ssh" / "known_hosts"
    with connect(sshd.target(known_hosts, accept_new_host=True)) as host:
        assert host.run(["echo", "hello"]).stdout == "hello\n"
    recorded = paramiko.HostKeys(str(known_hosts))
    assert recorded.lookup(f"[127.0.0.1]:{sshd.port}")["ssh-ed25519"] == sshd.host_key
    assert known_hosts.stat().st_mode & 0o777 == 0o600
    with connect(sshd.target(known_hosts)) as host:  # now known: no flag needed
        assert host.run(["true"]).exit_status == 0


def test_a_changed_host_key_is_always_refused(sshd, tmp_path):
    impostor = paramiko.Ed25519Key.from_private_key_file(str(_keygen(tmp_path / "other")))
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {impostor.get_base64()}\n")
    for accept_new_host in (False, True):
        with pytest.raises(RemoteError, match="HOST KEY CHANGED") as error:
            connect(sshd.target(known_hosts, accept_new_host=accept_new_host))
        assert impostor.fingerprint in str(error.value) and sshd.host_key.fingerprint in str(error.value)
        assert "ssh-keygen -R" in str(error.value)
    assert known_hosts.read_text().count("\n") == 1


def _keygen(path: Path, passphrase: str = "") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True)
    return path


def test_a_wrong_key_gives_an_authentication_error(sshd, known_hosts, tmp_path):
    wrong = _keygen(tmp_path / "wrong_key")
    with pytest.raises(RemoteError) as error:
        connect(sshd.target(known_hosts, identity=wrong))
    assert str(error.value).startswith("authentication failed for")
    assert f"tried key {wrong}" in str(error.value) and "\n" not in str(error.value)


def test_a_password_is_asked_only_after_the_keys_fail(sshd, known_hosts, tmp_path):
    asked = []

    def prompt(text):
        asked.append(text)
        return "not-the-password"

    with connect(sshd.target(known_hosts), prompt=prompt):
        assert asked == []
    with pytest.raises(RemoteError, match="tried key .*, a password"):
        connect(sshd.target(known_hosts, identity=_keygen(tmp_path / "wrong")), prompt=prompt)
    assert asked == [f"{sshd.target(known_hosts).user}@127.0.0.1:{sshd.port}'s password: "]


def test_an_encrypted_key_asks_for_its_passphrase(sshd, known_hosts, tmp_path):
    key = _keygen(tmp_path / "locked", passphrase="open sesame")
    with (sshd.directory / "authorized_keys").open("a") as authorized:
        authorized.write(Path(f"{key}.pub").read_text())
    with pytest.raises(RemoteError, match="is encrypted: run interactively"):
        connect(sshd.target(known_hosts, identity=key))
    with connect(sshd.target(known_hosts, identity=key), prompt=lambda text: "open sesame") as host:
        assert host.run(["echo", "in"]).stdout == "in\n"
    with pytest.raises(RemoteError, match="wrong passphrase"):
        connect(sshd.target(known_hosts, identity=key), prompt=lambda text: "wrong")


def test_a_refused_connection(sshd, known_hosts):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    target = dataclasses.replace(sshd.target(known_hosts), port=closed_port)
    with pytest.raises(RemoteError, match=f"connection refused by 127.0.0.1:{closed_port}"):
        connect(target)


def test_an_unknown_host_name(sshd, known_hosts):
    target = dataclasses.replace(sshd.target(known_hosts), hostname="no-such-host.invalid")
    with pytest.raises(RemoteError, match="cannot resolve host name 'no-such-host.invalid'"):
        connect(target)


def test_a_server_that_never_speaks_ssh_times_out(sshd, known_hosts):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
    target = dataclasses.replace(sshd.target(known_hosts), port=silent.getsockname()[1], connect_timeout=0.5)
    try:
        with pytest.raises(RemoteError, match="timed out after 0.5 s waiting for the SSH greeting"):
            connect(target)
    finally:
        for connection, _ in accepted:
            connection.close()
        silent.close()


def test_a_server_of_another_protocol_is_one_error_and_no_paramiko_traceback(sshd, known_hosts, caplog):
    """An HTTP-like server that answers and hangs up: paramiko's transport thread logs the failure with its traceback
    at ERROR; that log is demoted to DEBUG, so only the RemoteError reports it."""
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen()

    def answer_and_hang_up():
        connection, _ = other.accept()
        connection.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
        connection.shutdown(socket.SHUT_RDWR)
        connection.close()

    threading.Thread(target=answer_and_hang_up, daemon=True).start()
    port = other.getsockname()[1]
    target = dataclasses.replace(sshd.target(known_hosts), port=port, connect_timeout=5)
    try:
        with caplog.at_level(logging.INFO), pytest.raises(RemoteError, match=f"127.0.0.1:{port} is not an SSH "
                                                                              "server.*check --port"):
            connect(target)
    finally:
        other.close()
    assert [r for r in caplog.records if r.name.startswith("paramiko") and r.levelno >= logging.ERROR] == []
    with caplog.at_level(logging.DEBUG, logger="paramiko"):
        logging.getLogger("paramiko.transport").error("Traceback (most recent call last):")
    assert caplog.records[-1].levelname == "DEBUG"


def test_commands_and_paths(remote):
    assert remote.resolve("~/x/../y") == str(Path.home() / "y")
    assert remote.resolve("/abs/path") == "/abs/path"
    result = remote.run_script('printf "%s|" "$@"', "a b", "$(touch pwned)", "'quoted'")
    assert result.stdout == "a b|$(touch pwned)|'quoted'|"
    with pytest.raises(RemoteError, match="exit status 7.*went wrong"):
        remote.run_script("echo went wrong >&2; exit 7")
    assert remote.run(["sh", "-c", "exit 3"], check=False).exit_status == 3
    assert remote.transport.is_active()
