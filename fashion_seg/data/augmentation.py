"""Training augmentation with albumentations, applied to an image and its instance masks together.

Presets (:func:`make_augmentation`):

- ``none``: no augmentation.
- ``seed``: the seed project's (mcreduardo/fashionChallenge-SemSegmentation) idea: garments keep their vertical
  orientation, so only a horizontal flip (p=0.5) plus shifts and scales: ``Affine(scale 0.8-1.2, translate +-20%,
  rotate +-5 degrees)`` on every image. Its imgaug pipeline also had a 0-10% crop (covered by the shift) and a blur of
  sigma <= 0.25 (too weak to matter at this resolution); both are left out.
- ``first_place``: the 1st place's light set (amirassov/kaggle-imaterialist): ``HorizontalFlip(p=0.5)``,
  ``RandomBrightnessContrast(0.3, 0.3, p=0.5)``, JPEG re-compression at quality 80-99 (p=0.5), and with
  ``cutout=True`` their ``Cutout``: eight holes filled with 0 (p=0.5), each 5% of the image side (their 64 pixels
  at their scale). Their multi-scale training is not an
  augmentation here but a placement option (:class:`fashion_seg.mrcnn.canvas.MultiScale`).

How masks travel: instance masks overlap (a sleeve lies inside its shirt), so each keeps its own bit: up to eight
masks are packed into the bits of one uint8 channel and the packed channels go through albumentations as one ``mask``
target, which geometric transforms move with nearest-neighbour sampling (exact on bits) and pixel transforms leave
alone. One warp per eight instances instead of one per instance. A custom pipeline must therefore treat masks
nearest-neighbour (albumentations' default) and must not change the image size.

Boxes are not transformed: :meth:`Augmentation.apply` recomputes them from the augmented masks, which stays right
for instances cut by the border or rotated, and drops instances left with fewer than ``min_area`` pixels.

Determinism: the same ``seed`` gives the same result. Each transform gets its own seed derived from it
(albumentations' ``Compose.set_random_seed`` gives all transforms the same one, which would, for example, always
flip exactly the images whose brightness it changes). Thread safety: albumentations keeps random state on the
transform objects, so every thread builds its own pipeline; an :class:`Augmentation` pickles without them (for
worker processes).
"""

from __future__ import annotations

import os
import threading
from functools import partial
from typing import Callable

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations checks for updates on import otherwise

import albumentations as A  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import ConfigError  # noqa: E402
from ..mrcnn.ground_truth import keep_visible_instances  # noqa: E402

PRESETS = ("none", "seed", "first_place")


def seed_transforms() -> list:
    """The ``seed`` preset: horizontal flip, then shift / scale / small rotation."""
    return [
        A.HorizontalFlip(p=0.5),
        A.Affine(scale=(0.8, 1.2), translate_percent=(-0.2, 0.2), rotate=(-5, 5), fill=0, fill_mask=0, p=1.0),
    ]


def first_place_transforms(cutout: bool = False) -> list:
    """The ``first_place`` preset: flip, brightness/contrast, JPEG quality, optionally cutout."""
    transforms = [
        A.HorizontalFlip(p=0.5),
        A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3, p=0.5),
        A.ImageCompression(quality_range=(80, 99), p=0.5),
    ]
    if cutout:
        # 64 px holes at the 1st place's 1200-1900 px scale: a fraction of the side works at any canvas size
        transforms.append(A.CoarseDropout(num_holes_range=(8, 8), hole_height_range=(0.05, 0.05),
                                          hole_width_range=(0.05, 0.05), fill=0, p=0.5))
    return transforms


