"""The model's 2-D convolution: Keras's ``Conv2D`` computed the way CPU kernels run it fastest.

Three things differ from a plain ``keras.layers.Conv2D``, none visible in names, weights or results (beyond float
rounding):

- the bias is added with :func:`add_bias`, a ``BiasAdd`` on TensorFlow, which oneDNN fuses into the convolution
  (with the ReLU after it); Keras's broadcast ``Add`` is a separate pass over the output;
- a convolution followed by a frozen :class:`~fashion_seg.mrcnn.batch_norm.BatchNorm` (``train_bn=False``, matterport's
  default) can absorb it (:func:`fold_batch_norm`). Frozen, the norm is a per-channel affine map
  ``y * scale + offset``, so ``norm(conv(x, kernel) + bias) = conv(x, kernel * scale) + bias * scale + offset``.
  The convolution then computes that from the norm's variables at every call (so loaded or trained values are always
  used, and gradients reach gamma and beta as before) and the norm passes its input through. On a CPU this removes
  two of the four passes over every ResNet feature map;
- a 'valid' convolution whose kernel covers its whole input (the classifier head's 7x7 conv on 7x7 pooled ROIs, and
  its 1x1 conv on the 1x1 result) is a matrix product, and runs as one (1.5x faster than TensorFlow's conv kernel
  for that shape on a CPU).
"""

from __future__ import annotations

import keras
from keras import ops

from .batch_norm import BatchNorm


def add_bias(x, bias):
    """``x + bias`` along the last axis; on TensorFlow as ``BiasAdd``, which oneDNN fuses into a preceding
    convolution or matmul."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.nn.bias_add(x, bias)
    return x + bias


class _NormReference:
    """Holds the absorbed norm without making it a sublayer of the convolution (its weights stay its own)."""

    def __init__(self, norm: BatchNorm):
        self.norm = norm


@keras.saving.register_keras_serializable(package="fashion_seg")
class Conv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` (channels last) with a fused bias and an optional absorbed frozen BatchNorm."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._absorbed = None

    def call(self, inputs):
        kernel = self.kernel
        bias = self.bias if self.use_bias else None
        if self._absorbed is not None:
            scale, offset = self._absorbed.norm.inference_affine()
            kernel = ops.cast(ops.cast(kernel, "float32") * scale, self.compute_dtype)
            offset = offset if bias is None else ops.cast(bias, "float32") * scale + offset
            bias = ops.cast(offset, self.compute_dtype)
        if self._covers(inputs):
            depth = inputs.shape[1] * inputs.shape[2] * inputs.shape[3]
            outputs = ops.matmul(ops.reshape(inputs, (-1, depth)), ops.reshape(kernel, (depth, self.filters)))
            outputs = ops.reshape(outputs, (-1, 1, 1, self.filters))
        else:
            outputs = self.convolution_op(inputs, kernel)
        if bias is not None:
            outputs = add_bias(outputs, bias)
        return self.activation(outputs) if self.activation is not None else outputs

    def _covers(self, inputs) -> bool:
        """True when the kernel spans the whole (static) input, so each output is one dot product."""
        return (self.padding == "valid" and tuple(self.strides) == (1, 1) and tuple(self.dilation_rate) == (1, 1)
                and self.groups == 1 and tuple(inputs.shape[1:3]) == tuple(self.kernel_size)
                and inputs.shape[3] is not None)


def fold_batch_norm(conv: Conv2D, norm: BatchNorm) -> None:
    """Let ``conv`` compute ``norm(conv(x))`` when ``norm`` is frozen (``train_bn=False``); otherwise (batch
    statistics) leave both as they are. ``norm`` must be applied to ``conv``'s output and nothing else."""
    if norm.train_bn is False:
        conv._absorbed = _NormReference(norm)
        norm.absorbed = True
