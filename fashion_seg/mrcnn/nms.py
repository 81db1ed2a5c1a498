"""Greedy non-max suppression for whole batches, in ``keras.ops`` (TensorFlow and JAX backends, jit-safe, static shapes).

Semantics are those of the plain greedy reference :func:`fashion_seg.mrcnn.boxes.non_max_suppression` (and of
``tf.image.non_max_suppression``): visit boxes by descending score, ties lower index first; keep a box unless its IoU
with an already kept box is above the threshold; stop after ``max_output_size`` boxes.

The algorithm is blocked so that it needs few sequential steps on an accelerator: boxes are sorted by score and cut
into tiles of ``tile_size``. For each tile in turn,

1. one ``[tile, max_output_size]`` IoU matrix against the boxes kept so far removes what they suppress;
2. the survivors are resolved among themselves by a fixed-point iteration on the tile's ``[tile, tile]`` IoU matrix:
   ``keep[k] = alive[k] and no kept j < k overlaps k``. Position ``k`` is final once all ``j < k`` are, so the
   iteration reaches the greedy answer in at most ``tile`` steps; in practice in a handful, because it only needs
   as many steps as the longest chain of "suppressed-by-a-box-that-is-itself-suppressed" in the tile;
3. the tile's kept boxes are appended to the kept list.

The loop over tiles stops as soon as every image has ``max_output_size`` boxes. The work is about
``N * max_output_size`` IoUs per image (the greedy CPU kernel's order), in ``N / tile_size`` sequential steps.
"""

from __future__ import annotations

import math

from keras import ops

from .box_ops import box_areas, box_iou

DEFAULT_TILE_SIZE = 512


