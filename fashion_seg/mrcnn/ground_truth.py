"""An image's ground truth at the training size: the image placed on its canvas, instance masks (mini-masks),
boxes, class ids and attribute targets, and the image meta.

:func:`load_image_gt` returns matterport's five values with two flaws fixed: instances that vanish after resizing or
augmentation are dropped everywhere (class ids, boxes, masks), and an image left without instances is kept as a
negatives-only example instead of being skipped.
"""

from __future__ import annotations

import inspect
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..errors import ConfigError, DataError
from .canvas import MultiScale, plan_placement
from .masks import minimize_mask
from .molding import as_rgb, compose_image_meta
from .resize import resize


class StageTimes(dict):
    """Seconds spent per pipeline stage, summed over calls (for benchmarks): ``{"image": 1.2, ...}``."""

    @contextmanager
    def measure(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self[stage] = self.get(stage, 0.0) + time.perf_counter() - start


@contextmanager
def timed(times: StageTimes | None, stage: str):
    """Add the time spent in the ``with`` block to ``times[stage]``; nothing when ``times`` is None."""
    if times is None:
        yield
    else:
        with times.measure(stage):
            yield


@dataclass
class GroundTruth:
    """One image at the training size, and its instances.

    The image lies in a canvas of ``canvas_shape`` (``config.IMAGE_SHAPE``) at ``window = (y1, x1, y2, x2)``; only the
    part inside the window is stored (``content``, uint8 ``[y2 - y1, x2 - x1, 3]``), the rest of the canvas is 0.
    ``boxes``: int32 ``[N, (y1, x1, y2, x2)]`` canvas pixels, y2/x2 exclusive. ``masks``: bool ``[N, h, w]`` (any
    memory layout): ``MINI_MASK_SHAPE`` mini-masks (the box's contents) when ``mini_masks`` is set, else masks of
    the content (window) region. ``attributes`` float32 ``[N, A]`` / ``attributes_known`` bool ``[N]``: the
    instances' attribute targets (:mod:`fashion_seg.data.attributes`), when asked for; else None.
    """

    content: np.ndarray
    window: tuple[int, int, int, int]
    canvas_shape: tuple[int, int, int]
    image_meta: np.ndarray
    class_ids: np.ndarray
    boxes: np.ndarray
    masks: np.ndarray
    mini_masks: bool
    attributes: np.ndarray | None = None
    attributes_known: np.ndarray | None = None

    def canvas_image(self) -> np.ndarray:
        """uint8 ``[H, W, 3]``: the content placed in the zero canvas."""
        image = np.zeros(self.canvas_shape, dtype=np.uint8)
        y1, x1, y2, x2 = self.window
        image[y1:y2, x1:x2] = self.content
        return image

    def layout_masks(self) -> np.ndarray:
        """Masks in matterport's layout ``[h, w, N]``: mini-masks, or full masks of the canvas."""
        if self.mini_masks:
            return np.moveaxis(self.masks, 0, -1)
        full = np.zeros((len(self.masks),) + tuple(self.canvas_shape[:2]), dtype=bool)
        y1, x1, y2, x2 = self.window
        full[:, y1:y2, x1:x2] = self.masks
        return np.moveaxis(full, 0, -1)


def load_image_gt(dataset, config, image_id: int, augmentation=None, rng: np.random.Generator | None = None,
                  use_mini_mask: bool | None = None, multiscale: MultiScale | None = None, min_area: int = 1):
    """matterport's ``load_image_gt``: ``(image, image_meta, class_ids, boxes, masks)`` of one image.

    ``image`` uint8 ``[H, W, 3]`` (``config.IMAGE_SHAPE``), ``image_meta`` float32 ``[IMAGE_META_SIZE]``, ``class_ids``
    int32 ``[N]``, ``boxes`` int32 ``[N, (y1, x1, y2, x2)]`` pixels, ``masks`` bool ``[MINI_MASK_SHAPE..., N]`` with
    mini-masks (default: ``config.USE_MINI_MASK``) else ``[H, W, N]``. N may be 0. See :func:`load_ground_truth`.
    """
    gt = load_ground_truth(dataset, config, image_id, augmentation=augmentation, rng=rng,
                           use_mini_mask=use_mini_mask, multiscale=multiscale, min_area=min_area)
    return gt.canvas_image(), gt.image_meta, gt.class_ids, gt.boxes, gt.layout_masks()


def load_ground_truth(dataset, config, image_id: int, augmentation=None, rng: np.random.Generator | None = None,
                      use_mini_mask: bool | None = None, multiscale: MultiScale | None = None, min_area: int = 1,
                      times: StageTimes | None = None, attributes=None) -> GroundTruth:
    """Load, resize, place, augment one image and its instances.

    1. Size: the image is scaled by ``config.IMAGE_RESIZE_MODE`` (``square``, ``pad64``, ``crop``, ``none``) or, with
       ``multiscale``, by a random short side; then fitted into the fixed ``config.IMAGE_SHAPE`` canvas (centred, or a
       random crop where it is larger). See :func:`fashion_seg.mrcnn.canvas.plan_placement`.
    2. Loading at that size: when the image is to shrink and the dataset can load reduced (its ``load_image`` and
       ``load_mask`` take ``max_side``: shrink so the longer side is that, as
       :class:`fashion_seg.data.imaterialist.FashionDataset` does) and knows the stored size without decoding
       (``image_size(image_id)``, or ``height``/``width`` in ``image_info``), it is asked for the scaled size: a huge
       JPEG is then decoded reduced and RLE masks are resized as runs. Otherwise the image is loaded at full size and
       resized here (area averaging when shrinking, bilinear when enlarging; masks nearest neighbour).
    3. ``augmentation(image, masks, seed) -> (image, masks)`` (see :mod:`fashion_seg.data.augmentation`) on the
       placed content, masks as bool ``[N, h, w]``.
    4. Instances with fewer than ``min_area`` pixels left are dropped; boxes come from the masks; mini-masks.

    ``attributes``: ``f(image_id) -> (vectors [N, A], known [N])`` in ``load_mask`` order (e.g.
    :class:`fashion_seg.data.attributes.AttributeTargets`); the instances kept in step 4 keep theirs.

    ``rng`` drives every random choice (scale, crop, augmentation seed); the same seed gives the same result.
    Failures of the dataset's own loaders, and images whose masks do not match them, raise :class:`DataError`
    naming the image.
    """
    rng = rng if rng is not None else np.random.default_rng()
    use_mini_mask = config.USE_MINI_MASK if use_mini_mask is None else use_mini_mask
    reference = _reference(dataset, image_id)
    canvas_shape = tuple(int(v) for v in config.IMAGE_SHAPE)

    native_size = _stored_size(dataset, image_id)
    image = None
    if native_size is None:
        with timed(times, "image"):
            image = _load_image(dataset, image_id, reference)
        native_size = image.shape[:2]
    placement = plan_placement(native_size, config, rng, multiscale)
    scaled = placement.scaled_shape
    # Datasets that can load reduced are asked for the scaled size directly (only ever to shrink).
    max_side = max(scaled) if image is None and max(scaled) < max(native_size) else None
    loaded_shape = scaled if max_side else tuple(native_size)

    with timed(times, "image"):
        if image is None:
            image = _load_image(dataset, image_id, reference, max_side)
        if image.shape[:2] != loaded_shape:
            raise DataError(f"image {reference}: load_image gave {image.shape[0]}x{image.shape[1]} pixels, expected "
                            f"{loaded_shape[0]}x{loaded_shape[1]} (is its recorded height/width wrong?)")
        image = _resize_image(image, scaled)
    with timed(times, "masks"):
        masks, class_ids = _load_masks(dataset, image_id, reference, loaded_shape, scaled, max_side)
    vectors = known = None
    if attributes is not None:
        vectors, known = attributes(image_id)
        if len(vectors) != len(class_ids) or len(known) != len(class_ids):
            raise DataError(f"image {reference}: {len(vectors)} attribute vectors for {len(class_ids)} instances")
    cy, cx, ch, cw = placement.crop
    image = image[cy:cy + ch, cx:cx + cw]
    masks = masks[:, cy:cy + ch, cx:cx + cw]

    if augmentation is not None:
        with timed(times, "augmentation"):
            augmented, masks = augmentation(np.ascontiguousarray(image), masks, int(rng.integers(2 ** 31)))
            if augmented.shape != image.shape or masks.shape[1:] != image.shape[:2]:
                raise ConfigError(f"augmentation changed the image from {image.shape} to {augmented.shape} (masks "
                                  f"{masks.shape[1:]}); training augmentations must keep the size")
            image = augmented

    with timed(times, "instances"):
        masks, kept, boxes = keep_visible_instances(masks, np.arange(len(class_ids)), min_area)
        class_ids = class_ids[kept]
        if vectors is not None:
            vectors, known = np.asarray(vectors, np.float32)[kept], np.asarray(known, bool)[kept]
        stored_masks = _mini_masks(masks, boxes, config.MINI_MASK_SHAPE) if use_mini_mask else masks
        wy1, wx1 = placement.window[:2]
        boxes = boxes + np.array([wy1, wx1, wy1, wx1], dtype=np.int32)

    active_class_ids = np.zeros([config.NUM_CLASSES], dtype=np.int32)
    active_class_ids[dataset.source_class_ids[dataset.image_info[image_id]["source"]]] = 1
    image_meta = compose_image_meta(image_id, tuple(native_size) + (3,), canvas_shape, placement.window,
                                    placement.scale, active_class_ids)
    return GroundTruth(content=np.ascontiguousarray(image), window=placement.window, canvas_shape=canvas_shape,
                       image_meta=image_meta, class_ids=class_ids, boxes=boxes, masks=stored_masks,
                       mini_masks=use_mini_mask, attributes=vectors, attributes_known=known)


def keep_visible_instances(masks: np.ndarray, class_ids: np.ndarray, min_area: int = 1):
    """Drop instances with fewer than ``min_area`` mask pixels; boxes of the rest from their masks.

    masks: bool ``[N, H, W]`` (any layout). Returns ``(masks [M, H, W], class_ids int32 [M],
    boxes int32 [M, (y1, x1, y2, x2)])`` with y2/x2 exclusive.
    """
    class_ids = np.asarray(class_ids, dtype=np.int32)
    if len(masks):
        areas = np.array([np.count_nonzero(mask) for mask in masks])  # per mask: fast in C and Fortran layouts
        keep = areas >= max(min_area, 1)
        if not keep.all():
            class_ids = class_ids[keep]
            if masks[0].flags.f_contiguous and not masks[0].flags.c_contiguous:
                masks = masks.transpose(0, 2, 1)[keep].transpose(0, 2, 1)  # keep column-major masks column-major
            else:
                masks = masks[keep]
    rows = masks.any(axis=2)  # [M, H]
    cols = masks.any(axis=1)  # [M, W]
    height, width = masks.shape[1:]
    boxes = np.stack([
        rows.argmax(axis=1), cols.argmax(axis=1),
        height - rows[:, ::-1].argmax(axis=1), width - cols[:, ::-1].argmax(axis=1),
    ], axis=1).astype(np.int32).reshape(-1, 4)
    return masks, class_ids, boxes


def _mini_masks(masks: np.ndarray, boxes: np.ndarray, mini_shape) -> np.ndarray:
    """bool ``[N, mh, mw]`` mini-masks of ``[N, H, W]`` masks and their content-pixel boxes."""
    if not len(masks):
        return np.zeros((0,) + tuple(mini_shape), dtype=bool)
    return np.ascontiguousarray(np.moveaxis(minimize_mask(boxes, np.moveaxis(masks, 0, -1), mini_shape), -1, 0))


def image_reference(dataset, image_id: int) -> str:
    """``dataset.image_reference(image_id)`` for messages; ``""`` if the dataset cannot say."""
    try:
        return str(dataset.image_reference(int(image_id)) or "")
    except Exception:  # a reference is for messages only; never let it hide the real error
        return ""


def _reference(dataset, image_id: int) -> str:
    reference = image_reference(dataset, image_id)
    return f"{image_id} ({reference})" if reference else str(image_id)


def _stored_size(dataset, image_id: int) -> tuple[int, int] | None:
    """(height, width) known without decoding, for a dataset that can also load reduced (``max_side``)."""
    if not _loads_reduced(type(dataset)):
        return None
    if callable(getattr(dataset, "image_size", None)):
        return tuple(int(v) for v in dataset.image_size(image_id))
    info = dataset.image_info[image_id]
    if "height" in info and "width" in info:
        return int(info["height"]), int(info["width"])
    return None


@lru_cache(maxsize=None)
def _loads_reduced(dataset_class) -> bool:
    """Whether ``load_image`` and ``load_mask`` take ``max_side`` (shrink so the longer side is at most that)."""
    def accepts_max_side(method) -> bool:
        try:
            return "max_side" in inspect.signature(method).parameters
        except (TypeError, ValueError):
            return False

    return accepts_max_side(dataset_class.load_image) and accepts_max_side(dataset_class.load_mask)


def _load_image(dataset, image_id: int, reference: str, max_side: int | None = None) -> np.ndarray:
    try:
        image = dataset.load_image(image_id) if max_side is None else dataset.load_image(image_id, max_side=max_side)
    except DataError as error:
        raise DataError(f"image {reference}: {error}") from error
    except Exception as error:  # the dataset is user code: any failure to produce the image makes it a bad image
        raise DataError(f"image {reference}: load_image failed: {type(error).__name__}: {error}") from error
    if image is None:
        raise DataError(f"image {reference}: load_image returned None")
    image = as_rgb(image)
    if image.dtype != np.uint8:
        raise DataError(f"image {reference}: load_image must return uint8 pixels, got {image.dtype}")
    return image


def _load_masks(dataset, image_id: int, reference: str, loaded_shape, scaled_shape, max_side: int | None):
    """bool ``[N, h, w]`` masks at ``scaled_shape`` and int32 class ids ``[N]``; the dataset's masks must have the
    image's ``loaded_shape`` (asked for with ``max_side`` when given).

    Each mask of the result is contiguous in C or in Fortran order (RLE decodes column-major), which is all the
    later steps need; other layouts (e.g. a C-ordered ``[H, W, N]``) are copied once.
    """
    loaded_shape, scaled_shape = tuple(int(v) for v in loaded_shape), tuple(int(v) for v in scaled_shape)
    try:
        if max_side:
            masks, class_ids = dataset.load_mask(image_id, max_side=max_side)
        else:
            masks, class_ids = dataset.load_mask(image_id)
    except DataError as error:
        raise DataError(f"image {reference}: {error}") from error
    except Exception as error:
        raise DataError(f"image {reference}: load_mask failed: {type(error).__name__}: {error}") from error
    masks = np.asarray(masks)
    class_ids = np.asarray(class_ids, dtype=np.int32).reshape(-1)
    if masks.ndim != 3 or masks.shape[-1] == 0:
        if len(class_ids):
            raise DataError(f"image {reference}: load_mask gave {len(class_ids)} class ids but no masks")
        return np.zeros((0,) + scaled_shape, dtype=bool), class_ids
    if masks.shape[-1] != len(class_ids):
        raise DataError(f"image {reference}: load_mask gave {masks.shape[-1]} masks and {len(class_ids)} class ids")
    if masks.shape[:2] != loaded_shape:
        raise DataError(f"image {reference}: masks of {masks.shape[0]}x{masks.shape[1]} do not match the image of "
                        f"{loaded_shape[0]}x{loaded_shape[1]} pixels")
    if masks.dtype != bool:
        masks = masks != 0
    if masks.shape[:2] != scaled_shape:
        masks = resize(masks, scaled_shape, order=0)
    masks = np.moveaxis(masks, -1, 0)
    if not (masks[0].flags.c_contiguous or masks[0].flags.f_contiguous):
        masks = np.ascontiguousarray(masks)
    return masks, class_ids


def _resize_image(image: np.ndarray, size) -> np.ndarray:
    """uint8 image to ``size`` (height, width): area averaging when shrinking, bilinear when enlarging."""
    height, width = (int(v) for v in size)
    if image.shape[:2] == (height, width):
        return image
    shrinking = height <= image.shape[0] and width <= image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
