"""``python DGX_ssh_comm.py``: push the project to a GPU workstation, run training there, watch it, fetch results.

    python DGX_ssh_comm.py [CONNECTION FLAGS] COMMAND [FLAGS]

Connection flags may also follow the command (except ``--port`` after ``tunnel``, where it is the TensorBoard port).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import shlex
import sys
from typing import Sequence

from ..cli import setup_logging
from .connection import RemoteHost, connect
from .docker import DEFAULT_IMAGE, DockerOptions
from .fetch import WHAT_CHOICES, fetch
from .jobs import (
    DEFAULT_COMMAND,
    DEFAULT_DATA_DIR,
    DEFAULT_MODEL_DIR,
    DEFAULT_SUBMISSION,
    JobRecord,
    find_job,
    follow_log,
    job_status,
    launch,
    list_jobs,
    parse_env,
    read_log,
    stop,
)
from .sync import push
from .target import ENV_REMOTE_DIR, resolve_target
from .tunnel import PortForwarder

DEFAULT_REMOTE_DIR = "fashion_seg"
TENSORBOARD_PORT = 6006


def _add_connection_flags(parser: argparse.ArgumentParser, *, top_level: bool, with_port: bool = True) -> None:
    # On subcommands the defaults are suppressed, so a flag given before the command is not reset by the subparser.
    default = None if top_level else argparse.SUPPRESS
    group = parser.add_argument_group("connection (flags > FASHION_SEG_* variables > ~/.ssh/config)")
    group.add_argument(
        "--host", default=default, help="host name, address or ~/.ssh/config alias [FASHION_SEG_SSH_HOST]"
    )
    group.add_argument(
        "--user", default=default, help="remote user [FASHION_SEG_SSH_USER; ssh config User; local user]"
    )
    if with_port:
        group.add_argument(
            "--port", type=int, default=default, help="SSH port [FASHION_SEG_SSH_PORT; ssh config Port; 22]"
        )
    group.add_argument(
        "-i",
        "--identity",
        action="append",
        default=default,
        metavar="KEY",
        help="private key file, repeatable [FASHION_SEG_SSH_KEY; ssh config IdentityFile; ~/.ssh/id_*]; "
        "ssh-agent keys are tried too",
    )
    group.add_argument(
        "--remote-dir",
        default=default,
        help=f"project directory on the host, relative to its home [{ENV_REMOTE_DIR}; {DEFAULT_REMOTE_DIR}]",
    )
    group.add_argument(
        "--accept-new-host",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help="trust a host missing from known_hosts and record its key (a changed key is always refused)",
    )
    group.add_argument(
        "--known-hosts", default=default, help="known_hosts file [FASHION_SEG_KNOWN_HOSTS; ~/.ssh/known_hosts]"
    )
    group.add_argument(
        "--ssh-config", default=default, help="OpenSSH client config [FASHION_SEG_SSH_CONFIG; ~/.ssh/config]"
    )
    group.add_argument("--connect-timeout", type=float, default=default, help="seconds to wait for the host [15]")
    group.add_argument(
        "-q", "--quiet", action="store_true", default=False if top_level else argparse.SUPPRESS, help="no progress bars"
    )
    group.add_argument(
        "-v", "--verbose", action="store_true", default=False if top_level else argparse.SUPPRESS, help="debug logging"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="DGX_ssh_comm.py",
        description="Push the project to a remote GPU workstation over SSH, launch and watch training, fetch results.",
    )
    _add_connection_flags(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, with_port: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        _add_connection_flags(sub, top_level=False, with_port=with_port)
        return sub

    p = command("push", "sync the project tree to the remote directory (only changed files)")
    p.add_argument("--local-dir", default=".", help="project root to send [current directory]")
    p.add_argument(
        "--delete", action="store_true", help="remove remote files an earlier push sent that are gone locally"
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="extra gitignore-style pattern to leave out (repeatable)",
    )

    p = command("launch", "start a detached job in the remote directory: launch [--docker] -- CMD ...")
    p.add_argument("--docker", action="store_true", help="run the command in the GPU image (docker run -d --gpus ...)")
    p.add_argument("--image", default=DEFAULT_IMAGE, help=f"image for --docker [{DEFAULT_IMAGE}]")
    p.add_argument("--gpus", default="all", help="docker --gpus value [all]")
    p.add_argument("--shm-size", default="16g", help="docker --shm-size [16g]")
    p.add_argument("--docker-bin", default="docker", help="docker client on the host (e.g. podman) [docker]")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="environment variable for the job")
    p.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"remote data directory, mounted at /data with --docker [{DEFAULT_DATA_DIR}]",
    )
    p.add_argument(
        "--model-dir",
        default=DEFAULT_MODEL_DIR,
        help=f"where the job writes checkpoints (fetch --what checkpoints; /logs with --docker) [{DEFAULT_MODEL_DIR}]",
    )
    p.add_argument(
        "--submission", default=DEFAULT_SUBMISSION, help=f"submission file the job writes [{DEFAULT_SUBMISSION}]"
    )
    p.add_argument("--follow", action="store_true", help="stream the job's output until it ends")
    p.add_argument(
        "job_command", nargs=argparse.REMAINDER, metavar="-- CMD", help=f"command to run [{' '.join(DEFAULT_COMMAND)}]"
    )

    p = command("status", "state of one job, or a table of all jobs")
    p.add_argument("job", nargs="?", help="job id or unique prefix [all jobs]")

    p = command("logs", "print a job's output")
    p.add_argument("job", nargs="?", help="job id or unique prefix [latest]")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between reads with --follow [1]")

    p = command("fetch", "copy a job's checkpoints, logs and/or submission here (resumable)")
    p.add_argument("job", nargs="?", help="job id or unique prefix [latest]")
    p.add_argument("--what", choices=WHAT_CHOICES, default="all", help="what to fetch [all]")
    p.add_argument("--dest", default=".", help="local target directory; remote paths are mirrored under it [.]")
    p.add_argument("--model-dir", help="override the job's recorded checkpoint directory")
    p.add_argument("--submission", help="override the job's recorded submission file")

    p = command("stop", "stop a job: SIGTERM to its process group (and docker stop), SIGKILL after --grace seconds")
    p.add_argument("job", nargs="?", help="job id or unique prefix [latest]")
    p.add_argument("--grace", type=int, default=10, help="seconds between SIGTERM and SIGKILL [10]")

    p = command("tunnel", "forward the remote TensorBoard port to localhost (Ctrl-C to stop)", with_port=False)
    p.add_argument(
        "--port",
        type=int,
        dest="tensorboard_port",
        default=TENSORBOARD_PORT,
        help=f"remote TensorBoard port [{TENSORBOARD_PORT}]",
    )
    p.add_argument("--local-port", type=int, help="local port [same as --port]")
    p.add_argument(
        "--ssh-port", type=int, dest="port", default=argparse.SUPPRESS, help="SSH port, when given after 'tunnel'"
    )
    return parser


def _connect(args: argparse.Namespace) -> RemoteHost:
    target = resolve_target(
        args.host,
        user=args.user,
        port=args.port,
        identity=args.identity,
        known_hosts=args.known_hosts,
        ssh_config=args.ssh_config,
        accept_new_host=args.accept_new_host,
        connect_timeout=args.connect_timeout,
    )
    return connect(target, prompt=getpass.getpass if sys.stdin.isatty() else None)


def _write_bytes(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def _status_table(host: RemoteHost, records: list[JobRecord]) -> str:
    rows = [("JOB", "STATE", "PID", "STARTED (UTC)", "COMMAND")]
    for status in job_status(host, records):
        record = status.record
        command = shlex.join(record.command)
        rows.append(
            (
                record.id,
                status.describe(),
                str(record.pid),
                record.started_at.replace("+00:00", ""),
                ("[docker] " if record.docker else "") + (command if len(command) <= 60 else command[:57] + "..."),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4] for row in rows)


def _describe(status) -> str:
    record = status.record
    lines = [
        f"job:        {record.id}",
        f"state:      {status.describe()}",
        f"command:    {shlex.join(record.command)}",
        f"started:    {record.started_at}",
        f"pid/pgid:   {record.pid}",
        f"directory:  {record.work_dir}",
        f"log:        {record.log_path}",
        f"checkpoints: {record.model_dir}   submission: {record.submission}",
    ]
    if record.docker:
        lines.append(f"container:  {record.docker['container']} ({record.docker['image']})")
    return "\n".join(lines)


def _run_push(host: RemoteHost, args: argparse.Namespace) -> int:
    report = push(
        host, args.local_dir, args.remote_dir, delete=args.delete, excludes=args.exclude, progress=args.progress
    )
    print(report.summary())
    return 0


def _run_launch(host: RemoteHost, args: argparse.Namespace) -> int:
    command = list(args.job_command)
    if command[:1] == ["--"]:
        command = command[1:]
    docker = None
    if args.docker:
        docker = DockerOptions(image=args.image, gpus=args.gpus, shm_size=args.shm_size, docker_bin=args.docker_bin)
    record = launch(
        host,
        args.remote_dir,
        command or list(DEFAULT_COMMAND),
        env=parse_env(args.env),
        docker=docker,
        data_dir=args.data_dir,
        model_dir=args.model_dir,
        submission=args.submission,
    )
    print(f"launched job {record.id} (pid {record.pid}) on {host.target}: {shlex.join(record.command)}")
    print(f"log: {record.log_path}")
    if not args.follow:
        return 0
    final = follow_log(host, record, _write_bytes)
    print(f"job {record.id}: {final.describe()}", file=sys.stderr)
    return 0 if final.state == "exited" and final.exit_code == 0 else 1


def _run_status(host: RemoteHost, args: argparse.Namespace) -> int:
    if args.job is not None:
        print(_describe(job_status(host, [find_job(host, args.remote_dir, args.job)])[0]))
        return 0
    records = list_jobs(host, args.remote_dir)
    print(_status_table(host, records) if records else f"no jobs in {host.resolve(args.remote_dir)} on {host.target}")
    return 0


def _run_logs(host: RemoteHost, args: argparse.Namespace) -> int:
    record = find_job(host, args.remote_dir, args.job)
    if args.follow:
        final = follow_log(host, record, _write_bytes, poll_seconds=args.poll)
        print(f"job {record.id}: {final.describe()}", file=sys.stderr)
    else:
        _write_bytes(read_log(host, record))
    return 0


def _run_fetch(host: RemoteHost, args: argparse.Namespace) -> int:
    record = find_job(host, args.remote_dir, args.job)
    report = fetch(
        host, record, args.dest, args.what, model_dir=args.model_dir, submission=args.submission, progress=args.progress
    )
    print(report.summary())
    return 0


def _run_stop(host: RemoteHost, args: argparse.Namespace) -> int:
    record = find_job(host, args.remote_dir, args.job)
    status = job_status(host, [record])[0]
    if status.state != "running":
        print(f"job {record.id} is not running ({status.describe()})")
        return 0
    print(f"job {record.id}: {stop(host, record, grace_seconds=args.grace)}")
    return 0


def _run_tunnel(host: RemoteHost, args: argparse.Namespace) -> int:
    remote_port = args.tensorboard_port
    local_port = args.local_port if args.local_port is not None else remote_port
    with PortForwarder(host.transport, remote_port, local_port) as forwarder:
        if not forwarder.remote_is_listening():
            print(
                f"warning: nothing listens on port {remote_port} on {host.target.hostname} yet; start TensorBoard "
                f"there, e.g. DGX_ssh_comm.py launch -- tensorboard --logdir {DEFAULT_MODEL_DIR} --port {remote_port}",
                file=sys.stderr,
            )
        print(f"TensorBoard of {host.target.hostname}: http://127.0.0.1:{forwarder.local_port}  (Ctrl-C to stop)")
        try:
            forwarder.serve_forever()
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a tunnel ends
    return 0


COMMANDS = {
    "push": _run_push,
    "launch": _run_launch,
    "status": _run_status,
    "logs": _run_logs,
    "fetch": _run_fetch,
    "stop": _run_stop,
    "tunnel": _run_tunnel,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if not args.verbose:
        logging.getLogger("paramiko").setLevel(logging.WARNING)
    args.remote_dir = args.remote_dir or os.environ.get(ENV_REMOTE_DIR) or DEFAULT_REMOTE_DIR
    args.progress = not args.quiet
    with _connect(args) as host:
        return COMMANDS[args.command](host, args)
