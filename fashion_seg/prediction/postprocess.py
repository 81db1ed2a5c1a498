"""Post-processing: raw detections -> the final masks of one image, at the submission size.

Steps, in order (:func:`postprocess`), each set by a :class:`PostProcessing` value:

1. drop detections below ``min_score`` and of the categories in ``drop_categories``;
2. class-aware NMS at ``nms_iou`` (boxes of different classes never suppress each other);
3. keep the ``max_detections`` best;
4. paste each mask's probabilities straight into the OUTPUT grid (512x512 by default: the image squashed to a square,
   as the competition scored) and binarise at ``mask_threshold`` (a pixel is in when its probability is >= it);
5. same-class hard overlap suppression in score order: the competition requires that no two masks of the same
   (ImageId, ClassId) share a pixel; masks of different classes may overlap (a sleeve inside its jacket);
6. drop masks left with fewer than ``min_area`` pixels (counted at the output size) or none.

ClassIds: a detection's category, or, from a model with an attribute head and the run's ``attributes.json`` (a
:class:`~fashion_seg.prediction.class_ids.ClassIdComposer`), its category plus the attributes at or above their thresholds
(``attribute_threshold``, and per attribute supercategory ``attribute_thresholds``), except for the categories in
``category_only``. Step 5 compares these full ClassIds, as the competition does. Without a composer or without
attribute probabilities the attribute settings change nothing.

Pasting at the output size rather than at the image's full size and then resizing is what keeps this cheap for large
images. At the native size, boxes round exactly as matterport's ``unmold_detections`` rounds them and masks are
resampled as its ``unmold_mask`` does, so step 4 reproduces matterport's masks.

Settings and presets (``matterport``, ``first_place``, and the JSON files ``tune`` writes): :mod:`.settings`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..data import rle
from ..data.imaterialist import SUBMISSION_SIZE
from ..mrcnn.boxes import compute_overlaps
from ..mrcnn.masks import bilinear_weights
from .class_ids import ClassIdComposer
from .detections import Detections
from .settings import PostProcessing


# ---------------------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Instances:
    """One image's final predictions on an output grid of ``shape`` (height, width), best first.

    Each mask is kept as the crop of its box: ``boxes`` int32 ``[N, (y1, x1, y2, x2)]`` on the grid (y2, x2
    exclusive, inside the grid) and ``crops`` bool ``[y2 - y1, x2 - x1]``, so that memory and time follow the boxes'
    area, not the image's. No two masks of one ClassId share a pixel; none is empty. ``class_ids``: ClassId strings;
    ``scores``: float32 ``[N]``, descending.
    """

    shape: tuple[int, int]
    boxes: np.ndarray
    crops: list[np.ndarray]
    class_ids: list[str]
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.class_ids)

    def masks(self) -> np.ndarray:
        """The full masks, bool ``[H, W, N]`` (each mask contiguous: a view of ``[N, H, W]``)."""
        full = np.zeros((len(self),) + tuple(self.shape), dtype=bool)
        for i, ((y1, x1, y2, x2), crop) in enumerate(zip(self.boxes, self.crops)):
            full[i, y1:y2, x1:x2] = crop
        return np.moveaxis(full, 0, -1)

    def runs(self) -> list[rle.Runs]:
        """Each mask's runs (column-major, on the output grid)."""
        return [rle.runs_from_crop(crop, int(box[0]), int(box[1]), self.shape[0])
                for box, crop in zip(self.boxes, self.crops)]

    def rows(self, image_id: str) -> list[tuple[str, str, str, float]]:
        """``(ImageId, EncodedPixels, ClassId, score)`` per mask (Kaggle RLE on this grid), best first; no row for
        an image without masks (the submission writer adds the placeholder)."""
        return [(image_id, rle.format_runs(runs), class_id, float(score))
                for runs, class_id, score in zip(self.runs(), self.class_ids, self.scores)]

    def coco(self) -> list[tuple[dict, str, float]]:
        """``(pycocotools RLE, ClassId, score)`` per mask: the instances :mod:`fashion_seg.evaluation.metrics` scores."""
        return [(rle.runs_to_coco(runs, *self.shape), class_id, float(score))
                for runs, class_id, score in zip(self.runs(), self.class_ids, self.scores)]


