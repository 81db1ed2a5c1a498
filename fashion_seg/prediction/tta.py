"""Test-time augmentation (horizontal flip, several scales) and the merging of detections from several augmentations
and checkpoints.

An :class:`Augmentation` changes how an image is fed to the network (mirrored; molded at a larger or smaller square)
and knows how to bring the detections back: boxes come back in original-image pixels through the molding window
whatever the scale, and a flip is undone by mirroring boxes and mask grids.

:func:`merge_detections` combines the detections that several sources (augmentations x checkpoints) made of one image,
as the 1st place did (boxes and scores of all sources pooled, then class-aware NMS; mask probabilities averaged before
binarisation): detections are visited by descending score; each one not yet taken becomes a merged detection and
takes every detection of its class overlapping it with IoU > ``iou``. From each source the taken detection that
overlaps it most speaks for that source:

- score: the mean over ALL sources of their speaker's score (0 for a source that found nothing there), so what
  several augmentations agree on ranks above what one of them alone saw;
- box: the visiting detection's own box;
- mask: the mean of the speakers' mask probabilities, each resampled from its own box onto the grid of the merged box;
- attributes (a model with an attribute head): the mean of the speakers' attribute probabilities, matched as the
  scores are. Unlike the score it is a mean over the speakers only: an attribute probability says what the object is
  like given that it is there, and a source that did not see the object says nothing about that.

With a single source this is plain class-aware NMS at ``iou``. Merging a checkpoint's detections with an identical
copy of themselves gives the single checkpoint's detections back exactly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..mrcnn.boxes import compute_overlaps
from ..mrcnn.molding import mold_inputs
from .detections import Detections, concatenate

DEFAULT_MERGE_IOU = 0.5


@dataclass(frozen=True)
class Augmentation:
    """One way to show an image to the network: mirrored left-right (``flip``) and/or molded at ``scale`` times the
    config's image size (rounded to a multiple of 64)."""

    flip: bool = False
    scale: float = 1.0

    def __post_init__(self):
        if not 0.1 <= self.scale <= 4:
            raise ConfigError(f"TTA scale {self.scale} is out of range [0.1, 4]")

    @property
    def name(self) -> str:
        return ("flip" if self.flip else "orig") + ("" if self.scale == 1 else f"@{self.scale:g}")

    def config(self, config):
        """A copy of ``config`` molding at this scale (``IMAGE_MAX_DIM``/``IMAGE_MIN_DIM`` scaled, multiples of 64
        where the mode needs them); ``config`` itself at scale 1."""
        mode = config.IMAGE_RESIZE_MODE
        if mode == "crop":
            raise ConfigError("IMAGE_RESIZE_MODE='crop' is for training (random crops); predict with 'square' or "
                              "'pad64' (e.g. --set IMAGE_RESIZE_MODE=square)")
        if self.scale == 1:
            return config
        if mode == "none":
            raise ConfigError("scale TTA needs IMAGE_RESIZE_MODE 'square' or 'pad64' (with 'none' the image is fed "
                              "as it is)")
        scaled = copy.copy(config)
        if mode == "square":
            scaled.IMAGE_MAX_DIM = _multiple_of_64(config.IMAGE_MAX_DIM * self.scale)
            ratio = scaled.IMAGE_MAX_DIM / config.IMAGE_MAX_DIM
            scaled.IMAGE_MIN_DIM = round(config.IMAGE_MIN_DIM * ratio) if config.IMAGE_MIN_DIM else config.IMAGE_MIN_DIM
        else:  # pad64: the image is brought up to IMAGE_MIN_DIM / IMAGE_MIN_SCALE, then padded
            scaled.IMAGE_MIN_DIM = _multiple_of_64(config.IMAGE_MIN_DIM * self.scale)
            if config.IMAGE_MIN_SCALE:
                scaled.IMAGE_MIN_SCALE = config.IMAGE_MIN_SCALE * self.scale
        return scaled

    def mold(self, images: Sequence[np.ndarray], config):
        """``(molded [B, H, W, 3] float32, metas [B, IMAGE_META_SIZE], windows [B, 4])`` of the augmented images
        (``config``: this augmentation's :meth:`config`)."""
        if self.flip:
            images = [np.ascontiguousarray(image[:, ::-1]) for image in images]
        return mold_inputs(images, config)

    def undo(self, detections: Detections) -> Detections:
        """Detections made on the augmented image -> detections on the original image."""
        return detections.flip_horizontal() if self.flip else detections


def _multiple_of_64(value: float) -> int:
    return max(64, int(round(value / 64)) * 64)


