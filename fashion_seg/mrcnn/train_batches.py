"""Training batches with matterport's epoch semantics: ``STEPS_PER_EPOCH`` batches per epoch, a simple PyDataset.

The images are an endless stream of passes over the dataset, each pass a permutation seeded by ``(seed, pass)``;
batch ``i`` of epoch ``e`` holds stream positions ``(e * steps + i) * B`` onwards. So every image is seen once per
pass whatever the number of steps per epoch, and a batch is a pure function of ``(seed, epoch, i)``: safe in worker
threads or processes, and the same after a resume at epoch ``e`` (:meth:`TrainingBatches.set_epoch`). Validation
batches (``training=False``) walk the dataset in order, without augmentation, the same images every epoch.

Each example is :func:`fashion_seg.mrcnn.targets.load_image_gt` plus
:func:`fashion_seg.mrcnn.targets.build_rpn_targets`, assembled into the training model's inputs (see
:mod:`fashion_seg.mrcnn.training_graph`). An image the dataset cannot produce (:class:`~fashion_seg.errors.DataError`)
is logged and replaced by the next image of the stream; the fast parallel pipeline is
:mod:`fashion_seg.data.pipeline`, which ``train()`` also accepts.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from ..errors import ConfigError, DataError
from .targets import AnchorGrid, build_rpn_targets, load_image_gt

log = logging.getLogger(__name__)


class TrainingBatches(keras.utils.PyDataset):
    """``steps`` batches of ``config.BATCH_SIZE`` examples per epoch from a prepared :class:`~fashion_seg.mrcnn.
    dataset.Dataset`, as dicts keyed by the training model's input names.

    augmentation: ``f(image, masks, seed) -> (image, masks)`` (see :func:`load_image_gt`), not applied to images of
    the ``no_augmentation_sources``. workers / use_multiprocessing / max_queue_size: Keras's PyDataset options.
    """

    def __init__(self, dataset, config, steps: int, *, training: bool = True, augmentation=None, seed: int = 0,
                 no_augmentation_sources=(), workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if len(dataset.image_ids) == 0:
            raise ConfigError("the dataset has no images (did you call prepare()?)")
        self.dataset = dataset
        self.config = config
        self.steps = int(steps)
        self.training = training
        self.augmentation = augmentation if training else None
        self.no_augmentation_sources = set(no_augmentation_sources or ())
        self.seed = int(seed)
        self.epoch = 0
        self.anchors = AnchorGrid.for_image(config, config.IMAGE_SHAPE)

    def __len__(self) -> int:
        return self.steps

    def set_epoch(self, epoch: int) -> None:
        """Continue with epoch ``epoch`` (0-based), e.g. when training resumes from a checkpoint."""
        self.epoch = int(epoch)

    def on_epoch_end(self) -> None:
        if self.training:
            self.epoch += 1

    def image_at(self, position: int) -> tuple[int, np.random.Generator]:
        """The image id at ``position`` of the stream, and the random generator of that example."""
        count = len(self.dataset.image_ids)
        passage, offset = divmod(int(position), count)
        if not self.training:
            return int(self.dataset.image_ids[offset]), np.random.default_rng([self.seed, offset])
        order = np.random.default_rng([self.seed, passage]).permutation(count)
        return int(self.dataset.image_ids[order[offset]]), np.random.default_rng([self.seed, passage, offset, 1])

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < self.steps:
            raise IndexError(f"batch {index} of {self.steps}")
        size = self.config.BATCH_SIZE
        epoch = self.epoch if self.training else 0
        start = (epoch * self.steps + index) * size
        batch = empty_batch(self.config, len(self.anchors), size)
        position = start
        for slot in range(size):
            position = self._fill(batch, slot, position) + 1
        return batch

    def _fill(self, batch, slot: int, position: int) -> int:
        """Put the first image from stream ``position`` on that the dataset can produce into ``slot``; return the
        position used."""
        for attempt in range(len(self.dataset.image_ids)):
            image_id, rng = self.image_at(position + attempt)
            source = self.dataset.image_info[image_id]["source"]
            augmentation = None if source in self.no_augmentation_sources else self.augmentation
            try:
                image, image_meta, class_ids, boxes, masks = load_image_gt(
                    self.dataset, self.config, image_id, augmentation=augmentation, rng=rng)
            except DataError as error:
                log.warning("skipping image %s: %s", image_id, error)
                continue
            rpn_match, rpn_bbox = build_rpn_targets(self.anchors, class_ids, boxes, self.config, rng)
            fill_example(batch, slot, self.config, image, image_meta, class_ids, boxes, masks, rpn_match, rpn_bbox,
                         rng)
            return position + attempt
        raise DataError(f"none of the {len(self.dataset.image_ids)} images of the dataset could be loaded; see the "
                        "warnings above")


def empty_batch(config, num_anchors: int, size: int) -> dict[str, np.ndarray]:
    """Zero-filled inputs of the training model for ``size`` examples."""
    height, width, channels = (int(v) for v in config.IMAGE_SHAPE)
    mask_shape = tuple(config.MINI_MASK_SHAPE) if config.USE_MINI_MASK else (height, width)
    max_gt = config.MAX_GT_INSTANCES
    return {
        "input_image": np.zeros((size, height, width, channels), np.float32),
        "input_image_meta": np.zeros((size, config.IMAGE_META_SIZE), np.float32),
        "input_rpn_match": np.zeros((size, num_anchors, 1), np.int32),
        "input_rpn_bbox": np.zeros((size, config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4), np.float32),
        "input_gt_class_ids": np.zeros((size, max_gt), np.int32),
        "input_gt_boxes": np.zeros((size, max_gt, 4), np.float32),
        "input_gt_masks": np.zeros((size,) + mask_shape + (max_gt,), bool),
    }


def fill_example(batch, slot, config, image, image_meta, class_ids, boxes, masks, rpn_match, rpn_bbox, rng) -> None:
    """Write one example (:func:`load_image_gt`'s values and its RPN targets) into ``batch[...][slot]``; an image
    with more than ``MAX_GT_INSTANCES`` instances keeps a random subset of them, as matterport's generator."""
    batch["input_image"][slot] = image.astype(np.float32) - np.asarray(config.MEAN_PIXEL, np.float32)
    batch["input_image_meta"][slot] = image_meta
    batch["input_rpn_match"][slot, :, 0] = rpn_match
    batch["input_rpn_bbox"][slot] = rpn_bbox
    keep = np.arange(len(class_ids))
    if len(keep) > config.MAX_GT_INSTANCES:
        keep = np.sort(rng.choice(len(keep), config.MAX_GT_INSTANCES, replace=False))
    batch["input_gt_class_ids"][slot, :len(keep)] = class_ids[keep]
    batch["input_gt_boxes"][slot, :len(keep)] = boxes[keep]
    batch["input_gt_masks"][slot, :, :, :len(keep)] = masks[:, :, keep]
