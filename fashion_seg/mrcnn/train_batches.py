"""Training batches with matterport's epoch semantics: ``STEPS_PER_EPOCH`` batches per epoch, a simple PyDataset.

The images are an endless stream of passes over the dataset, each pass a permutation seeded by ``(seed, pass)``;
batch ``i`` of epoch ``e`` holds stream positions ``(e * steps + i) * B`` onwards. So every image is seen once per
pass whatever the number of steps per epoch, and a batch is a pure function of ``(seed, epoch, i)``: safe in worker
threads or processes, and the same after a resume at epoch ``e`` (:meth:`TrainingBatches.set_epoch`). Validation
batches (``training=False``) walk the dataset in order, without augmentation, the same images every epoch.

Each example is made by :func:`fashion_seg.data.batches.build_batch` (the batch contract of the training model's
inputs; the random choices of an example come from ``(seed, pass, image)``). An image the dataset cannot produce
(:class:`~fashion_seg.errors.DataError`) is logged and replaced by the next image of the stream.
:class:`fashion_seg.data.pipeline.MaskRCNNBatches` (one pass per epoch, multi-scale, broken-image log) can be given
to ``train()`` instead.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from ..data.attributes import AttributeTargets
from ..data.batches import build_batch, input_names
from ..errors import ConfigError, DataError
from .targets import AnchorGrid

log = logging.getLogger(__name__)


class EpochBatches(keras.utils.PyDataset):
    """A PyDataset of ``steps`` batches per epoch that knows which epoch it serves: training sources move on to the
    next epoch after each one (``on_epoch_end``), validation sources (``training=False``) serve the same batches every
    epoch; ``set_epoch`` resumes (and, from :class:`FollowEpochs`, keeps the source on ``fit``'s epoch).
    Subclasses give ``__getitem__``."""

    def __init__(self, steps: int, training: bool, *, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        self.steps = int(steps)
        self.training = training
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def set_epoch(self, epoch: int) -> None:
        """Continue with epoch ``epoch`` (0-based), e.g. when training resumes from a checkpoint."""
        self.epoch = int(epoch)

    def on_epoch_end(self) -> None:
        if self.training:
            self.epoch += 1


class FollowEpochs(keras.callbacks.Callback):
    """Tells a batch source (anything with ``set_epoch``: :class:`EpochBatches`,
    :class:`~fashion_seg.data.pipeline.MaskRCNNBatches`) the epoch that ``fit`` begins, before its first batch is
    fetched. Counting Keras's ``on_epoch_end`` calls alone is off by one: ``fit`` also calls it once before its first
    epoch, when it resets its iterator after peeking at a batch for the shapes."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


class TrainingBatches(EpochBatches):
    """``steps`` batches of ``config.BATCH_SIZE`` examples per epoch from a prepared :class:`~fashion_seg.mrcnn.
    dataset.Dataset`, as dicts keyed by the training model's input names.

    augmentation: ``f(image, masks, seed) -> (image, masks)`` (e.g. :func:`fashion_seg.data.augmentation.
    make_augmentation`), not applied to images of the ``no_augmentation_sources``. With ``config.ATTRIBUTE_HEAD``
    the dataset's attribute targets (:class:`~fashion_seg.data.attributes.AttributeTargets`) come along.
    workers / use_multiprocessing / max_queue_size: Keras's PyDataset options.
    """

    def __init__(self, dataset, config, steps: int, *, training: bool = True, augmentation=None, seed: int = 0,
                 no_augmentation_sources=(), workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        super().__init__(steps, training, workers=workers, use_multiprocessing=use_multiprocessing,
                         max_queue_size=max_queue_size)
        if len(dataset.image_ids) == 0:
            raise ConfigError("the dataset has no images (did you call prepare()?)")
        self.dataset = dataset
        self.config = config
        self.augmentation = augmentation if training else None
        self.no_augmentation_sources = set(no_augmentation_sources or ())
        self.seed = int(seed)
        self.anchors = AnchorGrid.for_image(config, config.IMAGE_SHAPE)
        self.attributes = AttributeTargets(dataset) if config.ATTRIBUTE_HEAD else None

    def image_at(self, position: int) -> int:
        """The image id at ``position`` of the stream."""
        passage, offset = divmod(int(position), len(self.dataset.image_ids))
        if not self.training:
            return int(self.dataset.image_ids[offset])
        order = np.random.default_rng([self.seed, passage]).permutation(len(self.dataset.image_ids))
        return int(self.dataset.image_ids[order[offset]])

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < self.steps:
            raise IndexError(f"batch {index} of {self.steps}")
        epoch = self.epoch if self.training else 0
        position = (epoch * self.steps + index) * self.config.BATCH_SIZE
        examples = []
        for _ in range(self.config.BATCH_SIZE):
            example, position = self._example(position)
            examples.append(example)
            position += 1
        return {name: np.concatenate([example[name] for example in examples]) for name in input_names(self.config)}

    def _example(self, position: int) -> tuple[dict[str, np.ndarray], int]:
        """The first example from stream ``position`` on that the dataset can produce, and its position."""
        count = len(self.dataset.image_ids)
        for attempt in range(count):
            passage = (position + attempt) // count
            image_id = self.image_at(position + attempt)
            source = self.dataset.image_info[image_id]["source"]
            augmentation = None if source in self.no_augmentation_sources else self.augmentation
            try:
                return build_batch(self.dataset, [image_id], self.config, anchors=self.anchors,
                                   augmentation=augmentation, seed=self.seed, epoch=passage,
                                   attributes=self.attributes), position + attempt
            except DataError as error:
                log.warning("skipping image %s: %s", image_id, error)
        raise DataError(f"none of the {count} images of the dataset could be loaded; see the warnings above")