def class_aware_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS within each class: visiting boxes by descending score (ties: the earlier first), keep a box unless a
    kept box of its class overlaps it with IoU > ``iou``. Returns the kept indices in visiting order.
    ``boxes``: ``[N, (y1, x1, y2, x2)]``."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    class_ids = np.asarray(class_ids)
    suppresses = (compute_overlaps(boxes, boxes) > iou) & (class_ids[:, None] == class_ids[None, :])
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep = []
    for index in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        if not suppressed[index]:
            keep.append(index)
            suppressed |= suppresses[index]
    return np.asarray(keep, dtype=np.int64)


def output_shape(image_shape, size: int | None) -> tuple[int, int]:
    """The mask grid: ``size`` x ``size``, or the image's own ``(height, width)`` when ``size`` is None."""
    return (int(image_shape[0]), int(image_shape[1])) if size is None else (int(size), int(size))


def select(detections: Detections, settings: PostProcessing, categories: np.ndarray) -> Detections:
    """Steps 1-3: the detections that survive the score threshold, class filter, NMS and the count limit, best
    first. ``categories``: category id of each model class id (index = class id)."""
    keep = detections.scores >= settings.min_score
    if settings.drop_categories:
        keep &= ~np.isin(categories[detections.class_ids], settings.drop_categories)
    candidates = detections.select(np.flatnonzero(keep))
    order = class_aware_nms(candidates.boxes, candidates.scores, candidates.class_ids, settings.nms_iou)
    return candidates.select(order[:settings.max_detections])


def grid_boxes(detections: Detections, shape: tuple[int, int]) -> np.ndarray:
    """Boxes on the ``shape`` grid (the image squashed or stretched to it), rounded: int32 ``[N, 4]``. At the image's
    own size these are matterport's integer ``rois``."""
    height, width = detections.image_shape
    scale = np.array([shape[0] / height, shape[1] / width, shape[0] / height, shape[1] / width])
    return np.around(detections.boxes * scale).astype(np.int32)


