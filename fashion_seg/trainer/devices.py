"""Devices and workers, settled before the backend starts.

``--cpu-devices N`` splits the CPU into N devices, to run the data-parallel paths (``mirrored``, JAX
``DataParallel``) on a machine without GPUs, e.g. to try a multi-GPU configuration on a laptop. It must act before
TensorFlow initialises its devices (logical device configuration) or before JAX is imported (``XLA_FLAGS``).

Under ``MultiWorkerMirroredStrategy`` every worker runs the same command; worker 0 of ``TF_CONFIG`` is the chief.
"""

from __future__ import annotations

import json
import os

from ..errors import ConfigError


def split_cpu(count: int) -> list[str] | None:
    """Make ``count`` CPU devices (``count`` <= 1: leave the devices alone). Returns the TensorFlow device names
    for a ``MirroredStrategy`` (None on other backends, whose data parallelism takes every device)."""
    if count <= 1:
        return None
    backend = os.environ.get("KERAS_BACKEND") or _configured_backend()
    if backend == "jax":
        flag = f"--xla_force_host_platform_device_count={count}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
        return None
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        raise ConfigError("--cpu-devices must take effect before TensorFlow starts; it did not here (TensorFlow "
                          "was already initialised)") from None
    return [f"/cpu:{i}" for i in range(count)]


def _configured_backend() -> str:
    """The backend named in Keras's ``keras.json`` (read without importing Keras, which would start it)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as handle:
            return json.load(handle).get("backend", "tensorflow")
    except (OSError, json.JSONDecodeError, AttributeError):
        return "tensorflow"


def worker_index() -> int | None:
    """This process's index among the workers of ``TF_CONFIG`` (None without one)."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        task = json.loads(text).get("task", {})
    except (json.JSONDecodeError, AttributeError):
        raise ConfigError("TF_CONFIG is not a JSON object with a 'task' entry") from None
    return int(task.get("index", 0)) if task.get("type", "worker") in ("worker", "chief") else None


def is_chief() -> bool:
    """Worker 0 of a multi-worker cluster, or a process on its own."""
    return (worker_index() or 0) == 0