def non_max_suppression_padded(boxes, scores, max_output_size, iou_threshold, score_threshold=None, class_ids=None,
                               empty_box_suppresses_class=False, tile_size=DEFAULT_TILE_SIZE):
    """Greedy NMS of each image of a batch, padded to a fixed output size.

    Args:
        boxes: ``[batch, num_boxes, 4]`` ``(y1, x1, y2, x2)``, any units; ``num_boxes`` must be static. A box with
            ``y2 < y1`` or ``x2 < x1`` counts as empty (the numpy reference's convention; TensorFlow's kernel would
            swap its corners instead). Empty boxes overlap nothing, so they are never suppressed nor suppress.
        scores: ``[batch, num_boxes]``.
        max_output_size: Python int, the most boxes kept per image.
        iou_threshold: a box is suppressed by a kept box when their IoU is ``> iou_threshold`` (float32 IoU).
        score_threshold: if given, only boxes with ``score > score_threshold`` are candidates (as in TensorFlow).
            To exclude arbitrary boxes, set their score to ``-inf`` and pass ``score_threshold=float("-inf")``.
        class_ids: optional ``[batch, num_boxes]`` integer classes. Boxes then suppress only boxes of their own class:
            the result equals running NMS per class and merging the kept boxes by descending score (what
            matterport's DetectionLayer does class by class), in one pass.
        empty_box_suppresses_class: if True, a kept empty box (zero area) suppresses every later box (of its class,
            with ``class_ids``; of the image without). This reproduces TensorFlow 1.15's NMS kernel, which matterport
            ran on: that kernel selects an empty box again and again (its IoU with itself is 0) until the output is
            full, so nothing after it survives. matterport's DetectionLayer keeps exactly those detections.
        tile_size: boxes resolved together per sequential step (a speed knob; the result does not depend on it).

    Returns:
        ``(indices, valid)``: ``indices`` int32 ``[batch, max_output_size]``, indices into ``num_boxes`` of the kept
        boxes in selection order (descending score, ties lower index first); rows are padded with ``0`` after the
        first ``valid[b]`` entries. ``valid`` int32 ``[batch]``: how many entries of each row are real.
    """
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    scores = ops.cast(ops.convert_to_tensor(scores), "float32")
    num_boxes = boxes.shape[1]
    if num_boxes is None:
        raise ValueError("non_max_suppression_padded needs a static number of boxes (axis 1 of `boxes`)")
    max_output_size = int(max_output_size)
    tile_size = max(1, min(int(tile_size), num_boxes))
    num_tiles = math.ceil(num_boxes / tile_size)
    padded_size = num_tiles * tile_size

    # top_k returns tied scores lower index first, which is the greedy visiting order.
    sorted_scores, order = ops.top_k(scores, k=num_boxes, sorted=True)
    sorted_boxes = ops.take_along_axis(boxes, order[..., None], axis=1)
    candidates = ops.ones_like(sorted_scores, dtype="bool")
    if score_threshold is not None:
        candidates = sorted_scores > score_threshold
    if class_ids is None:
        sorted_classes = ops.zeros_like(order)
    else:
        sorted_classes = ops.take_along_axis(ops.cast(class_ids, "int32"), order, axis=1)

    padding = padded_size - num_boxes
    sorted_boxes = ops.pad(sorted_boxes, [[0, 0], [0, padding], [0, 0]])
    candidates = ops.pad(candidates, [[0, 0], [0, padding]], constant_values=False)
    sorted_classes = ops.pad(sorted_classes, [[0, 0], [0, padding]])
    batch = ops.shape(boxes)[0]
    tiled_boxes = ops.reshape(sorted_boxes, [batch, num_tiles, tile_size, 4])
    tiled_candidates = ops.reshape(candidates, [batch, num_tiles, tile_size])
    tiled_classes = ops.reshape(sorted_classes, [batch, num_tiles, tile_size])

    # The kept list holds positions in the sorted order; slots >= max_output_size are scratch space for the boxes
    # of a tile that do not fit, so every scatter index is distinct.
    buffer_size = max_output_size + tile_size
    slots = ops.arange(max_output_size, dtype="int32")
    tile_offsets = ops.arange(tile_size, dtype="int32")
    earlier_in_tile = tile_offsets[:, None] < tile_offsets[None, :]  # [j, k]: j is visited before k
    image_offsets = ops.arange(batch, dtype="int32")[:, None] * buffer_size

    def suppression(earlier_boxes, earlier_classes, later_boxes, later_classes):
        """[B, E, L]: would a kept earlier box remove the later one?"""
        suppressed = box_iou(earlier_boxes, later_boxes) > iou_threshold
        if empty_box_suppresses_class:
            suppressed = ops.logical_or(suppressed, (box_areas(earlier_boxes) <= 0.0)[:, :, None])
        if class_ids is not None:
            suppressed = ops.logical_and(suppressed, earlier_classes[:, :, None] == later_classes[:, None, :])
        return suppressed

    def more_to_do(tile, count, kept_positions):
        return ops.logical_and(tile < num_tiles, ops.any(count < max_output_size))

    def resolve_tile(tile, count, kept_positions):
        tile_boxes = ops.take(tiled_boxes, tile, axis=1)  # [B, T, 4]
        tile_classes = ops.take(tiled_classes, tile, axis=1)
        alive = ops.take(tiled_candidates, tile, axis=1)

        kept_index = kept_positions[:, :max_output_size]
        kept_boxes = ops.take_along_axis(sorted_boxes, kept_index[..., None], axis=1)  # [B, M, 4]
        kept_classes = ops.take_along_axis(sorted_classes, kept_index, axis=1)
        slot_used = slots[None, :] < count[:, None]  # [B, M]
        by_kept = ops.logical_and(suppression(kept_boxes, kept_classes, tile_boxes, tile_classes),
                                  slot_used[:, :, None])
        alive = ops.logical_and(alive, ops.logical_not(ops.any(by_kept, axis=1)))

        suppresses = ops.logical_and(suppression(tile_boxes, tile_classes, tile_boxes, tile_classes),
                                     earlier_in_tile[None])

        def changing(keep, changed):
            return changed

        def refine(keep, changed):
            suppressed = ops.any(ops.logical_and(suppresses, keep[:, :, None]), axis=1)
            new_keep = ops.logical_and(alive, ops.logical_not(suppressed))
            return new_keep, ops.any(ops.not_equal(new_keep, keep))

        keep, _ = ops.while_loop(changing, refine, (alive, ops.convert_to_tensor(True)))

        rank = ops.cumsum(ops.cast(keep, "int32"), axis=1) - 1
        destination = count[:, None] + rank
        fits = ops.logical_and(keep, destination < max_output_size)
        destination = ops.where(fits, destination, max_output_size + tile_offsets[None, :])
        positions = tile * tile_size + tile_offsets
        flat_positions = ops.scatter_update(
            ops.reshape(kept_positions, [-1]),
            ops.reshape(destination + image_offsets, [-1, 1]),
            ops.reshape(ops.broadcast_to(positions[None, :], ops.shape(destination)), [-1]),
        )
        count = ops.minimum(count + ops.sum(ops.cast(keep, "int32"), axis=1), max_output_size)
        return tile + 1, count, ops.reshape(flat_positions, [batch, buffer_size])

    _, valid, kept_positions = ops.while_loop(
        more_to_do, resolve_tile,
        (ops.convert_to_tensor(0, dtype="int32"), ops.zeros([batch], dtype="int32"),
         ops.zeros([batch, buffer_size], dtype="int32")),
    )
    indices = ops.take_along_axis(order, kept_positions[:, :max_output_size], axis=1)
    indices = ops.where(slots[None, :] < valid[:, None], indices, 0)
    return indices, valid
