"""An authenticated SSH connection to the training host: run commands, use SFTP.

Authentication tries, in order: the identity files of the :class:`SSHTarget`, the keys of a running ssh-agent, and
-- only when an interactive ``prompt`` is available -- a password typed at that prompt. There is no other way to give a
password: not a flag, not an environment variable, not a file.

Every remote command is built from a list of arguments, each quoted with :func:`shlex.quote`; shell scripts are
constant strings that receive all variable values as positional parameters (``sh -c SCRIPT sh ARG...``), so no file
name, job id or user argument is ever interpreted by the remote shell. The remote login shell must be POSIX-like
(sh, bash, dash, zsh).
"""

from __future__ import annotations

import logging
import posixpath
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import paramiko
from paramiko.auth_strategy import AuthStrategy, InMemoryPrivateKey, OnDiskPrivateKey, Password

from ..errors import RemoteError
from .host_keys import KnownHostsPolicy, changed_key_error
from .target import SSHTarget

log = logging.getLogger(__name__)


class _TransportErrorsToDebug(logging.Filter):
    """paramiko's transport thread logs each failure it meets at ERROR, its traceback line by line, and then hands
    the failure to the calling thread, where :func:`connect` and :meth:`RemoteHost.run` report it as one
    :class:`RemoteError`. Its ERROR records are demoted to DEBUG: shown with ``-v``, never as a second report."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("paramiko.transport").addFilter(_TransportErrorsToDebug())

Prompt = Callable[[str], str]


def load_private_key(path: Path, prompt: Prompt | None) -> paramiko.PKey:
    """Read a private key file, asking for its passphrase at ``prompt`` if it is encrypted."""
    try:
        return paramiko.PKey.from_path(path)
    except (TypeError, paramiko.PasswordRequiredException):
        pass  # encrypted: cryptography raises TypeError when no password is given
    except OSError as error:
        raise RemoteError(f"cannot read private key {path}: {error.strerror or error}") from None
    except (ValueError, paramiko.SSHException):
        hint = "it is the public half: give the file without .pub" if path.suffix == ".pub" else \
            "expected an OpenSSH or PEM private key (ssh-keygen makes one)"
        raise RemoteError(f"{path} is not a private key: {hint}") from None
    if prompt is None:
        raise RemoteError(
            f"private key {path} is encrypted: run interactively to type its passphrase, or load it into ssh-agent "
            f"(ssh-add {path})"
        )
    try:
        return paramiko.PKey.from_path(path, prompt(f"Passphrase for key {path}: ").encode("utf-8"))
    except (TypeError, ValueError, paramiko.SSHException):
        raise RemoteError(f"wrong passphrase for private key {path}") from None


class KeysAgentPassword(AuthStrategy):
    """Identity files, then ssh-agent keys, then (interactive only) a password, stopping at the first success."""

    def __init__(self, target: SSHTarget, prompt: Prompt | None):
        super().__init__(ssh_config=None)
        self.target = target
        self.prompt = prompt
        self.tried: list[str] = []
        self._agent: paramiko.Agent | None = None

    def get_sources(self) -> Iterator:
        user = self.target.user
        for path in self.target.identity_files:
            self.tried.append(f"key {path}")
            yield OnDiskPrivateKey(user, "python-config", path, load_private_key(path, self.prompt))
        if self.target.use_agent:
            self._agent = paramiko.Agent()
            keys = self._agent.get_keys()
            if keys:
                self.tried.append(f"{len(keys)} ssh-agent key(s)")
            for key in keys:
                yield InMemoryPrivateKey(user, key)
        if self.prompt is not None:
            self.tried.append("a password")
            yield Password(user, lambda: self.prompt(f"{self.target}'s password: "))

    def close(self) -> None:
        if self._agent is not None:
            self._agent.close()


@dataclass(frozen=True)
class CommandResult:
    """Exit status and decoded output of one remote command."""

    exit_status: int
    stdout: str
    stderr: str


def shell_script(script: str, *args: str) -> str:
    """The command line ``sh -c SCRIPT fashion-seg ARG...``; inside the script the values are ``$1``, ``$2`` ..."""
    return shlex.join(["sh", "-c", script, "fashion-seg", *map(str, args)])


class RemoteHost:
    """An open connection to one host. Use as a context manager, or call :meth:`close`."""

    def __init__(self, client: paramiko.SSHClient, target: SSHTarget):
        self.client = client
        self.target = target
        self._sftp: paramiko.SFTPClient | None = None
        self._home: str | None = None

    @property
    def transport(self) -> paramiko.Transport:
        return self.client.get_transport()

    @property
    def sftp(self) -> paramiko.SFTPClient:
        """One SFTP session, opened on first use and kept for the life of the connection."""
        if self._sftp is None:
            try:
                self._sftp = self.client.open_sftp()
            except paramiko.SSHException as error:
                raise RemoteError(
                    f"{self.target} refused an SFTP session ({error}); is the sftp Subsystem enabled in its "
                    "sshd_config?"
                ) from None
        return self._sftp

    def home(self) -> str:
        """The remote user's home directory, where SFTP and commands start."""
        if self._home is None:
            self._home = self.sftp.normalize(".")
        return self._home

    def resolve(self, path: str) -> str:
        """An absolute remote path: ``~/x`` and relative paths are taken from the remote home directory."""
        if path == "~" or path.startswith("~/"):
            path = path[2:]
        return posixpath.normpath(posixpath.join(self.home(), path))

    def run(self, command: str | Sequence[str], *, check: bool = True, timeout: float | None = 120) -> CommandResult:
        """Run a command (a list of arguments, quoted here, or a ready command line) and collect its output."""
        line = command if isinstance(command, str) else shlex.join(command)
        try:
            channel = self.transport.open_session(timeout=timeout)
            channel.settimeout(timeout)
            channel.exec_command(line)
            stdout = channel.makefile("rb").read()
            stderr = channel.makefile_stderr("rb").read()
            status = channel.recv_exit_status()
        except (socket.timeout, TimeoutError):
            raise RemoteError(f"remote command timed out after {timeout} s on {self.target}: {line[:200]}") from None
        except (paramiko.SSHException, EOFError, OSError) as error:
            raise RemoteError(f"lost the connection to {self.target} while running a command: {error}") from None
        result = CommandResult(status, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))
        if check and status != 0:
            detail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no error output"
            raise RemoteError(f"remote command failed with exit status {status} on {self.target}: {detail}")
        return result

    def run_script(self, script: str, *args: str, check: bool = True, timeout: float | None = 120) -> CommandResult:
        """Run a constant POSIX sh script with ``args`` as its positional parameters."""
        return self.run(shell_script(script, *args), check=check, timeout=timeout)

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        self.client.close()

    def __enter__(self) -> "RemoteHost":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def connect(target: SSHTarget, *, prompt: Prompt | None = None) -> RemoteHost:
    """Open and authenticate a connection; every failure becomes a one-line :class:`RemoteError`.

    ``prompt`` (e.g. :func:`getpass.getpass`, only when a terminal is attached) is used for key passphrases and, after
    the keys have failed, for a password.
    """
    client = paramiko.SSHClient()
    if target.known_hosts.exists():
        try:
            client.load_host_keys(str(target.known_hosts))
        except (OSError, paramiko.SSHException) as error:
            raise RemoteError(f"cannot read known_hosts file {target.known_hosts}: {error}") from None
    client.set_missing_host_key_policy(KnownHostsPolicy(target.known_hosts, target.accept_new_host))
    strategy = KeysAgentPassword(target, prompt)
    where = f"{target.hostname}:{target.port}"
    try:
        client.connect(
            target.hostname,
            port=target.port,
            username=target.user,
            timeout=target.connect_timeout,
            banner_timeout=target.connect_timeout,
            auth_timeout=target.connect_timeout,
            auth_strategy=strategy,
        )
    except RemoteError:
        client.close()
        raise
    except BaseException as error:
        client.close()
        raise _connection_error(error, target, strategy, where) from None
    finally:
        strategy.close()
    client.get_transport().set_keepalive(target.keepalive)
    log.debug("connected to %s", target)
    return RemoteHost(client, target)


