"""Reading images: always RGB ``uint8 [H, W, 3]``, with a fast path for huge JPEGs wanted at a small size.

EXIF rule: pixels are used **as stored** in the file; an EXIF orientation tag is ignored. train.csv's Height/Width and
masks are defined on the stored pixel grid (for all but two training images, whose CSV sizes are swapped; see
:mod:`fashion_seg.data.validation`), so applying the tag would turn images away from their masks. OpenCV applies the
tag by default; we pass ``IMREAD_IGNORE_ORIENTATION``, and :func:`image_size` reads the stored size from the header.

Colour: grayscale is expanded to three equal channels, an alpha channel is dropped (not composited), CMYK JPEGs are
converted by libjpeg, 16-bit files are scaled to 8 bits by OpenCV.

Reduced decoding: when ``max_side`` (or ``size``) asks for at most half the stored size, a JPEG is decoded directly at
1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling through ``cv2.IMREAD_REDUCED_COLOR_*``, several times faster than a
full decode), choosing the largest reduction that still leaves at least the wanted size; the rest (less than 2x) is
bilinear.

Pixel limit: an image whose header claims more than :func:`pixel_limit` pixels (default 178,956,970, PIL's own
decompression-bomb limit: about 13,400 x 13,400) is refused with a :class:`DataError` naming it, before any pixel is
decoded: a hostile or broken header would otherwise claim gigabytes of memory. Set ``FASHION_SEG_MAX_IMAGE_PIXELS``
to another number of pixels, or to 0 for no limit (OpenCV keeps its own limit of 2**30 pixels).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ConfigError, DataError
from .mask_geometry import scaled_size

PIXEL_LIMIT_VARIABLE = "FASHION_SEG_MAX_IMAGE_PIXELS"
DEFAULT_PIXEL_LIMIT = 178_956_970
# This module enforces the limit itself (settable, and as a DataError): PIL's own check would raise its
# DecompressionBombError, or only warn, for the same images.
Image.MAX_IMAGE_PIXELS = None

_REDUCED_FLAGS = {8: cv2.IMREAD_REDUCED_COLOR_8, 4: cv2.IMREAD_REDUCED_COLOR_4, 2: cv2.IMREAD_REDUCED_COLOR_2}


def pixel_limit() -> int | None:
    """The most pixels an image may have (``$FASHION_SEG_MAX_IMAGE_PIXELS``, else :data:`DEFAULT_PIXEL_LIMIT`);
    None: no limit."""
    text = os.environ.get(PIXEL_LIMIT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_PIXEL_LIMIT
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"{PIXEL_LIMIT_VARIABLE}={text!r}: give a number of pixels, or 0 for no limit")
    return value or None


def _check_pixel_limit(path: str | os.PathLike, height: int, width: int) -> None:
    limit = pixel_limit()
    if limit is not None and height * width > limit:
        raise DataError(f"image {path} claims {width}x{height} = {height * width:,} pixels, more than the limit of "
                        f"{limit:,}: a broken or hostile file? If it is real, raise {PIXEL_LIMIT_VARIABLE}")


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of the stored pixel grid, read from the file header without decoding the pixels.

    Raises :class:`DataError` naming the file if it is missing, unreadable or over :func:`pixel_limit`."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise DataError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"unreadable image {path}: {error}") from None
    _check_pixel_limit(path, height, width)
    return height, width


def load_image(
    path: str | os.PathLike, max_side: int | None = None, size: tuple[int, int] | None = None
) -> np.ndarray:
    """The image at ``path`` as RGB ``uint8 [H, W, 3]``.

    ``max_side``: shrink (never enlarge) so that the longer side is at most ``max_side``, keeping the aspect ratio
    (the size is :func:`fashion_seg.data.mask_geometry.scaled_size` of the stored size, the same rule the masks
    follow).
    ``size``: ``(height, width)`` to resize to exactly, enlarging if needed; overrides ``max_side``.
    Raises :class:`DataError` naming the file if it is missing, cannot be decoded or is over :func:`pixel_limit`.
    """
    path = Path(path)
    target = size
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    height, width = image_size(path)
    if max_side is not None or size is not None:
        if target is None:
            target = scaled_size(height, width, max_side)
        for factor, reduced in _REDUCED_FLAGS.items():
            if height >= factor * target[0] and width >= factor * target[1]:
                flags = reduced | cv2.IMREAD_IGNORE_ORIENTATION
                break
    image = cv2.imread(str(path), flags)
    if image is None:
        if not path.exists():
            raise DataError(f"image not found: {path}")
        raise DataError(f"unreadable image {path}: OpenCV could not decode it (corrupt or not an image)")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if target is not None and image.shape[:2] != tuple(target):
        # Area averaging only pays for itself from a 2x reduction on (below that bilinear barely aliases and is
        # 5-10x cheaper); the reduced JPEG decode above leaves at most a 2x shrink for big images.
        strong_shrink = 2 * target[0] <= image.shape[0] and 2 * target[1] <= image.shape[1]
        interpolation = cv2.INTER_AREA if strong_shrink else cv2.INTER_LINEAR
        image = cv2.resize(image, (int(target[1]), int(target[0])), interpolation=interpolation)
    return image


def check_pixels(path: str | os.PathLike) -> None:
    """Decode every pixel strictly; raise :class:`DataError` for a missing, corrupt or truncated file, or one over
    :func:`pixel_limit`.

    Stricter than :func:`load_image` (libjpeg fills a truncated JPEG with gray and only warns), and slower than
    :func:`image_size` (which reads the header only).
    """
    image_size(path)  # refuses an image over the pixel limit before decoding it
    try:
        with Image.open(path) as image:
            image.load()
    except FileNotFoundError:
        raise DataError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"unreadable image {path}: {error}") from None
