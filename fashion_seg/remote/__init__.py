"""Remote training over SSH (paramiko): connect, push the project, launch and watch jobs, fetch results.

    from fashion_seg.remote import connect, resolve_target, push, launch, follow_log, fetch

    with connect(resolve_target("dgx")) as host:
        push(host, ".", "fashion_seg")
        job = launch(host, "fashion_seg", ["python", "train.py", "--profile", "dgx"])
        follow_log(host, job, sys.stdout.buffer.write)
        fetch(host, job, ".", "checkpoints")

The command-line front end is ``DGX_ssh_comm.py`` (:mod:`fashion_seg.remote.commands`).
"""

from .connection import RemoteHost, connect
from .docker import DockerOptions, docker_run_argv
from .fetch import fetch
from .jobs import JobRecord, JobStatus, find_job, follow_log, job_status, launch, list_jobs, read_log, stop
from .sync import push
from .target import SSHTarget, resolve_target
from .tunnel import PortForwarder

__all__ = [
    "DockerOptions",
    "JobRecord",
    "JobStatus",
    "PortForwarder",
    "RemoteHost",
    "SSHTarget",
    "connect",
    "docker_run_argv",
    "fetch",
    "find_job",
    "follow_log",
    "job_status",
    "launch",
    "list_jobs",
    "push",
    "read_log",
    "resolve_target",
    "stop",
]