def parse_tta(text: str | None) -> list[Augmentation]:
    """``"flip"``, ``"scales=0.8,1,1.2"`` or ``"flip,scales=0.8,1,1.2"`` -> every combination (the plain image first);
    ``None``, ``""`` or ``"none"`` -> the plain image only."""
    if text is None or text.strip().lower() in ("", "none"):
        return [Augmentation()]
    flips, scales = [False], [1.0]
    head, _, scale_text = text.partition("scales=")
    words = [w.strip() for w in head.split(",") if w.strip()]
    for word in words:
        if word != "flip":
            raise ConfigError(f"--tta {text!r}: unknown part {word!r}; write e.g. 'flip', 'scales=0.8,1,1.2' or "
                              "'flip,scales=0.8,1,1.2'")
        flips = [False, True]
    if scale_text:
        try:
            scales = [float(s) for s in scale_text.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"--tta {text!r}: scales must be numbers, e.g. scales=0.8,1,1.2") from None
        if not scales or len(set(scales)) != len(scales):
            raise ConfigError(f"--tta {text!r}: give distinct scales, e.g. scales=0.8,1,1.2")
        if 1.0 in scales:  # the plain image first
            scales.remove(1.0)
            scales.insert(0, 1.0)
    return [Augmentation(flip, scale) for scale in scales for flip in flips]


# ------------------------------------------------------------------------------------------------------------ merging


def merge_detections(sources: Sequence[Detections], iou: float = DEFAULT_MERGE_IOU) -> Detections:
    """Merge one image's detections from several sources (see the module docstring). Returns detections sorted by
    descending score, float32 masks."""
    if not sources:
        raise ValueError("no detections to merge")
    pooled = concatenate(sources)
    if len(pooled) == 0:
        return Detections.empty(pooled.image_shape, pooled.masks.shape[1:], pooled.num_attributes)
    source_of = np.concatenate([np.full(len(s), i) for i, s in enumerate(sources)])
    overlaps = compute_overlaps(pooled.boxes, pooled.boxes)
    same_class = pooled.class_ids[:, None] == pooled.class_ids[None, :]
    order = np.argsort(-pooled.scores, kind="stable")
    taken = np.zeros(len(pooled), dtype=bool)
    boxes, class_ids, scores, masks, attributes = [], [], [], [], []
    for seed in order:
        if taken[seed]:
            continue
        members = ~taken & same_class[seed] & (overlaps[seed] > iou)
        members[seed] = True
        taken |= members
        score_sum = 0.0
        mask_sum = np.zeros(pooled.masks.shape[1:], np.float64)
        attribute_sum = 0.0
        speakers = 0
        for source in range(len(sources)):
            candidates = np.flatnonzero(members & (source_of == source))
            if len(candidates) == 0:
                continue
            if source == source_of[seed]:
                speaker = seed
            else:  # the most overlapping; ties: the higher score, then the earlier
                speaker = candidates[np.lexsort((candidates, -pooled.scores[candidates],
                                                 -overlaps[seed, candidates]))[0]]
            score_sum += float(pooled.scores[speaker])
            mask_sum += _resample_mask(pooled.masks[speaker], pooled.boxes[speaker], pooled.boxes[seed])
            if pooled.attributes is not None:
                attribute_sum = attribute_sum + pooled.attributes[speaker].astype(np.float64)
            speakers += 1
        boxes.append(pooled.boxes[seed])
        class_ids.append(pooled.class_ids[seed])
        scores.append(score_sum / len(sources))
        masks.append(mask_sum / speakers)
        attributes.append(attribute_sum / speakers)
    merged = Detections(np.array(boxes), np.array(class_ids, np.int32), np.array(scores, np.float32),
                        np.array(masks, np.float32), pooled.image_shape,
                        None if pooled.attributes is None else np.array(attributes, np.float32))
    return merged.order_by_score()


def _resample_mask(mask: np.ndarray, source_box: np.ndarray, target_box: np.ndarray) -> np.ndarray:
    """A probability grid over ``source_box`` -> the same-shaped grid over ``target_box`` (bilinear, zero beyond the
    source grid), as float32 values. Equal boxes give the mask back exactly."""
    mask = np.asarray(mask, dtype=np.float32)
    rows = _axis_weights(source_box[0], source_box[2], target_box[0], target_box[2], mask.shape[0])
    cols = _axis_weights(source_box[1], source_box[3], target_box[1], target_box[3], mask.shape[1])
    return (rows @ mask.astype(np.float64) @ cols.T).astype(np.float32)


def _axis_weights(source_low: float, source_high: float, target_low: float, target_high: float,
                  cells: int) -> np.ndarray:
    """``[cells, cells]`` bilinear weights: target cell ``i`` (centre at ``target_low + (i + 0.5) * target_step``)
    samples the source grid at its own cell coordinate; weights to positions beyond the grid are dropped (zero)."""
    source_size = source_high - source_low
    # written so that equal boxes give the positions 0, 1, 2, ... exactly (an identity matrix)
    position = (target_low - source_low) * cells / source_size \
        + (np.arange(cells) + 0.5) * ((target_high - target_low) / source_size) - 0.5
    lower = np.floor(position)
    fraction = position - lower
    lower = lower.astype(np.int64)
    weights = np.zeros((cells, cells + 2))  # a guard column on each side collects the weight beyond the grid
    rows = np.arange(cells)
    np.add.at(weights, (rows, np.clip(lower + 1, 0, cells + 1)), 1.0 - fraction)
    np.add.at(weights, (rows, np.clip(lower + 2, 0, cells + 1)), fraction)
    return weights[:, 1:-1]
