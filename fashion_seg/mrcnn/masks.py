"""Instance masks between their three sizes: full image, mini-mask (``MINI_MASK_SHAPE``), and head output (28x28).

- :func:`minimize_mask` / :func:`expand_mask`: full-size bool masks <-> mini-masks cropped to their boxes (training
  memory saver, as matterport).
- :func:`paste_masks`: the head's float masks -> full-size bool masks inside their pixel boxes, thresholded
  (``unmold_mask`` in matterport). It resamples the way matterport's scikit-image call does (bilinear,
  pixel-centre aligned, zero outside the 28x28 grid, clipped to the input's range) but as two small matrix products per
  mask, so it costs O(box area) instead of a general image warp.
"""

from __future__ import annotations

import cv2
import numpy as np


def minimize_mask(boxes: np.ndarray, masks: np.ndarray, mini_shape: tuple[int, int]) -> np.ndarray:
    """Crop each ``[H, W, N]`` mask to its pixel box and resize it to ``mini_shape``: bool ``[h, w, N]``.

    Shrinking uses area averaging (no aliasing of thin parts), enlarging bilinear; a pixel is in when >= 0.5.
    """
    mini = np.zeros(tuple(mini_shape) + (masks.shape[-1],), dtype=bool)
    for i in range(masks.shape[-1]):
        y1, x1, y2, x2 = (int(v) for v in boxes[i][:4])
        if y2 <= y1 or x2 <= x1:
            raise ValueError(f"instance {i}: invalid bounding box {tuple(boxes[i][:4])} with area of zero")
        crop = masks[y1:y2, x1:x2, i].astype(np.float32)
        shrinking = crop.shape[0] * crop.shape[1] > mini_shape[0] * mini_shape[1]
        resized = cv2.resize(crop, (mini_shape[1], mini_shape[0]),
                             interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        mini[:, :, i] = resized >= 0.5
    return mini


def expand_mask(boxes: np.ndarray, mini_masks: np.ndarray, image_shape) -> np.ndarray:
    """Inverse of :func:`minimize_mask`: paste each mini-mask into its pixel box of a full ``image_shape`` canvas."""
    masks = np.zeros(tuple(image_shape[:2]) + (mini_masks.shape[-1],), dtype=bool)
    for i in range(mini_masks.shape[-1]):
        y1, x1, y2, x2 = (int(v) for v in boxes[i][:4])
        if y2 <= y1 or x2 <= x1:
            continue
        resized = cv2.resize(mini_masks[:, :, i].astype(np.float32), (x2 - x1, y2 - y1),
                             interpolation=cv2.INTER_LINEAR)
        masks[y1:y2, x1:x2, i] = resized >= 0.5
    return masks


def bilinear_weights(source_size: int, output_size: int) -> np.ndarray:
    """``[output_size, source_size]`` matrix of pixel-centre-aligned bilinear weights, zero outside the source.

    Output pixel ``i`` samples the source at ``(i + 0.5) * source_size / output_size - 0.5``.
    """
    position = (np.arange(output_size, dtype=np.float64) + 0.5) * (source_size / output_size) - 0.5
    lower = np.floor(position)
    fraction = position - lower
    lower = lower.astype(np.int64)
    weights = np.zeros((output_size, source_size + 2), dtype=np.float64)  # one guard column on each side
    rows = np.arange(output_size)
    weights[rows, lower + 1] = 1.0 - fraction  # the two weights of a row are in two different columns
    weights[rows, lower + 2] = fraction
    return weights[:, 1:-1].copy()


def resize_probabilities(mask: np.ndarray, output_shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of one float ``[h, w]`` mask, zero beyond its edge, clipped to the mask's own range
    (scikit-image's ``resize(..., mode="constant", clip=True)`` semantics)."""
    mask = np.asarray(mask, dtype=np.float64)
    rows = bilinear_weights(mask.shape[0], int(output_shape[0]))
    cols = bilinear_weights(mask.shape[1], int(output_shape[1]))
    out = rows @ mask @ cols.T
    low, high = mask.min(), mask.max()
    if low <= 0.0 <= high:
        return np.clip(out, low, high)
    exact_zero = out == 0.0  # scikit-image keeps the constant fill value where it lies outside the input range
    out = np.clip(out, low, high)
    out[exact_zero] = 0.0
    return out


def paste_mask(mask: np.ndarray, box, image_shape, threshold: float = 0.5) -> np.ndarray:
    """One head mask ``[h, w]`` float -> bool ``image_shape[:2]`` canvas, filled inside pixel ``box`` where the
    resized probability is >= ``threshold`` (matterport's ``unmold_mask``)."""
    return paste_masks(np.asarray(mask)[None], np.asarray(box)[None], image_shape, threshold)[:, :, 0]


def paste_masks(masks: np.ndarray, boxes: np.ndarray, image_shape, threshold: float = 0.5) -> np.ndarray:
    """``[N, h, w]`` head masks and ``[N, (y1, x1, y2, x2)]`` pixel boxes -> bool ``[H, W, N]``.

    The result is a transposed view of an ``[N, H, W]`` array, so ``masks[:, :, i]`` is contiguous. Parts of a box
    outside the image are cut off after resampling (the mask keeps its shape relative to its box).
    """
    height, width = (int(v) for v in image_shape[:2])
    full = np.zeros((len(masks), height, width), dtype=bool)
    for i, (mask, box) in enumerate(zip(masks, boxes)):
        y1, x1, y2, x2 = (int(v) for v in box)
        if y2 <= y1 or x2 <= x1:
            continue
        inside = resize_probabilities(mask, (y2 - y1, x2 - x1)) >= threshold
        top, left = max(y1, 0), max(x1, 0)
        bottom, right = min(y2, height), min(x2, width)
        if bottom > top and right > left:
            full[i, top:bottom, left:right] = inside[top - y1:bottom - y1, left - x1:right - x1]
    return np.moveaxis(full, 0, -1)
