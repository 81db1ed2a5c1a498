"""Fixed-shape Mask R-CNN training batches, built with numpy only (no Keras needed).

The batch contract, a dict keyed by the training model's input names (B images, A anchors of ``IMAGE_SHAPE``):

=====================  =========  =============================================================================
key                    dtype      shape and meaning
=====================  =========  =============================================================================
``input_image``        float32    ``[B, H, W, 3]`` molded: RGB minus ``MEAN_PIXEL``; outside the window that is
                                  ``-MEAN_PIXEL`` (zero pixels), as matterport pads
``input_image_meta``   float32    ``[B, IMAGE_META_SIZE]`` (:func:`fashion_seg.mrcnn.molding.compose_image_meta`)
``input_rpn_match``    int32      ``[B, A, 1]``: 1 positive, -1 negative, 0 neutral anchor
``input_rpn_bbox``     float32    ``[B, RPN_TRAIN_ANCHORS_PER_IMAGE, 4]`` positive anchors' deltas / std dev,
                                  first rows, zero-padded
``input_gt_class_ids`` int32      ``[B, MAX_GT_INSTANCES]``, zero-padded
``input_gt_boxes``     float32    ``[B, MAX_GT_INSTANCES, (y1, x1, y2, x2)]`` pixels of the molded image
                                  (y2, x2 exclusive), zero-padded
``input_gt_masks``     bool       ``[B, MINI_MASK_SHAPE[0], MINI_MASK_SHAPE[1], MAX_GT_INSTANCES]`` mini-masks
                                  with ``USE_MINI_MASK``, else ``[B, H, W, MAX_GT_INSTANCES]``; zero-padded
=====================  =========  =============================================================================

With ``config.ATTRIBUTE_HEAD``, two more: ``input_gt_attributes`` float32 ``[B, MAX_GT_INSTANCES, NUM_ATTRIBUTES]``
multi-hot and ``input_gt_attributes_known`` bool ``[B, MAX_GT_INSTANCES]`` (False where the attribute loss is masked,
and on padding). They come from the dataset's attribute targets (:meth:`fashion_seg.mrcnn.dataset.Dataset.
attribute_targets`; for the competition data, the rule of :mod:`fashion_seg.data.attributes`).

An image with more than ``MAX_GT_INSTANCES`` instances keeps a random subset (its RPN targets use all of them, as
matterport's). An image without instances is a negatives-only example: no GT rows, RPN negatives only.

Randomness: every image of a batch draws from its own generator seeded by ``(seed, epoch, image_id,
occurrence)``, so a batch is a pure function of those numbers: the same in any worker, thread or process.

Broken images: when the dataset cannot produce an image (unreadable file, bad RLE, masks that do not fit, ...;
any :class:`~fashion_seg.errors.DataError`), ``on_broken`` is called with a :class:`BrokenImage` and the slot is
filled with a copy of the first good image of the same batch, so the batch keeps its shape and every example in
it is real. If no image of the batch is good, the slot holds a blank example: a zero image with no GT and every
``rpn_match`` 0, which adds nothing to the RPN losses. Without ``on_broken`` the error is raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Collection, Sequence

import numpy as np

from ..errors import ConfigError, DataError
from .canvas import MultiScale
from .ground_truth import GroundTruth, StageTimes, image_reference, load_ground_truth, timed
from .molding import compose_image_meta
from .rpn_targets import AnchorGrid, build_rpn_targets

INPUT_NAMES = ("input_image", "input_image_meta", "input_rpn_match", "input_rpn_bbox", "input_gt_class_ids",
               "input_gt_boxes", "input_gt_masks")
ATTRIBUTE_INPUT_NAMES = ("input_gt_attributes", "input_gt_attributes_known")


def input_names(config) -> tuple[str, ...]:
    """The keys of a batch for ``config``: :data:`INPUT_NAMES`, and the attribute inputs with ``ATTRIBUTE_HEAD``."""
    return INPUT_NAMES + (ATTRIBUTE_INPUT_NAMES if config.ATTRIBUTE_HEAD else ())


@dataclass(frozen=True)
class BrokenImage:
    """An image that could not be turned into a training example."""

    image_id: int
    reference: str
    error: str
    epoch: int


def image_rng(seed: int, epoch: int, image_id: int, occurrence: int = 0) -> np.random.Generator:
    """The random generator of one example; ``occurrence`` tells apart repeats of an image within an epoch."""
    return np.random.default_rng([int(seed), int(epoch), int(image_id), int(occurrence)])


def build_batch(dataset, image_ids: Sequence[int], config, *, anchors: AnchorGrid | None = None,
                augmentation=None, multiscale: MultiScale | None = None, seed: int = 0, epoch: int = 0,
                occurrences: Sequence[int] | None = None, min_area: int = 1,
                on_broken: Callable[[BrokenImage], None] | None = None, times: StageTimes | None = None,
                attributes=None, no_augmentation_sources: Collection[str] = ()) -> dict[str, np.ndarray]:
    """One training batch of ``image_ids`` (see the module docstring for the contract and the rules).

    ``augmentation``: ``f(image, masks, seed) -> (image, masks)``, e.g. :func:`fashion_seg.data.augmentation.
    make_augmentation`. ``anchors``: the :class:`AnchorGrid` of ``config.IMAGE_SHAPE`` (looked up when omitted).
    ``times``: accumulates seconds per stage (``image``, ``masks``, ``augmentation``, ``instances``,
    ``rpn_targets``, ``assembly``) for benchmarks. ``attributes``: with ``config.ATTRIBUTE_HEAD``, the attribute
    targets, ``f(image_id) -> (vectors float32 [N, NUM_ATTRIBUTES], known bool [N])`` with a ``num_attributes``
    (default: ``dataset.attribute_targets()``, made on each call, so give it when building many batches).
    ``no_augmentation_sources``: images of these dataset sources are not augmented (matterport's option).
    """
    if config.ATTRIBUTE_HEAD and attributes is None:
        attributes = dataset.attribute_targets()
    if attributes is not None and attributes.num_attributes != config.NUM_ATTRIBUTES:
        raise ConfigError(f"NUM_ATTRIBUTES={config.NUM_ATTRIBUTES} but the attribute vocabulary has "
                          f"{attributes.num_attributes} attributes (set NUM_ATTRIBUTES to the label file's count)")
    canvas = tuple(int(v) for v in config.IMAGE_SHAPE)
    anchors = anchors if anchors is not None else AnchorGrid.for_image(config, canvas)
    occurrences = occurrences if occurrences is not None else [0] * len(image_ids)
    batch = _empty_batch(len(image_ids), config, len(anchors), canvas)
    mean = np.asarray(config.MEAN_PIXEL, dtype=np.float32)
    mean_row = np.tile(mean, canvas[1])
    good, broken = None, []
    for slot, (image_id, occurrence) in enumerate(zip(image_ids, occurrences)):
        rng = image_rng(seed, epoch, image_id, occurrence)
        augment = augmentation
        if no_augmentation_sources and dataset.image_info[int(image_id)]["source"] in no_augmentation_sources:
            augment = None
        try:
            gt = load_ground_truth(dataset, config, int(image_id), augmentation=augment, rng=rng,
                                   multiscale=multiscale, min_area=min_area, times=times,
                                   attributes=attributes if config.ATTRIBUTE_HEAD else None)
        except DataError as error:
            if on_broken is None:
                raise
            on_broken(BrokenImage(int(image_id), image_reference(dataset, image_id), str(error), int(epoch)))
            broken.append(slot)
            continue
        with timed(times, "rpn_targets"):
            rpn_match, rpn_bbox = build_rpn_targets(anchors, gt.class_ids, gt.boxes, config, rng)
        with timed(times, "assembly"):
            _fill_slot(batch, slot, gt, rpn_match, rpn_bbox, mean_row, config, rng)
        good = slot if good is None else good
    for slot in broken:
        if good is not None:
            for name in input_names(config):
                batch[name][slot] = batch[name][good]
        else:
            batch["input_image"][slot] = -mean
            batch["input_image_meta"][slot] = compose_image_meta(
                image_ids[slot], canvas, canvas, (0, 0) + canvas[:2], 1.0, np.zeros(config.NUM_CLASSES, np.int32))
    return batch


def _empty_batch(size: int, config, num_anchors: int, canvas) -> dict[str, np.ndarray]:
    mask_shape = tuple(config.MINI_MASK_SHAPE) if config.USE_MINI_MASK else canvas[:2]
    max_gt = config.MAX_GT_INSTANCES
    batch = {
        "input_image": np.empty((size,) + canvas, dtype=np.float32),
        "input_image_meta": np.zeros((size, config.IMAGE_META_SIZE), dtype=np.float32),
        "input_rpn_match": np.zeros((size, num_anchors, 1), dtype=np.int32),
        "input_rpn_bbox": np.zeros((size, config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4), dtype=np.float32),
        "input_gt_class_ids": np.zeros((size, max_gt), dtype=np.int32),
        "input_gt_boxes": np.zeros((size, max_gt, 4), dtype=np.float32),
        "input_gt_masks": np.zeros((size,) + mask_shape + (max_gt,), dtype=bool),
    }
    if config.ATTRIBUTE_HEAD:
        batch["input_gt_attributes"] = np.zeros((size, max_gt, config.NUM_ATTRIBUTES), dtype=np.float32)
        batch["input_gt_attributes_known"] = np.zeros((size, max_gt), dtype=bool)
    return batch


def _fill_slot(batch, slot: int, gt: GroundTruth, rpn_match, rpn_bbox, mean_row, config, rng) -> None:
    """Write one example into row ``slot`` of the batch. ``mean_row``: ``MEAN_PIXEL`` tiled along a canvas row."""
    y1, x1, y2, x2 = gt.window
    # Molding works on [rows, width * 3] views: numpy broadcasting a 3-vector over [H, W, 3] is ~4x slower.
    image = batch["input_image"][slot].reshape(gt.canvas_shape[0], -1)
    image[:y1] = -mean_row  # zero pixels, molded
    image[y2:] = -mean_row
    image[y1:y2, :3 * x1] = -mean_row[:3 * x1]
    image[y1:y2, 3 * x2:] = -mean_row[3 * x2:]
    content = gt.content.reshape(y2 - y1, -1)
    np.subtract(content, mean_row[:content.shape[1]], out=image[y1:y2, 3 * x1:3 * x2], dtype=np.float32)
    batch["input_image_meta"][slot] = gt.image_meta
    batch["input_rpn_match"][slot, :, 0] = rpn_match
    batch["input_rpn_bbox"][slot] = rpn_bbox

    keep = np.arange(len(gt.class_ids))
    if len(keep) > config.MAX_GT_INSTANCES:
        keep = np.sort(rng.choice(len(keep), config.MAX_GT_INSTANCES, replace=False))
    count = len(keep)
    batch["input_gt_class_ids"][slot, :count] = gt.class_ids[keep]
    batch["input_gt_boxes"][slot, :count] = gt.boxes[keep]
    if gt.attributes is not None:
        batch["input_gt_attributes"][slot, :count] = gt.attributes[keep]
        batch["input_gt_attributes_known"][slot, :count] = gt.attributes_known[keep]
    masks = batch["input_gt_masks"][slot]
    for column, instance in enumerate(keep):
        if gt.mini_masks:
            masks[:, :, column] = gt.masks[instance]
        else:
            masks[y1:y2, x1:x2, column] = gt.masks[instance]

