"""matterport's optimizer: SGD with momentum and gradient clipping by the global norm of all gradients.

matterport passes ``clipnorm=GRADIENT_CLIP_NORM`` to Keras 2's SGD, whose ``clipnorm`` scales *all* gradients by
``clipnorm / global_norm`` when their global norm exceeds it. Keras 3 calls that ``global_clipnorm`` (its ``clipnorm``
clips each tensor on its own), so that is what we set.

Under ``tf.distribute``, Keras 3 clips each replica's gradients *before* summing them across replicas, so the norm it
sees is that of a part of the batch. :class:`SGD` sums first and clips the whole batch's gradients, which makes an
N-replica step equal to a one-device step on the same global batch.
"""

from __future__ import annotations

import keras

from .distribute import cross_replica_sum


@keras.saving.register_keras_serializable(package="fashion_seg")
class SGD(keras.optimizers.SGD):
    """``keras.optimizers.SGD`` whose gradient clipping sees the gradients of the whole global batch."""

    def _clip_gradients(self, grads):
        summed = [None if grad is None else cross_replica_sum(grad) for grad in grads]
        return super()._clip_gradients(summed)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # The TensorFlow backend's own cross-replica sum, which runs after clipping; the gradients were summed in
        # _clip_gradients already.
        return list(grads_and_vars)


def matterport_sgd(learning_rate: float, momentum: float, clip_norm: float | None) -> SGD:
    """SGD with momentum, clipped to global norm ``clip_norm`` (None or 0: no clipping)."""
    return SGD(learning_rate=learning_rate, momentum=momentum, global_clipnorm=clip_norm or None)
