"""A Keras model's forward pass compiled once per input shape, on TensorFlow or JAX.

``model.predict_on_batch`` would do on JAX, but on TensorFlow Keras traces with ``reduce_retracing=True``: after a
second input size it generalises to unknown spatial sizes, and the graph's static-shape ops (top-k over a known
anchor count) need concrete sizes. Here every input shape gets its own trace, kept for reuse.
"""

from __future__ import annotations

import keras
import numpy as np


class CompiledPredictor:
    """``predictor(*inputs) -> list of numpy outputs`` of ``model(inputs, training=False)``.

    jit_compile: True compiles with XLA (TensorFlow ``jit_compile``; ``jax.jit``), False runs TensorFlow as a plain
    graph function and JAX op by op, None takes each backend's sensible default (TensorFlow graph without XLA, whose
    oneDNN kernels are the fast path on CPU; ``jax.jit`` on JAX).
    """

    def __init__(self, model: keras.Model, jit_compile: bool | None = None):
        self.model = model
        self.backend = keras.backend.backend()
        if self.backend == "tensorflow":
            import tensorflow as tf

            self._tf = tf
            self._function = tf.function(self._forward, jit_compile=bool(jit_compile), reduce_retracing=False)
        elif self.backend == "jax":
            import jax

            self._function = self._stateless_forward if jit_compile is False else jax.jit(self._stateless_forward)
        else:
            raise RuntimeError(f"the Mask R-CNN graph runs on the tensorflow and jax backends, not {self.backend!r}")

    def _forward(self, inputs):
        return self.model(inputs, training=False)

    def _stateless_forward(self, trainable, non_trainable, inputs):
        outputs, _ = self.model.stateless_call(trainable, non_trainable, inputs, training=False)
        return outputs

    def __call__(self, *inputs) -> list[np.ndarray]:
        if self.backend == "tensorflow":
            tensors = [self._tf.convert_to_tensor(value) for value in inputs]
            outputs = self._function(tensors)
        else:
            outputs = self._function([v.value for v in self.model.trainable_variables],
                                     [v.value for v in self.model.non_trainable_variables], list(inputs))
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return [np.asarray(keras.ops.convert_to_numpy(output)) for output in outputs]
