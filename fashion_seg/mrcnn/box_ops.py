"""Box math in ``keras.ops`` (TensorFlow and JAX backends, jit-safe): the graph twins of :mod:`fashion_seg.mrcnn.boxes`.

Conventions (matterport's): a box is ``(y1, x1, y2, x2)`` on the last axis; any leading axes broadcast. Normalised boxes
are in ``[0, 1]`` with the ``(h - 1, w - 1)`` scaling of :func:`fashion_seg.mrcnn.boxes.norm_boxes`. Box deltas are
``(dy, dx, log(dh), log(dw))``. Everything is computed in float32, in the same order of operations as matterport's
TensorFlow graph, so results agree with it to the last bit wherever the backend's ``exp``/``log`` do.
"""

from __future__ import annotations

from keras import ops


def _float32(x):
    return ops.cast(ops.convert_to_tensor(x), "float32")


def divide_exactly(numerator, denominator):
    """``numerator / denominator`` (broadcast), rounded as one IEEE float division on every backend.

    XLA compiles a division by a constant or by a broadcast tensor as a multiplication by its reciprocal, which is
    1 ulp off for about a third of all quotients (e.g. 210 / 255 in float32). A denominator routed through a select on
    the numerator is neither, so the division stays a division. The select returns the numerator only where it is
    NaN, where the quotient is NaN anyway, so the result is unchanged.
    """
    numerator, denominator = _float32(numerator), _float32(denominator)
    return numerator / ops.where(ops.isnan(numerator), numerator, denominator)


def apply_box_deltas(boxes, deltas):
    """Refine ``[..., 4]`` boxes by ``[..., 4]`` deltas ``(dy, dx, log(dh), log(dw))`` (already multiplied by the
    std devs). Returns ``[..., 4]`` float32 boxes; the inverse of :func:`box_refinement`."""
    boxes, deltas = _float32(boxes), _float32(deltas)
    height = boxes[..., 2] - boxes[..., 0]
    width = boxes[..., 3] - boxes[..., 1]
    center_y = boxes[..., 0] + 0.5 * height
    center_x = boxes[..., 1] + 0.5 * width
    center_y = center_y + deltas[..., 0] * height
    center_x = center_x + deltas[..., 1] * width
    height = height * ops.exp(deltas[..., 2])
    width = width * ops.exp(deltas[..., 3])
    y1 = center_y - 0.5 * height
    x1 = center_x - 0.5 * width
    return ops.stack([y1, x1, y1 + height, x1 + width], axis=-1)


def box_refinement(boxes, target_boxes):
    """Deltas ``[..., (dy, dx, log(dh), log(dw))]`` that turn ``boxes`` into ``target_boxes`` (both ``[..., 4]``, same
    units); not divided by a std dev. Boxes must have positive height and width."""
    boxes, target_boxes = _float32(boxes), _float32(target_boxes)
    height = boxes[..., 2] - boxes[..., 0]
    width = boxes[..., 3] - boxes[..., 1]
    center_y = boxes[..., 0] + 0.5 * height
    center_x = boxes[..., 1] + 0.5 * width
    target_height = target_boxes[..., 2] - target_boxes[..., 0]
    target_width = target_boxes[..., 3] - target_boxes[..., 1]
    target_center_y = target_boxes[..., 0] + 0.5 * target_height
    target_center_x = target_boxes[..., 1] + 0.5 * target_width
    return ops.stack([
        (target_center_y - center_y) / height,
        (target_center_x - center_x) / width,
        ops.log(target_height / height),
        ops.log(target_width / width),
    ], axis=-1)


def clip_boxes(boxes, window):
    """Clip ``[..., 4]`` boxes to ``window`` ``(y1, x1, y2, x2)``, shape ``[4]`` or broadcastable to ``boxes``
    (e.g. ``[batch, 1, 4]`` for ``[batch, num_boxes, 4]`` boxes). A box outside the window collapses onto its edge
    (zero height or width), as matterport's ``clip_boxes_graph`` does."""
    boxes, window = _float32(boxes), _float32(window)
    low = ops.concatenate([window[..., :2], window[..., :2]], axis=-1)
    high = ops.concatenate([window[..., 2:], window[..., 2:]], axis=-1)
    return ops.maximum(ops.minimum(boxes, high), low)


def norm_boxes(boxes, shape):
    """Pixel boxes (``y2, x2`` exclusive) ``[..., 4]`` -> normalised boxes, matterport's ``norm_boxes_graph``:
    ``(y1, x1, y2 - 1, x2 - 1) / (h - 1, w - 1, h - 1, w - 1)``. ``shape``: ``(h, w)``, shape ``[2]`` or ``[..., 2]``."""
    boxes, shape = _float32(boxes), _float32(shape)
    height, width = shape[..., 0:1], shape[..., 1:2]
    scale = ops.concatenate([height, width, height, width], axis=-1) - 1.0
    shift = ops.convert_to_tensor([0.0, 0.0, 1.0, 1.0], dtype="float32")
    return divide_exactly(boxes - shift, scale)


def box_areas(boxes):
    """Areas ``[...]`` of ``[..., 4]`` boxes, computed as ``(y2 - y1) * (x2 - x1)``; inverted boxes count as empty."""
    boxes = _float32(boxes)
    return ops.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * ops.maximum(boxes[..., 3] - boxes[..., 1], 0.0)


def box_iou(boxes1, boxes2):
    """IoU matrix ``[..., N, M]`` of ``[..., N, 4]`` and ``[..., M, 4]`` boxes (same units; leading axes broadcast).

    Float32, in the operation order of TensorFlow's NMS kernel (``inter / (area1 + area2 - inter)``). Pairs with an
    empty union, e.g. two zero-area boxes, have IoU 0, as in :func:`fashion_seg.mrcnn.boxes.compute_overlaps`.
    """
    boxes1, boxes2 = _float32(boxes1), _float32(boxes2)
    a = boxes1[..., :, None, :]
    b = boxes2[..., None, :, :]
    height = ops.maximum(ops.minimum(a[..., 2], b[..., 2]) - ops.maximum(a[..., 0], b[..., 0]), 0.0)
    width = ops.maximum(ops.minimum(a[..., 3], b[..., 3]) - ops.maximum(a[..., 1], b[..., 1]), 0.0)
    intersection = height * width
    union = box_areas(boxes1)[..., :, None] + box_areas(boxes2)[..., None, :] - intersection
    positive = union > 0.0
    return ops.where(positive, intersection / ops.where(positive, union, 1.0), 0.0)


def image_shape_from_meta(image_meta):
    """``[batch, IMAGE_META_SIZE]`` image meta -> float32 ``[batch, 3]`` molded image shape ``(h, w, c)``
    (the layout of :mod:`fashion_seg.mrcnn.molding`)."""
    return _float32(image_meta)[..., 4:7]


def normalized_window_from_meta(image_meta):
    """``[batch, IMAGE_META_SIZE]`` image meta -> ``[batch, 4]`` float32 window ``(y1, x1, y2, x2)`` of the real image
    inside the molded one, normalised by the molded shape of the **first** image of the batch (matterport's
    DetectionLayer does so; all images of a batch share one molded shape)."""
    image_meta = _float32(image_meta)
    return norm_boxes(image_meta[..., 7:11], image_meta[0, 4:6])
