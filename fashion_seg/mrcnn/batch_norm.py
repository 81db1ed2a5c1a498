"""Batch normalisation whose mode is fixed when the model is built: matterport's ``TRAIN_BN``.

Mask R-CNN trains with small batches (1-2 images per device), too few for batch statistics, so matterport runs every
BatchNorm in inference mode (frozen moving mean/variance) even while training; gamma and beta stay trainable. A plain
Keras ``BatchNormalization`` takes its mode from the ``training`` flag that ``fit()`` passes down, which would switch
it to batch statistics. This layer ignores that flag when ``train_bn`` is True or False.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fashion_seg")
class BatchNorm(keras.layers.BatchNormalization):
    """``BatchNormalization`` (epsilon 1e-3, as matterport's Keras 2 layer) with a fixed mode.

    train_bn: False = always inference mode (moving statistics), True = always batch statistics, None = follow the
    ``training`` flag like a plain Keras layer.
    """

    def __init__(self, train_bn: bool | None = False, epsilon: float = 1e-3, **kwargs):
        super().__init__(epsilon=epsilon, **kwargs)
        self.train_bn = train_bn
        # Set by conv.fold_batch_norm: the convolution before this norm applies it, so it passes its input through.
        self.absorbed = False

    def inference_affine(self):
        """The frozen norm as ``x * scale + offset``: ``(scale, offset)``, float32 ``[channels]``."""
        scale = ops.rsqrt(ops.cast(self.moving_variance, "float32") + self.epsilon)
        if self.scale:
            scale = scale * ops.cast(self.gamma, "float32")
        offset = -ops.cast(self.moving_mean, "float32") * scale
        if self.center:
            offset = offset + ops.cast(self.beta, "float32")
        return scale, offset

    def call(self, inputs, training=None, mask=None):
        if self.absorbed:
            return inputs
        if self.train_bn is not None:
            training = self.train_bn
        return super().call(inputs, training=training, mask=mask)

    def get_config(self):
        return {**super().get_config(), "train_bn": self.train_bn}