class Augmentation:
    """An albumentations pipeline for an image and its instance masks.

    ``transforms``: a callable returning a fresh list of albumentations transforms (module-level, or a
    ``functools.partial`` of one, so the augmentation pickles into worker processes).
    """

    def __init__(self, transforms: Callable[[], list], name: str = "custom"):
        self.transforms = transforms
        self.name = name
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"Augmentation({self.name!r})"

    def __getstate__(self):
        return {"transforms": self.transforms, "name": self.name}

    def __setstate__(self, state):
        self.__init__(**state)

    def _compose(self) -> A.Compose:
        compose = getattr(self._local, "compose", None)
        if compose is None:
            compose = self._local.compose = A.Compose(self.transforms())
        return compose

    def __call__(self, image: np.ndarray, masks: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Augment uint8 ``[H, W, 3]`` ``image`` and bool ``[N, H, W]`` ``masks`` (any memory layout) together; the
        same seed gives the same result. Returns the image and C-ordered masks."""
        compose = self._compose()
        compose.set_random_seed(int(seed))
        seeds = np.random.SeedSequence(int(seed)).generate_state(len(compose.transforms))
        for transform, transform_seed in zip(compose.transforms, seeds):
            transform.set_random_seed(int(transform_seed))
        if len(masks) == 0:
            return compose(image=image)["image"], masks
        result = compose(image=image, mask=pack_masks(masks))
        if result["image"].shape[:2] != image.shape[:2]:
            raise ConfigError(f"augmentation {self.name!r} changed the image size from {image.shape[:2]} to "
                              f"{result['image'].shape[:2]}; training augmentations must keep it")
        return result["image"], unpack_masks(result["mask"], len(masks))

    def apply(self, image: np.ndarray, masks: np.ndarray, class_ids: np.ndarray, seed: int, min_area: int = 1):
        """Augment, drop instances below ``min_area`` pixels, and box the rest from their masks.

        Returns ``(image uint8 [H, W, 3], masks bool [M, H, W], class_ids int32 [M], boxes int32 [M, (y1, x1, y2,
        x2)])``, boxes in pixels with y2/x2 exclusive.
        """
        image, masks = self(image, masks, seed)
        masks, class_ids, boxes = keep_visible_instances(masks, class_ids, min_area)
        return image, masks, class_ids, boxes


def make_augmentation(preset: str = "none", cutout: bool = False) -> Augmentation | None:
    """The named preset (see the module docstring); ``None`` for ``"none"``."""
    if preset == "none":
        if cutout:
            raise ConfigError("cutout=True needs the 'first_place' augmentation preset")
        return None
    if preset == "seed":
        if cutout:
            raise ConfigError("cutout=True needs the 'first_place' augmentation preset")
        return Augmentation(seed_transforms, name="seed")
    if preset == "first_place":
        return Augmentation(partial(first_place_transforms, cutout=cutout),
                            name="first_place+cutout" if cutout else "first_place")
    raise ConfigError(f"unknown augmentation preset {preset!r}; choose one of {', '.join(PRESETS)}")


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """bool ``[N, H, W]`` -> uint8 ``[H, W]`` (N <= 8) or ``[H, W, ceil(N / 8)]``: mask ``i`` in bit ``i % 8`` of
    channel ``i // 8``. Masks stored column-major (as RLE decodes them) are packed as they lie and the packed
    channels transposed once, rather than every mask."""
    count, height, width = masks.shape
    column_major = count > 0 and all(m.flags.f_contiguous and not m.flags.c_contiguous for m in masks)
    source = masks.transpose(0, 2, 1) if column_major else masks
    planes = np.zeros(((count + 7) // 8, height * width), dtype=np.uint8)
    for i in range(count):
        mask = np.ascontiguousarray(source[i])
        _shift_bytes(mask.reshape(-1).view(np.uint8), i % 8, planes[i // 8], combine=np.bitwise_or)
    planes = planes.reshape((-1,) + source.shape[1:])
    if column_major:
        planes = planes.transpose(0, 2, 1)
    if len(planes) == 1:
        return np.ascontiguousarray(planes[0])
    return np.ascontiguousarray(np.moveaxis(planes, 0, -1))


def unpack_masks(packed: np.ndarray, count: int) -> np.ndarray:
    """Inverse of :func:`pack_masks`: bool ``[count, H, W]``."""
    height, width = packed.shape[:2]
    planes = packed.reshape(height * width, 1) if packed.ndim == 2 else packed.reshape(height * width, -1)
    planes = np.ascontiguousarray(planes.T)
    masks = np.empty((count, height * width), dtype=np.uint8)
    for i in range(count):
        _shift_bytes(planes[i // 8], -(i % 8), masks[i], combine=None)
    return masks.view(bool).reshape(count, height, width)


_LOW_BITS = np.uint64(0x0101010101010101)


def _shift_bytes(source: np.ndarray, bits: int, target: np.ndarray, combine) -> None:
    """Byte-wise shift of flat uint8 ``source`` into ``target``: left by ``bits`` and OR-ed in (``combine``), or
    right by ``-bits`` keeping bit 0 of each byte (``combine=None``). Eight bytes per uint64 operation: a left shift
    of a 0/1 byte, or a right shift followed by masking bit 0 of each byte, never carries across bytes."""
    head = len(source) - len(source) % 8
    words_in, words_out = source[:head].view(np.uint64), target[:head].view(np.uint64)
    tail_in, tail_out = source[head:], target[head:]
    if combine is not None:
        words_out |= words_in << np.uint64(bits)
        tail_out |= tail_in << bits
    else:
        np.bitwise_and(words_in >> np.uint64(-bits), _LOW_BITS, out=words_out)
        np.bitwise_and(tail_in >> -bits, 1, out=tail_out)
