"""Batched inference over image files: loading and molding in a background thread, the network on batches, every
checkpoint x augmentation, and the merged raw detections of each image.

    predictor = Predictor([model], parse_tta("flip"), batch_size=4)
    for batch in predictor.batches(paths):              # loads and molds ahead in a thread
        for image, detections in zip(batch.images, predictor.detect(batch)):
            ...                                          # detections: fashion_seg.prediction.detections.Detections

A model is anything with a ``config`` (:class:`fashion_seg.mrcnn.config.Config`) and
``raw_detections(molded_images, image_metas) -> (detections [B, N, 6], masks [B, N, h, w])`` (normalized
``(y1, x1, y2, x2, class_id, score)`` rows, zero padding, and each detection's own-class mask probabilities), as
:class:`fashion_seg.mrcnn.model.MaskRCNN` provides. A model with an attribute head (config ``ATTRIBUTE_HEAD``) is
run through ``raw_detections_with_attributes(molded_images, image_metas) -> (detections, masks, attributes)``
instead, ``attributes [B, N, NUM_ATTRIBUTES]`` each detection row's attribute probabilities; they travel with the
detections (:attr:`fashion_seg.prediction.detections.Detections.attributes`). The checkpoints of an ensemble must agree on
having one. Batches are padded to ``batch_size`` by repeating the last image, so
one compiled graph serves every batch.

Large JPEGs: when an image is at least twice the largest side the network will see, it is decoded at reduced size
(libjpeg DCT scaling, :func:`fashion_seg.data.images.load_image`) straight to that side; boxes still come back in
the original image's pixels. Smaller images are decoded fully, so the network sees what matterport's ``detect()`` would.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol, Sequence, TypeVar

import numpy as np

from ..data.images import image_size, load_image
from ..errors import ConfigError, DataError
from .detections import Detections
from .tta import DEFAULT_MERGE_IOU, Augmentation, merge_detections

T = TypeVar("T")

PREFETCH_BYTES = 1 << 30  # molded inputs waiting for the network: at most ~1 GiB


class DetectionModel(Protocol):
    config: object

    def raw_detections(self, molded_images: np.ndarray, image_metas: np.ndarray): ...


@dataclass(frozen=True)
class LoadedImage:
    """An image ready for molding: RGB ``pixels`` (maybe decoded at reduced size) and its stored size."""

    image_id: str
    pixels: np.ndarray
    original_shape: tuple[int, int]


@dataclass
class MoldedBatch:
    """Images and their network inputs: ``inputs[(molding, augmentation)] = (molded, metas, windows)``;
    ``unreadable``: ``(ImageId, message)`` of the batch's images that could not be read (not in ``images``)."""

    images: list[LoadedImage]
    inputs: dict = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)