def _connection_error(
    error: BaseException, target: SSHTarget, strategy: KeysAgentPassword, where: str
) -> BaseException:
    if isinstance(error, socket.gaierror):
        return RemoteError(
            f"cannot resolve host name {target.hostname!r} ({error.strerror}); check --host, "
            f"FASHION_SEG_SSH_HOST or the HostName of {target.alias!r} in ~/.ssh/config"
        )
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        return RemoteError(f"connection refused by {where}: is sshd running there, and is the port (--port) right?")
    if isinstance(error, (socket.timeout, TimeoutError)):
        return RemoteError(
            f"timed out after {target.connect_timeout:g} s connecting to {where}: is the host up and reachable "
            f"(VPN, firewall)?"
        )
    if isinstance(error, paramiko.BadHostKeyException):
        return changed_key_error(target.known_hosts_name, target.known_hosts, error)
    if isinstance(error, paramiko.AuthenticationException):
        tried = ", ".join(strategy.tried) or "nothing (no key files given or found, no ssh-agent keys)"
        return RemoteError(
            f"authentication failed for {target}: tried {tried}; pass the right key with --identity, or add "
            f"your public key to ~{target.user}/.ssh/authorized_keys on the host"
        )
    if isinstance(error, paramiko.SSHException):
        # A server that hangs up instead of greeting (paramiko keeps the reason as the context of its error), or
        # that answers in another protocol.
        hung_up = isinstance(error.__context__, (EOFError, ConnectionError))
        if hung_up or "Indecipherable protocol version" in str(error):
            how = "hung up without an SSH greeting" if hung_up else f"answered in another protocol ({error})"
            return RemoteError(f"{where} is not an SSH server: it {how}; check --port and --host")
        # A silent server shows up as a banner timeout, or as the negotiation giving up ("No existing session").
        if any(text in str(error) for text in ("banner", "No existing session", "Negotiation timed out")):
            return RemoteError(
                f"timed out after {target.connect_timeout:g} s waiting for the SSH greeting from {where}: is that "
                f"port really an SSH server?"
            )
        return RemoteError(f"SSH negotiation with {where} failed: {error}")
    if isinstance(error, OSError):
        return RemoteError(f"cannot connect to {where}: {error.strerror or error}")
    return error
