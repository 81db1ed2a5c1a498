"""Run a ``workload.py`` task under real matterport in the reference environment, as a subprocess.

    from matterport.runner import run_workload   # with benchmarks/ on sys.path
    result = run_workload("detect", config={...}, weights="w.h5", data="images.npz", repeats=3)

The environment is built by ``setup_env.py``; without it a clear error says how to build it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from .setup_env import ENV_DIR, env_python, is_built

WORKLOAD = Path(__file__).resolve().parent / "workload.py"
MARKER = "WORKLOAD_RESULT "


class ReferenceUnavailable(RuntimeError):
    """The reference environment is not built."""


def available(env_dir: Path = ENV_DIR) -> bool:
    return is_built(env_dir)


# What the reference process inherits: TensorFlow 2 in the calling process sets TF2_BEHAVIOR=1 (which turns eager
# execution on in TF 1.15), and OpenCV sets LD_LIBRARY_PATH to its own libraries, so the rest is left behind.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "OMP_NUM_THREADS")


def clean_environment() -> dict:
    environment = {key: os.environ[key] for key in INHERITED if key in os.environ}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return environment


def run_workload(task: str, env_dir: Path = ENV_DIR, timeout: float = 1800, **spec) -> dict:
    """Run ``task`` with ``spec`` (JSON-able) in the reference environment; return its JSON result."""
    if not is_built(env_dir):
        raise ReferenceUnavailable(f"the matterport reference environment is not built at {env_dir}: run "
                                   "python benchmarks/matterport/setup_env.py")
    with tempfile.TemporaryDirectory() as scratch:
        spec_path = Path(scratch) / "spec.json"
        spec_path.write_text(json.dumps({"task": task, "model_dir": scratch, **spec}))
        environment = clean_environment()
        completed = subprocess.run([str(env_python(env_dir)), str(WORKLOAD), str(spec_path)], capture_output=True,
                                   text=True, env=environment, timeout=timeout)
    lines = [line for line in completed.stdout.splitlines() if line.startswith(MARKER)]
    if completed.returncode != 0 or not lines:
        tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"matterport workload {task} failed (exit {completed.returncode}):\n{tail}")
    return json.loads(lines[-1][len(MARKER):])
