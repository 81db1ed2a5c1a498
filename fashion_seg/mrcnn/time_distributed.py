"""``TimeDistributed`` for ROI heads: one call of the wrapped layer on all ROIs of the batch."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fashion_seg")
class TimeDistributed(keras.layers.TimeDistributed):
    """Apply a layer to every ROI: ``[batch, num_rois, ...]`` -> ``[batch, num_rois, ...]``.

    Keras 3's own ``TimeDistributed`` calls the wrapped layer once per time step in a Python loop (1,000 conv calls for
    1,000 ROIs). Folding the ROI axis into the batch axis runs the layer once on ``[batch * num_rois, ...]``; the
    result is the same. The wrapper keeps Keras's class so weights stay under the wrapper's name, as in matterport.
    """

    def call(self, inputs, training=None, mask=None):
        steps = inputs.shape[1] if inputs.shape[1] is not None else ops.shape(inputs)[1]
        merged = ops.reshape(inputs, (-1, *inputs.shape[2:]))
        kwargs = {"training": training} if self.layer._call_has_training_arg else {}
        outputs = self.layer(merged, **kwargs)
        return ops.reshape(outputs, (-1, steps, *outputs.shape[1:]))
