"""The training input pipeline: :class:`MaskRCNNBatches`, a ``keras.utils.PyDataset`` of fixed-shape Mask R-CNN
batches, the one batch source of training (``MaskRCNN.train`` makes one of each dataset it is given).

    train = MaskRCNNBatches(train_dataset, config, augmentation=make_augmentation("first_place"), seed=1,
                            steps=config.STEPS_PER_EPOCH, workers=8, use_multiprocessing=True)
    val = MaskRCNNBatches(val_dataset, config, training=False, steps=config.VALIDATION_STEPS)
    model.fit(train, validation_data=val, epochs=..., shuffle=False, callbacks=[FollowEpochs(train)])

Batches follow the contract of :mod:`fashion_seg.mrcnn.batches` (``build_batch`` builds the same ones without Keras).

Passes: a pass is one walk over the images, ``ceil(images / batch size)`` batches. Batch ``i`` of pass ``p`` holds
positions ``i * B .. i * B + B - 1`` of the pass's permutation, a pure function of ``(seed, p)``, so every image
appears exactly once per pass whichever worker, thread or process builds which batch. When the image count is not
a multiple of the batch size, the last batch is completed with the first images of the same permutation (those few
appear twice, with different augmentation).

Epochs: without ``steps`` an epoch is one pass. With ``steps`` (matterport's ``STEPS_PER_EPOCH``; the seed
project's 1520 steps x 24 images) the passes are laid end to end as one stream of batches cut into epochs of
``steps``: batch ``i`` of epoch ``e`` is batch ``(e x steps + i) mod P`` of pass ``(e x steps + i) div P``
(``P`` batches per pass). Either way a batch is a pure function of ``(seed, epoch, i)``, so a resumed run sees the
batches it would have seen. ``on_epoch_end`` moves to the next epoch; :class:`FollowEpochs` keeps the source on
``fit``'s own epoch counter (Keras's worker pool is restarted each epoch, so worker processes see it); to resume at
epoch ``e`` call :meth:`MaskRCNNBatches.set_epoch`.

Keras notes: pass ``shuffle=False`` to ``fit`` (the order is already shuffled, reproducibly; Keras's own shuffle of
batch indices is not seeded), and leave ``steps_per_epoch`` unset or equal to ``len(batches)``: with fewer steps
Keras's enqueuer hands the batches it prefetched beyond the last step to the next epoch.

Validation (``training=False``): images in dataset order, no augmentation, no multi-scale, and the same random
draws every epoch (a ``crop``-mode validation crop stays put): the first ``steps`` batches of the one pass (at most
the whole pass), so validation losses are comparable across epochs.

With ``use_multiprocessing=True`` the constructing process switches OpenCV to one thread (see the constructor).

Broken images are logged (``logging.warning`` with the image reference), appended as JSON lines to ``broken_log``
(a temporary file unless given; worker processes append to the same file) and replaced as
:mod:`fashion_seg.mrcnn.batches` describes; :attr:`MaskRCNNBatches.broken_images` lists them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import threading
import weakref
from pathlib import Path

import cv2
import keras
import numpy as np

from ..errors import ConfigError
from .batches import BrokenImage, build_batch
from .canvas import MultiScale
from .rpn_targets import AnchorGrid

log = logging.getLogger(__name__)
_log_lock = threading.Lock()


class MaskRCNNBatches(keras.utils.PyDataset):
    """Training (or validation) batches of a prepared Mask R-CNN ``Dataset``.

    dataset: a prepared :class:`fashion_seg.mrcnn.dataset.Dataset`; ``image_ids`` restricts it to a subset.
    training: shuffle per pass, augment, multi-scale; ``False`` for validation (see the module docstring).
    steps: batches per epoch (default: one pass). augmentation: ``f(image, masks, seed) -> (image, masks)``, e.g.
    ``make_augmentation("seed")``, not applied to images of the ``no_augmentation_sources``. multiscale: random short
    side per image (:class:`fashion_seg.mrcnn.canvas.MultiScale`), fitted into ``IMAGE_SHAPE``. batch_size: default
    ``config.BATCH_SIZE``. min_area: instances with fewer mask pixels after resizing and augmentation are dropped.
    attributes: with ``config.ATTRIBUTE_HEAD``, the attribute targets (default: ``dataset.attribute_targets()``;
    validation batches of the competition data should get the training table's). workers / use_multiprocessing /
    max_queue_size: Keras's (the batches are built in those workers).
    """

    def __init__(self, dataset, config, *, training: bool = True, steps: int | None = None, augmentation=None,
                 no_augmentation_sources=(), multiscale: MultiScale | None = None, seed: int = 0, image_ids=None,
                 batch_size: int | None = None, min_area: int = 1, broken_log: str | os.PathLike | None = None,
                 attributes=None, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if not training and (augmentation is not None or multiscale is not None):
            raise ConfigError("validation batches (training=False) take no augmentation and no multi-scale")
        self.dataset = dataset
        self.config = config
        self.training = training
        self.augmentation = augmentation
        self.no_augmentation_sources = frozenset(no_augmentation_sources or ())
        self.multiscale = multiscale
        self.seed = int(seed)
        self.image_ids = np.asarray(dataset.image_ids if image_ids is None else image_ids, dtype=np.int64)
        if len(self.image_ids) == 0:
            raise ConfigError("no images to make batches of (an empty dataset, or prepare() not called?)")
        self.batch_size = int(batch_size or config.BATCH_SIZE)
        self.pass_length = math.ceil(len(self.image_ids) / self.batch_size)
        if steps is not None and int(steps) < 1:
            raise ConfigError(f"steps per epoch must be at least 1, not {steps}")
        self.steps = self.pass_length if steps is None else int(steps)
        if not training:
            self.steps = min(self.steps, self.pass_length)
        self.min_area = min_area
        self.attributes = None
        if config.ATTRIBUTE_HEAD:
            self.attributes = attributes if attributes is not None else dataset.attribute_targets()
        self.anchors = AnchorGrid.for_image(config, config.IMAGE_SHAPE)
        self.epoch = 0
        self._order_cache = None
        if broken_log is None:
            handle, broken_log = tempfile.mkstemp(prefix="fashion_seg_broken_", suffix=".jsonl")
            os.close(handle)
            weakref.finalize(self, _remove_if_owner, broken_log, os.getpid())
        self.broken_log = Path(broken_log)
        if use_multiprocessing:
            # Each worker process builds one batch at a time, so OpenCV's own threads would only oversubscribe the
            # cores; and changing OpenCV's thread count inside a forked worker can deadlock. Workers inherit this.
            cv2.setNumThreads(1)

    def __len__(self) -> int:
        return self.steps

    def set_epoch(self, epoch: int) -> None:
        """Continue at ``epoch`` (0-based), e.g. when training resumes from a checkpoint."""
        self.epoch = int(epoch)

    def on_epoch_end(self) -> None:
        if self.training:
            self.epoch += 1

    def position(self, index: int, epoch: int | None = None) -> tuple[int, int]:
        """``(pass, batch in the pass)`` of batch ``index`` of ``epoch`` (default: the current one)."""
        if not self.training:
            return 0, int(index)
        epoch = self.epoch if epoch is None else int(epoch)
        return divmod(epoch * self.steps + int(index), self.pass_length)

    def pass_order(self, pass_index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(image_ids, occurrences)`` of every batch slot of pass ``pass_index``, in order: ``pass_length *
        batch_size`` entries; occurrence 1 marks the repeats that complete the last batch."""
        pass_index = int(pass_index)
        cached = self._order_cache
        if cached is not None and cached[0] == pass_index:
            return cached[1]
        ids = self.image_ids
        if self.training:
            ids = ids[np.random.default_rng([self.seed, pass_index]).permutation(len(ids))]
        missing = self.pass_length * self.batch_size - len(ids)
        occurrences = np.zeros(len(ids) + missing, dtype=np.int64)
        occurrences[len(ids):] = 1
        order = (np.concatenate([ids, ids[:missing]]), occurrences)
        self._order_cache = (pass_index, order)
        return order

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < self.steps:
            raise IndexError(f"batch {index} of {self.steps}")
        return self.batch_at(*self.position(index))

    def batch_image_ids(self, pass_index: int, index: int) -> np.ndarray:
        """The image ids of batch ``index`` of pass ``pass_index``, slot by slot."""
        return self.pass_order(pass_index)[0][index * self.batch_size:(index + 1) * self.batch_size]

    def image_references(self, index: int, epoch: int | None = None) -> list[str]:
        """What batch ``index`` of ``epoch`` (default: the current one) is made of: the images' references (paths;
        train.csv lines for a dataset that names them), slot by slot."""
        ids = self.batch_image_ids(*self.position(index, epoch))
        return [str(self.dataset.image_reference(int(i))) for i in ids]

    def batch_at(self, pass_index: int, index: int) -> dict[str, np.ndarray]:
        """Batch ``index`` of pass ``pass_index``: a pure function of both (``__getitem__`` maps an epoch's batch to
        its pass and index)."""
        if not 0 <= index < self.pass_length:
            raise IndexError(f"batch {index} of a pass of {self.pass_length}")
        ids, occurrences = self.pass_order(pass_index)
        window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return build_batch(self.dataset, ids[window], self.config, anchors=self.anchors,
                           augmentation=self.augmentation if self.training else None,
                           no_augmentation_sources=self.no_augmentation_sources,
                           multiscale=self.multiscale if self.training else None, seed=self.seed, epoch=pass_index,
                           occurrences=occurrences[window], min_area=self.min_area, on_broken=self._report_broken,
                           attributes=self.attributes)

    def _report_broken(self, broken: BrokenImage) -> None:
        log.warning("broken image %s: %s (epoch %d); its batch slot gets another image of the batch",
                    broken.reference or broken.image_id, broken.error, broken.epoch)
        line = json.dumps({"image_id": broken.image_id, "reference": broken.reference, "error": broken.error,
                           "epoch": broken.epoch}) + "\n"
        with _log_lock, open(self.broken_log, "a", encoding="utf-8") as handle:
            handle.write(line)  # one short append: atomic across processes

    @property
    def broken_images(self) -> list[BrokenImage]:
        """Every broken-image report so far, from all workers (an image broken in two epochs is listed twice)."""
        if not self.broken_log.exists():
            return []
        with open(self.broken_log, encoding="utf-8") as handle:
            return [BrokenImage(**json.loads(line)) for line in handle if line.strip()]


def _remove_if_owner(path: str, owner_pid: int) -> None:
    # forked workers inherit the finalizer; only the process that made the temporary file removes it
    if os.getpid() == owner_pid:
        Path(path).unlink(missing_ok=True)


class FollowEpochs(keras.callbacks.Callback):
    """Tells a batch source (anything with ``set_epoch``, such as :class:`MaskRCNNBatches`) the epoch that ``fit``
    begins, before its first batch is fetched. Counting Keras's ``on_epoch_end`` calls alone is off by one: ``fit``
    also calls it once before its first epoch, when it resets its iterator after peeking at a batch for the shapes."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