def paste_crops(detections: Detections, shape: tuple[int, int], threshold: float
                ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Step 4: each mask resampled into its box on the ``shape`` grid and binarised (>= ``threshold``), as matterport's
    ``unmold_mask`` (:func:`fashion_seg.mrcnn.masks.paste_masks`) would, but only over the part of the box inside
    the grid. Returns (visible boxes int32 ``[N, 4]``, bool crops)."""
    boxes = grid_boxes(detections, shape)
    visible = np.empty_like(boxes)
    crops = []
    for i, (mask, (y1, x1, y2, x2)) in enumerate(zip(detections.masks, boxes)):
        top, left = min(max(y1, 0), shape[0]), min(max(x1, 0), shape[1])
        bottom, right = max(min(y2, shape[0]), top), max(min(x2, shape[1]), left)
        visible[i] = (top, left, bottom, right)
        if y2 <= y1 or x2 <= x1 or bottom == top or right == left:
            crops.append(np.zeros((bottom - top, right - left), bool))
            continue
        rows = _bilinear_weights(mask.shape[0], int(y2 - y1))[top - y1:bottom - y1]
        cols = _bilinear_weights(mask.shape[1], int(x2 - x1))[left - x1:right - x1]
        crops.append(_binarise(rows, np.asarray(mask, np.float64), cols, threshold))
    return visible, crops


def _binarise(rows: np.ndarray, mask: np.ndarray, cols: np.ndarray, threshold: float) -> np.ndarray:
    """``resize_probabilities(mask, ...) >= threshold`` (:mod:`fashion_seg.mrcnn.masks`) for the output pixels
    selected by the weight rows, without materialising its clipping to the mask's range: clipping to
    ``[low, high]`` changes no comparison with a threshold inside that range."""
    low, high = float(mask.min()), float(mask.max())
    shape = (len(rows), len(cols))
    if threshold > high:
        return np.zeros(shape, bool)
    zero_in_range = low <= 0.0 <= high
    if threshold <= low and zero_in_range:
        return np.ones(shape, bool)
    resized = rows @ mask @ cols.T
    result = np.ones(shape, bool) if threshold <= low else resized >= threshold
    if not zero_in_range:  # scikit-image keeps exact zeros (no source pixel reached) out of the clipping
        result[resized == 0.0] = 0.0 >= threshold
    return result


def _bilinear_weights(source_size: int, output_size: int) -> np.ndarray:
    """:func:`fashion_seg.mrcnn.masks.bilinear_weights`, remembered for the box sides of a 512x512 submission grid,
    which come back image after image (at most ~30 MB of them)."""
    if output_size <= _CACHED_SIDES:
        return _cached_weights(source_size, output_size)
    return bilinear_weights(source_size, output_size)


_CACHED_SIDES = 640


@functools.lru_cache(maxsize=2 * _CACHED_SIDES)
def _cached_weights(source_size: int, output_size: int) -> np.ndarray:
    weights = bilinear_weights(source_size, output_size)
    weights.flags.writeable = False
    return weights


def suppress_overlaps(boxes: np.ndarray, crops: list[np.ndarray], labels: Sequence, order: Sequence[int]) -> None:
    """Step 5 on crops, in place: visiting masks in ``order`` (best first), each loses the pixels of the earlier
    visited masks with the same label. Only pairs whose boxes intersect are compared."""
    order = list(order)
    for rank, i in enumerate(order):
        y1, x1, y2, x2 = boxes[i]
        for j in order[:rank]:
            if labels[j] != labels[i]:
                continue
            top, left = max(y1, boxes[j][0]), max(x1, boxes[j][1])
            bottom, right = min(y2, boxes[j][2]), min(x2, boxes[j][3])
            if bottom <= top or right <= left:
                continue
            mine = crops[i][top - y1:bottom - y1, left - x1:right - x1]
            mine &= ~crops[j][top - boxes[j][0]:bottom - boxes[j][0], left - boxes[j][1]:right - boxes[j][1]]


def class_id_labels(detections: Detections, settings: PostProcessing, categories: np.ndarray,
                    composer: ClassIdComposer | None = None) -> list[str]:
    """The ClassId string of each detection: its category, with its attributes when there are a ``composer`` and
    attribute probabilities (see the module docstring)."""
    category_of = categories[detections.class_ids]
    if composer is None or detections.attributes is None:
        return [str(c) for c in category_of]
    thresholds = composer.thresholds(settings.attribute_threshold, dict(settings.attribute_thresholds))
    return composer.compose(category_of, detections.attributes, thresholds, settings.category_only)


def postprocess(detections: Detections, settings: PostProcessing, size: int | None = SUBMISSION_SIZE,
                categories: np.ndarray | None = None, composer: ClassIdComposer | None = None) -> Instances:
    """One image's raw detections -> its final instances at ``size`` x ``size`` (None: the image's own size).

    ``categories``: category id of each model class id (index = class id); default ``class_id - 1``, the
    competition's label file registered in order after the background. ``composer``: adds the predicted attributes
    to the ClassIds (:func:`class_id_labels`).
    """
    if categories is None:
        categories = np.arange(-1, int(detections.class_ids.max(initial=0)))
    chosen = select(detections, settings, categories)
    labels = class_id_labels(chosen, settings, categories, composer)
    shape = output_shape(detections.image_shape, size)
    boxes, crops = paste_crops(chosen, shape, settings.mask_threshold)
    suppress_overlaps(boxes, crops, labels, range(len(chosen)))
    keep = [i for i, crop in enumerate(crops) if crop.sum() >= max(1, settings.min_area)]
    return Instances(shape, boxes[keep], [crops[i] for i in keep], [labels[i] for i in keep], chosen.scores[keep])
