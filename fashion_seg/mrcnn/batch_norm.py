"""Batch normalisation whose mode is fixed when the model is built: matterport's ``TRAIN_BN``.

Mask R-CNN trains with small batches (1-2 images per device), too few for batch statistics, so matterport runs every
BatchNorm in inference mode (frozen moving mean/variance) even while training; gamma and beta stay trainable. A plain
Keras ``BatchNormalization`` takes its mode from the ``training`` flag that ``fit()`` passes down, which would switch
it to batch statistics. This layer ignores that flag when ``train_bn`` is True or False.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="fashion_seg")
class BatchNorm(keras.layers.BatchNormalization):
    """``BatchNormalization`` (epsilon 1e-3, as matterport's Keras 2 layer) with a fixed mode.

    train_bn: False = always inference mode (moving statistics), True = always batch statistics, None = follow the
    ``training`` flag like a plain Keras layer.
    """

    def __init__(self, train_bn: bool | None = False, epsilon: float = 1e-3, **kwargs):
        super().__init__(epsilon=epsilon, **kwargs)
        self.train_bn = train_bn

    def call(self, inputs, training=None, mask=None):
        if self.train_bn is not None:
            training = self.train_bn
        return super().call(inputs, training=training, mask=mask)

    def get_config(self):
        return {**super().get_config(), "train_bn": self.train_bn}
