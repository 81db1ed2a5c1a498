"""Multiply-add work of a Mask R-CNN graph, counted from its layers (2 FLOPs per multiply-add), per image.

Counted: every convolution, transposed convolution and dense layer (the backbone, FPN, the RPN applied to every
pyramid level, both heads on as many ROIs as the graph is built for: POST_NMS_ROIS_INFERENCE and
DETECTION_MAX_INSTANCES in inference, TRAIN_ROIS_PER_IMAGE in training). Not counted: ROI align, NMS, targets, losses,
normalisation and element-wise work, as in the usual MFU convention. A training step is counted as the forward pass
plus twice the forward FLOPs of the layers that have trainable weights (gradients of inputs and of weights).
"""

from __future__ import annotations

import math

import keras


def _spatial_flops(kernel_shape, output_shape) -> float:
    *window, cin, cout = kernel_shape
    return 2.0 * math.prod(window) * cin * cout * math.prod(d for d in output_shape[1:-1] if d is not None)


def layer_flops(layer, feature_pixels: int = 0, shape=None) -> float:
    """FLOPs per image of one layer of a built functional graph (``feature_pixels``: the pyramid's total pixels, for a
    sub-model shared across levels such as ``rpn_model``; ``shape``: its output shape where the graph leaves the
    spatial sizes open)."""
    inner = layer.layer if isinstance(layer, keras.layers.TimeDistributed) else layer
    if isinstance(layer, keras.Model):
        per_pixel = sum(2.0 * math.prod(sub.kernel.shape) for sub in layer.layers
                        if isinstance(sub, keras.layers.Conv2D))
        return per_pixel * feature_pixels
    if not isinstance(inner, (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)):
        return 0.0
    shape = tuple(shape or layer.output.shape)
    if isinstance(inner, keras.layers.Conv2DTranspose):
        kh, kw, cout, cin = inner.kernel.shape  # Keras keeps transposed kernels as (h, w, out, in)
        inputs = math.prod(d for d in shape[1:-1] if d is not None) / math.prod(inner.strides)
        return 2.0 * kh * kw * cin * cout * inputs
    if isinstance(inner, keras.layers.Conv2D):
        return _spatial_flops(tuple(inner.kernel.shape), shape)
    cin, cout = inner.kernel.shape
    return 2.0 * cin * cout * math.prod(d for d in shape[1:-1] if d is not None)


def _pyramid_pixels(config) -> int:
    side = int(config.IMAGE_SHAPE[0]), int(config.IMAGE_SHAPE[1])
    return sum(math.ceil(side[0] / s) * math.ceil(side[1] / s) for s in config.BACKBONE_STRIDES)


def _open_shapes(keras_model, config) -> dict[str, tuple]:
    """Output shapes, at the config's image size, of the convolutions whose spatial size the graph leaves open (the
    backbone and FPN, built for any image size): the graph from ``input_image`` to them, traced symbolically."""
    layers = [layer for layer in keras_model.layers if isinstance(layer, keras.layers.Conv2D)
              and not isinstance(layer, keras.Model) and None in tuple(layer.output.shape)[1:-1]]
    if not layers:
        return {}
    image = next(tensor for tensor in keras_model.inputs if "input_image" in tensor.name)
    trunk = keras.Model(image, [layer.output for layer in layers])
    specs = trunk.compute_output_spec(keras.KerasTensor((1,) + tuple(int(d) for d in config.IMAGE_SHAPE)))
    return {layer.name: tuple(spec.shape) for layer, spec in zip(layers, specs)}


def _per_layer(keras_model, config):
    pixels = _pyramid_pixels(config)
    shapes = _open_shapes(keras_model, config)
    for layer in keras_model.layers:
        yield layer, layer_flops(layer, pixels, shapes.get(layer.name))


def forward_flops(keras_model, config) -> float:
    """FLOPs of one forward pass, per image."""
    return sum(flops for _, flops in _per_layer(keras_model, config))


def train_step_flops(keras_model, config) -> float:
    """FLOPs of one training step (forward + backward), per image."""
    forward = trainable = 0.0
    for layer, flops in _per_layer(keras_model, config):
        forward += flops
        if flops and layer.trainable and layer.trainable_weights:
            trainable += flops
    return forward + 2.0 * trainable
