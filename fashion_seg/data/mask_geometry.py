"""Geometry shared by images and masks: scaled sizes, nearest-neighbour resizing of boolean masks, and the removal
of same-class overlaps (:func:`hard_overlap_suppression`, used by the submission writer and the demo data).

One sampling rule is used everywhere (RLE resize, mask resize, the metric at 512x512): output pixel ``j`` of an axis
of length ``dst`` takes source pixel ``floor((j + 0.5) * src / dst)`` (pixel centres aligned, as OpenCV's
``INTER_NEAREST_EXACT`` and PIL's ``NEAREST`` do), so masks resized from RLE and from arrays agree exactly.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import DataError


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source index for each of ``dst`` output pixels along one axis of length ``src``: int64 ``[dst]``, ascending."""
    if src < 1 or dst < 1:
        raise DataError(f"cannot resize an axis of length {src} to {dst}: both must be at least 1")
    # integer form of floor((j + 0.5) * src / dst), exact for any size
    return (2 * np.arange(dst, dtype=np.int64) + 1) * src // (2 * dst)


def scaled_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """(height, width) after shrinking so that the longer side is at most ``max_side``; aspect ratio kept.

    Never enlarges; ``max_side=None`` keeps the size. Sides are rounded and at least 1.
    """
    if max_side is None or max(height, width) <= max_side:
        return int(height), int(width)
    if max_side < 1:
        raise DataError(f"max_side must be at least 1, got {max_side}")
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_masks(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of masks ``[H, W]`` or ``[H, W, N]`` to ``[height, width(, N)]`` (same dtype)."""
    src_h, src_w = masks.shape[:2]
    if (src_h, src_w) == (height, width):
        return masks
    rows = nearest_indices(src_h, height)
    cols = nearest_indices(src_w, width)
    return masks[rows[:, None], cols[None, :]]


def hard_overlap_suppression(masks: np.ndarray, class_ids: Sequence, scores: Sequence[float]) -> np.ndarray:
    """Remove same-class overlaps in score order.

    ``masks``: ``bool [H, W, N]``; ``class_ids``: ``[N]`` labels compared for equality (ClassId strings or ints);
    ``scores``: ``[N]``. Within each class, masks are visited from the highest score down and each loses the pixels
    already claimed by a higher-scored mask (ties: the earlier index wins). Returns a new ``bool [H, W, N]``; masks
    may end up empty, and the caller decides whether to drop them.
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must be [H, W, N], got shape {masks.shape}")
    count = masks.shape[-1]
    if len(class_ids) != count or len(scores) != count:
        raise ValueError(f"{count} masks but {len(class_ids)} class ids and {len(scores)} scores")
    result = masks.copy(order="K")  # keeps [N, H, W] storage under an [H, W, N] view: each mask stays contiguous
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    claimed: dict = {}
    for index in order:
        label = class_ids[index]
        taken = claimed.get(label)
        if taken is None:
            claimed[label] = result[:, :, index].copy()
        else:
            result[:, :, index] &= ~taken
            taken |= result[:, :, index]
    return result
