"""Data-parallel training on several devices: the strategy to build and train under, and the replica arithmetic.

TensorFlow backend: ``tf.distribute`` strategies. Keras runs ``train_step`` once per replica on its slice of the global
batch and *sums* the replicas' gradients, so a loss must be each replica's share of the global loss (see
:class:`fashion_seg.mrcnn.training_graph.TrainingModel`, which divides by counts summed over replicas with
:func:`cross_replica_sum`). JAX backend: ``keras.distribution.DataParallel``; the step is one SPMD program over the
global batch, so there is nothing to scale.

    distribution = make_distribution("mirrored")      # "auto" | "one" | "mirrored" | "multiworker"
    with distribution.scope():
        model = MaskRCNN("training", config, model_dir)   # with config.GPU_COUNT == distribution.num_replicas
    model.train(...)
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass

import keras

from ..errors import ConfigError

STRATEGY_NAMES = ("auto", "one", "mirrored", "multiworker")


def replica_count() -> int:
    """Replicas running the current step in sync (1 outside ``tf.distribute`` and on JAX)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is not None:
        return int(context.num_replicas_in_sync)
    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def cross_replica_sum(value):
    """``value`` summed over the replicas of the current ``tf.distribute`` step (``value`` itself with one replica,
    and on backends whose data parallelism works on global arrays)."""
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


@dataclass
class Distribution:
    """A way of running training: ``name`` (one of :data:`STRATEGY_NAMES`, resolved: never "auto"), the backend's
    object (``tf.distribute.Strategy`` or ``keras.distribution.Distribution``, None for one device) and the number of
    replicas the global batch is split into."""

    name: str
    backend_object: object
    num_replicas: int

    @contextlib.contextmanager
    def scope(self):
        """Build the model (and train it) inside this scope."""
        if self.backend_object is None:
            yield
            return
        if keras.backend.backend() == "tensorflow":
            with self.backend_object.scope():
                yield
        else:
            previous = keras.distribution.distribution()
            keras.distribution.set_distribution(self.backend_object)
            try:
                yield
            finally:
                keras.distribution.set_distribution(previous)


def make_distribution(name: str = "auto", devices=None) -> Distribution:
    """The distribution called ``name``:

    - ``one``: a single device.
    - ``mirrored``: TensorFlow ``MirroredStrategy`` over ``devices`` (default: every GPU, else the CPU); JAX
      ``DataParallel`` over ``devices`` (default: every device).
    - ``multiworker``: TensorFlow ``MultiWorkerMirroredStrategy`` configured by the ``TF_CONFIG`` environment variable
      (one process per machine; every process runs the same training script).
    - ``auto``: ``mirrored`` when there are several GPUs (JAX: several devices), else ``one``.
    """
    if name not in STRATEGY_NAMES:
        raise ConfigError(f"strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_distribution(name, devices)
    if backend == "jax":
        return _jax_distribution(name, devices)
    if name in ("one", "auto"):
        return Distribution("one", None, 1)
    raise ConfigError(f"strategy {name!r} needs the tensorflow or jax backend, not {backend!r}")


def _tensorflow_distribution(name: str, devices) -> Distribution:
    import tensorflow as tf

    if name == "auto":
        name = "mirrored" if devices or len(tf.config.list_logical_devices("GPU")) > 1 else "one"
    if name == "one":
        return Distribution("one", None, 1)
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    else:
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("strategy 'multiworker' reads the cluster from the TF_CONFIG environment variable, "
                              "which is not set (e.g. TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", "
                              "\"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}')")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as error:
            raise ConfigError(f"TF_CONFIG is not valid JSON: {error}") from None
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return Distribution(name, strategy, int(strategy.num_replicas_in_sync))


def _jax_distribution(name: str, devices) -> Distribution:
    import jax

    if name == "multiworker":
        raise ConfigError("strategy 'multiworker' is TensorFlow's; on JAX start every process with "
                          "jax.distributed.initialize() and use 'mirrored' (DataParallel over all processes' devices)")
    devices = list(devices) if devices else jax.devices()
    if name == "auto":
        name = "mirrored" if len(devices) > 1 else "one"
    if name == "one":
        return Distribution("one", None, 1)
    return Distribution("mirrored", keras.distribution.DataParallel(devices=devices), len(devices))
