"""Settled before the backend starts: ``--cpu-devices`` on JAX (an XLA flag) and the worker's place in a
``TF_CONFIG`` cluster. (Splitting TensorFlow's CPU needs a fresh process: see the ``--strategy mirrored`` test of
test_train_cli.py.)"""

import json
import os

import pytest

from fashion_seg.errors import ConfigError
from fashion_seg.trainer.devices import is_chief, split_cpu, worker_index


def test_one_device_leaves_the_devices_alone(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert split_cpu(0) is None and split_cpu(1) is None
    assert "XLA_FLAGS" not in os.environ


def test_on_jax_the_cpu_is_split_by_an_xla_flag(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/dump")
    assert split_cpu(4) is None  # DataParallel takes every device
    assert os.environ["XLA_FLAGS"] == "--xla_dump_to=/tmp/dump --xla_force_host_platform_device_count=4"


@pytest.mark.parametrize("task, index, chief", [
    ({"type": "worker", "index": 0}, 0, True),
    ({"type": "worker", "index": 1}, 1, False),
    ({"type": "chief", "index": 0}, 0, True),
    ({"type": "ps", "index": 0}, None, True),
])
def test_the_worker_index_comes_from_tf_config(monkeypatch, task, index, chief):
    cluster = {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert (worker_index(), is_chief()) == (index, chief)


def test_a_process_on_its_own_is_the_chief(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert (worker_index(), is_chief()) == (None, True)


def test_a_malformed_tf_config_is_refused(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{cluster: 1")
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        worker_index()
