"""ROIAlign in ``keras.ops``: ``tf.image.crop_and_resize`` re-written bit for bit, and matterport's PyramidROIAlign.

The sampling follows TensorFlow's CPU kernel exactly, because matterport's outputs depend on it at the image border:
for a crop of ``n`` samples along an axis of length ``L``, sample ``i`` lies at

    ``y1 * (L - 1) + i * ((y2 - y1) * (L - 1) / (n - 1))``    (``0.5 * (y1 + y2) * (L - 1)`` when ``n == 1``)

computed in float32 in that order, and a whole sample row (column) whose coordinate falls outside ``[0, L - 1]`` is
set to 0. Boxes clipped to ``y2 = 1.0`` land on ``L - 1`` give or take one rounding, so whether their last row is
zeroed is decided by float32 rounding; only the same arithmetic reproduces it (see the reference bundle's README,
"ROIAlign border effect"). Inside the image, values are bilinear between the four neighbouring pixels, blended in
TensorFlow's order (along x, then along y).

Under XLA (``jit_compile=True`` / ``jax.jit``) the same float32 arithmetic is kept by hiding two values from XLA's
rewrites (see :func:`_unfused` and :func:`fashion_seg.mrcnn.box_ops.divide_exactly`). That holds for boxes computed
at run time, as in the model; boxes baked into a compiled function as constants are folded by XLA with its own
rounding.

Gradients flow into the feature maps; boxes are treated as constants (``stop_gradient``), as in matterport.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from .box_ops import divide_exactly, image_shape_from_meta

IMPLEMENTATIONS = ("keras", "tensorflow")
PYRAMID_LEVELS = (2, 3, 4, 5)


def _unfused(product):
    """``product`` behind a select that XLA cannot see through, so it is not fused into the add that follows.

    TensorFlow's kernel rounds each product and then the sum; XLA would fuse a multiply and an add into one FMA,
    which rounds once and moves border samples across ``L - 1``. The select returns ``product + 1`` only where
    ``product`` is NaN, i.e. NaN again, so values are unchanged.
    """
    return ops.where(ops.isnan(product), product + 1.0, product)


def _sample_coordinates(start, end, size_minus_one, count):
    """Sample positions ``[K, count]`` along one axis for ``[K]`` normalised box edges, in TensorFlow's float32 order.
    ``size_minus_one``: ``[K]`` float32, the feature map length minus one."""
    if count > 1:
        step = divide_exactly((end - start) * size_minus_one, float(count - 1))
        origin = _unfused(start * size_minus_one)
        offsets = _unfused(ops.arange(count, dtype="float32")[None, :] * step[:, None])
        return origin[:, None] + offsets
    return (0.5 * (start + end) * size_minus_one)[:, None]


def _crop_from_flat(flat_features, image_offsets, heights, widths, boxes, crop_size):
    """Bilinear crops from feature maps stored as rows of one flat ``[P, C]`` tensor.

    image_offsets: ``[K]`` int32 row of the top-left pixel of each box's feature map; heights/widths: ``[K]`` int32
    size of that map (rows are laid out row-major, ``y * width + x``); boxes: ``[K, 4]`` normalised.
    Returns ``[K, crop_h, crop_w, C]`` in the features' dtype.
    """
    crop_height, crop_width = crop_size
    boxes = ops.stop_gradient(ops.cast(boxes, "float32"))
    height_m1 = ops.cast(heights - 1, "float32")
    width_m1 = ops.cast(widths - 1, "float32")
    ys = _sample_coordinates(boxes[:, 0], boxes[:, 2], height_m1, crop_height)  # [K, h]
    xs = _sample_coordinates(boxes[:, 1], boxes[:, 3], width_m1, crop_width)  # [K, w]
    y_inside = ops.logical_and(ys >= 0.0, ys <= height_m1[:, None])
    x_inside = ops.logical_and(xs >= 0.0, xs <= width_m1[:, None])

    # Outside samples are zeroed below; clamping only keeps their gather indices in range.
    top = ops.floor(ys)
    left = ops.floor(xs)
    y_lerp = ys - top
    x_lerp = xs - left
    max_y = (heights - 1)[:, None]
    max_x = (widths - 1)[:, None]
    top_row = ops.clip(ops.cast(top, "int32"), 0, max_y)
    bottom_row = ops.clip(ops.cast(ops.ceil(ys), "int32"), 0, max_y)
    left_col = ops.clip(ops.cast(left, "int32"), 0, max_x)
    right_col = ops.clip(ops.cast(ops.ceil(xs), "int32"), 0, max_x)

    top_base = image_offsets[:, None] + top_row * widths[:, None]  # [K, h]
    bottom_base = image_offsets[:, None] + bottom_row * widths[:, None]

    def tap(row_base, col):  # [K, h, w, C] float32
        rows = ops.reshape(row_base[:, :, None] + col[:, None, :], [-1])
        values = ops.take(flat_features, rows, axis=0)
        return ops.cast(ops.reshape(values, [-1, crop_height, crop_width, flat_features.shape[-1]]), "float32")

    x_lerp = x_lerp[:, None, :, None]
    top_left = tap(top_base, left_col)
    upper = top_left + (tap(top_base, right_col) - top_left) * x_lerp
    bottom_left = tap(bottom_base, left_col)
    lower = bottom_left + (tap(bottom_base, right_col) - bottom_left) * x_lerp
    crops = upper + (lower - upper) * y_lerp[:, :, None, None]
    inside = ops.logical_and(y_inside[:, :, None], x_inside[:, None, :])[..., None]
    return ops.cast(ops.where(inside, crops, 0.0), flat_features.dtype)


def _check_implementation(implementation):
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation={implementation!r}; choose one of {', '.join(IMPLEMENTATIONS)}")
    if implementation == "tensorflow" and keras.backend.backend() != "tensorflow":
        raise ValueError(f"implementation='tensorflow' needs KERAS_BACKEND=tensorflow, not {keras.backend.backend()!r}")


def crop_and_resize(image, boxes, box_indices, crop_size, implementation="keras"):
    """``tf.image.crop_and_resize`` (bilinear, extrapolation value 0) for any Keras backend.

    Args:
        image: ``[batch, height, width, channels]``.
        boxes: ``[num_boxes, 4]`` ``(y1, x1, y2, x2)`` normalised: ``y * (height - 1)`` is the pixel row. Boxes may
            extend past the image or be flipped (``y1 > y2`` samples upside down), as in TensorFlow.
        box_indices: ``[num_boxes]`` int, the image of ``image`` each box is cut from.
        crop_size: ``(crop_height, crop_width)`` Python ints.
        implementation: ``"keras"`` (``keras.ops``, any backend, works under XLA/jit) or ``"tensorflow"``
            (``tf.image.crop_and_resize`` itself: TensorFlow backend only, and not inside ``jit_compile=True``
            because XLA has no kernel for it).

    Returns:
        ``[num_boxes, crop_height, crop_width, channels]`` in the image's dtype. No gradient flows into ``boxes``.
    """
    _check_implementation(implementation)
    crop_size = (int(crop_size[0]), int(crop_size[1]))
    if implementation == "tensorflow":
        import tensorflow as tf

        return tf.image.crop_and_resize(image, tf.stop_gradient(boxes), box_indices, crop_size)
    image = ops.convert_to_tensor(image)
    batch, height, width, channels = ops.shape(image)
    box_indices = ops.cast(box_indices, "int32")
    heights = ops.cast(ops.full(ops.shape(box_indices), height), "int32")
    widths = ops.cast(ops.full(ops.shape(box_indices), width), "int32")
    flat = ops.reshape(image, [-1, image.shape[-1] if image.shape[-1] is not None else channels])
    return _crop_from_flat(flat, box_indices * heights * widths, heights, widths, boxes, crop_size)


def roi_pyramid_levels(boxes, image_meta):
    """matterport's FPN level of each box: ``clip(4 + round(log2(sqrt(h * w) / (224 / sqrt(image_area)))), 2, 5)``.

    boxes: ``[batch, num_boxes, 4]`` normalised; image_meta: ``[batch, IMAGE_META_SIZE]``, whose **first** image gives
    the molded image area (as in matterport). Returns int32 ``[batch, num_boxes]`` in ``2..5``; empty boxes (padding)
    and inverted boxes go to level 2. ``round`` is half-to-even, and ``log2`` is ``log(x) / log(2)`` in float32, as in matterport's graph.
    """
    boxes = ops.cast(boxes, "float32")
    height = boxes[..., 2] - boxes[..., 0]
    width = boxes[..., 3] - boxes[..., 1]
    image_shape = image_shape_from_meta(image_meta)[0]
    image_area = image_shape[0] * image_shape[1]
    ratio = divide_exactly(ops.sqrt(height * width), divide_exactly(224.0, ops.sqrt(image_area)))
    level = divide_exactly(ops.log(ratio), ops.log(ops.convert_to_tensor(2.0, dtype="float32")))
    level = 4.0 + ops.round(level)
    # Comparisons with NaN are false, so inverted boxes (NaN) land on P2 like empty ones (-inf), as in matterport,
    # where the NaN becomes INT_MIN in the int cast before the clamp.
    level = ops.minimum(ops.where(level > PYRAMID_LEVELS[0], level, PYRAMID_LEVELS[0]), PYRAMID_LEVELS[-1])
    return ops.cast(level, "int32")


class PyramidROIAlign(keras.layers.Layer):
    """ROIAlign on a feature pyramid, matterport's layer: each box is cropped from the one level its size picks.

    Inputs: ``[boxes, image_meta, P2, P3, P4, P5]``:
        boxes ``[batch, num_boxes, 4]`` ``(y1, x1, y2, x2)`` normalised (zero rows are padding);
        image_meta ``[batch, IMAGE_META_SIZE]`` (see :mod:`fashion_seg.mrcnn.molding`);
        ``P2..P5`` ``[batch, h_l, w_l, channels]`` (strides 4, 8, 16, 32).
    Output: ``[batch, num_boxes, pool_height, pool_width, channels]``, boxes in their input order, in the features'
    dtype (sampling coordinates are always float32). Levels follow :func:`roi_pyramid_levels`.

    All levels are flattened into one ``[pixels, channels]`` tensor and every box gathers its four bilinear taps per
    sample from its own level in one gather: no per-level split, sort and un-sort. No gradient flows into the boxes.
    """

    def __init__(self, pool_shape, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.pool_shape = (int(pool_shape[0]), int(pool_shape[1]))

    def call(self, inputs):
        boxes, image_meta, *feature_maps = inputs
        if len(feature_maps) != len(PYRAMID_LEVELS):
            raise ValueError(f"PyramidROIAlign takes [boxes, image_meta, P2, P3, P4, P5]; got {len(inputs)} inputs")
        boxes = ops.cast(boxes, "float32")
        batch = ops.shape(boxes)[0]
        num_boxes = ops.shape(boxes)[1]
        levels = roi_pyramid_levels(boxes, image_meta)  # [B, N]
        dtype = feature_maps[0].dtype
        channels = feature_maps[0].shape[-1]

        image_index = ops.broadcast_to(ops.arange(batch, dtype="int32")[:, None], ops.shape(levels))
        offsets = ops.zeros_like(levels)
        heights = ops.zeros_like(levels)
        widths = ops.zeros_like(levels)
        flat_levels = []
        level_start = 0
        for level, feature_map in zip(PYRAMID_LEVELS, feature_maps):
            _, height, width, _ = ops.shape(feature_map)
            on_level = levels == level
            offsets = ops.where(on_level, level_start + image_index * (height * width), offsets)
            heights = ops.where(on_level, height, heights)
            widths = ops.where(on_level, width, widths)
            flat_levels.append(ops.reshape(ops.cast(feature_map, dtype), [-1, channels]))
            level_start = level_start + batch * height * width
        crops = _crop_from_flat(
            ops.concatenate(flat_levels, axis=0),
            ops.reshape(offsets, [-1]), ops.reshape(heights, [-1]), ops.reshape(widths, [-1]),
            ops.reshape(boxes, [-1, 4]), self.pool_shape,
        )
        return ops.reshape(crops, [batch, num_boxes, *self.pool_shape, channels])

    def compute_output_shape(self, input_shape):
        boxes_shape, _, p2_shape, *_ = input_shape
        return (boxes_shape[0], boxes_shape[1], *self.pool_shape, p2_shape[-1])

    def get_config(self):
        return {**super().get_config(), "pool_shape": list(self.pool_shape)}