class PhaseTimes:
    """Seconds spent per phase (thread-safe): ``load`` and ``mold`` (in the loader thread), ``detect``,
    ``merge`` and whatever the caller adds."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def add(self, phase: str, seconds: float) -> None:
        with self._lock:
            self.seconds[phase] += seconds

    def timed(self, phase: str, function: Callable[..., T], *args, **kwargs) -> T:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            self.add(phase, time.perf_counter() - start)


def _molding_key(config) -> tuple:
    return (config.IMAGE_RESIZE_MODE, config.IMAGE_MIN_DIM, config.IMAGE_MAX_DIM, config.IMAGE_MIN_SCALE,
            tuple(np.asarray(config.MEAN_PIXEL, dtype=float)), config.NUM_CLASSES)


class Predictor:
    """Raw detections of images from one or several models (checkpoints) under test-time augmentations.

    ``merge_iou``: IoU above which detections of one class from different sources (and within one source) are
    merged (:func:`fashion_seg.prediction.tta.merge_detections`). ``batch_size``: images per network call.
    """

    def __init__(self, models: Sequence[DetectionModel], augmentations: Sequence[Augmentation] = (Augmentation(),),
                 merge_iou: float = DEFAULT_MERGE_IOU, batch_size: int = 1, times: PhaseTimes | None = None):
        if not models:
            raise ConfigError("no model to predict with")
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        if not 0 <= merge_iou <= 1:
            raise ConfigError(f"merge IoU {merge_iou} must be in [0, 1]")
        classes = sorted({int(model.config.NUM_CLASSES) for model in models})
        if len(classes) > 1:
            raise ConfigError(f"the checkpoints of an ensemble must predict the same classes; NUM_CLASSES differ: "
                              f"{classes}")
        heads = sorted({attribute_width(model) for model in models}, key=str)
        if len(heads) > 1:
            raise ConfigError(f"the checkpoints of an ensemble must all predict the same attributes or none; they "
                              f"predict {', '.join('none' if h is None else str(h) for h in heads)}")
        self.models = list(models)
        self.augmentations = list(augmentations) or [Augmentation()]
        self.merge_iou = merge_iou
        self.batch_size = batch_size
        self.times = times or PhaseTimes()
        # models sharing molding settings share molded inputs
        self._moldings: dict[tuple, object] = {}
        self._model_molding: list[tuple] = []
        for model in self.models:
            key = _molding_key(model.config)
            self._moldings.setdefault(key, model.config)
            self._model_molding.append(key)
        self._configs = {(key, aug): aug.config(config) for key, config in self._moldings.items()
                         for aug in self.augmentations}
        if batch_size > 1 and any(c.IMAGE_RESIZE_MODE != "square" for c in self._configs.values()):
            raise ConfigError(f"batch size {batch_size} needs IMAGE_RESIZE_MODE='square' (other modes mold images of "
                              "different sizes to different shapes): use --batch-size 1 or --set "
                              "IMAGE_RESIZE_MODE=square")
        self.load_side = self._load_side()

    def _load_side(self) -> int | None:
        """The longest side any augmentation molds an image to, or None when some mode keeps the image's own size."""
        sides = []
        for config in self._configs.values():
            if config.IMAGE_RESIZE_MODE != "square":
                return None
            sides.append(int(config.IMAGE_MAX_DIM))
        return max(sides)

    # ----------------------------------------------------------------------------------------------- loading

    def load(self, path: str | os.PathLike, image_id: str | None = None) -> LoadedImage:
        """Read one image (reduced decoding for a JPEG at least twice the size the network needs)."""
        path = Path(path)
        start = time.perf_counter()
        shape = image_size(path)
        if self.load_side is not None and max(shape) >= 2 * self.load_side:
            pixels = load_image(path, max_side=self.load_side)
        else:
            pixels = load_image(path)
        self.times.add("load", time.perf_counter() - start)
        return LoadedImage(image_id or path.name, pixels, shape)

    def mold(self, images: list[LoadedImage]) -> MoldedBatch:
        """Network inputs of ``images`` for every (molding, augmentation)."""
        start = time.perf_counter()
        batch = MoldedBatch(images)
        if not images:
            return batch
        for (key, augmentation), config in self._configs.items():
            batch.inputs[(key, augmentation)] = augmentation.mold([image.pixels for image in images], config)
        self.times.add("mold", time.perf_counter() - start)
        return batch

    def batches(self, paths: Sequence[str | os.PathLike], image_ids: Sequence[str] | None = None,
                prefetch: int | None = None) -> Iterator[MoldedBatch]:
        """Molded batches of the images at ``paths``, prepared up to ``prefetch`` batches ahead in a background
        thread (0: in the calling thread; None: 2, or 1 when two batches of molded inputs would pass
        :data:`PREFETCH_BYTES`). An image that cannot be read is reported in its batch's ``unreadable`` instead of
        stopping the run."""
        ids = list(image_ids) if image_ids is not None else [Path(p).name for p in paths]
        if prefetch is None:
            prefetch = 2 if 2 * self.molded_bytes_per_batch() <= PREFETCH_BYTES else 1

        def produce() -> Iterator[MoldedBatch]:
            for start in range(0, len(paths), self.batch_size):
                images, unreadable = [], []
                for i in range(start, min(start + self.batch_size, len(paths))):
                    try:
                        images.append(self.load(paths[i], ids[i]))
                    except DataError as error:
                        unreadable.append((ids[i], str(error)))
                batch = self.mold(images)
                batch.unreadable = unreadable
                yield batch

        return prefetched(produce(), prefetch) if prefetch > 0 else produce()

    def molded_bytes_per_batch(self) -> int:
        """Memory of one batch of network inputs (float32, every molding and augmentation; square molding)."""
        return sum(self.batch_size * int(c.IMAGE_MAX_DIM) ** 2 * 3 * 4 for c in self._configs.values())

    # ----------------------------------------------------------------------------------------------- detection

    def detect(self, batch: MoldedBatch) -> list[Detections]:
        """Merged raw detections of each image of the batch, in the original images' pixels."""
        if not batch.images:
            return []
        sources: list[list[Detections]] = [[] for _ in batch.images]
        for model, key in zip(self.models, self._model_molding):
            for augmentation in self.augmentations:
                molded, metas, windows = batch.inputs[(key, augmentation)]
                detections, masks, attributes = self.times.timed("detect", self._run, model, molded, metas)
                for row, image in enumerate(batch.images):
                    found = Detections.from_network(detections[row], masks[row], molded.shape[1:3], windows[row],
                                                    image.original_shape,
                                                    None if attributes is None else attributes[row])
                    sources[row].append(augmentation.undo(found))
        return [self.times.timed("merge", merge_detections, per_image, self.merge_iou) for per_image in sources]

    def _run(self, model: DetectionModel, molded: np.ndarray, metas: np.ndarray):
        count = len(molded)
        if count < self.batch_size:  # same batch shape every call: one compiled graph
            molded = np.concatenate([molded, np.repeat(molded[-1:], self.batch_size - count, axis=0)])
            metas = np.concatenate([metas, np.repeat(metas[-1:], self.batch_size - count, axis=0)])
        if attribute_width(model) is None:
            detections, masks = model.raw_detections(molded, metas)
            return np.asarray(detections)[:count], np.asarray(masks)[:count], None
        detections, masks, attributes = model.raw_detections_with_attributes(molded, metas)
        return np.asarray(detections)[:count], np.asarray(masks)[:count], np.asarray(attributes)[:count]


def attribute_width(model: DetectionModel) -> int | None:
    """The attributes a model predicts per detection (its config's ``NUM_ATTRIBUTES`` when ``ATTRIBUTE_HEAD`` is
    on), or None without an attribute head."""
    config = model.config
    return int(config.NUM_ATTRIBUTES) if getattr(config, "ATTRIBUTE_HEAD", False) else None


# ---------------------------------------------------------------------------------------------------- prefetching


_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetched(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` while a background thread computes up to ``depth`` of them ahead.

    An exception in the producer is raised in the consumer; a consumer that stops early (``break``, an error, or
    closing the generator) stops the producer too, so no thread outlives the loop.
    """
    slots: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(_Failure(error))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()
