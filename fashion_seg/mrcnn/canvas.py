"""Where a training image goes: its scale, and its place in the fixed-size training canvas.

Training batches have one shape, ``config.IMAGE_SHAPE`` (the anchors and the graph are built for it), so every image
is first scaled, then fitted into that canvas: centred with zero padding along a side where it is smaller, randomly
cropped along a side where it is larger. The scale comes from the resize mode, as in matterport's ``resize_image``:

- ``square``: enlarge so the short side is at least ``IMAGE_MIN_DIM`` (never shrink for it), at least
  ``IMAGE_MIN_SCALE``, then shrink so the long side is at most ``IMAGE_MAX_DIM``. Always fits: centred, exactly
  matterport's padding.
- ``crop``: the same without the long-side cap, then a random ``IMAGE_MIN_DIM`` square crop, as matterport.
- ``pad64`` and ``none``: the image keeps its own scale (``pad64`` may enlarge for ``IMAGE_MIN_DIM``). matterport's
  graph needs such images to come out at ``IMAGE_SHAPE`` anyway; here a smaller image is padded into the canvas and a
  larger one randomly cropped.
- :class:`MultiScale` (training only, the 1st place's multi-scale training): the short side is drawn uniformly
  from a range, the long side capped; the result is fitted into the canvas like the others. With a range above the
  canvas size this becomes scale jitter plus random crops, below it scale jitter plus padding: the batch shape stays
  fixed while the object scales vary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class MultiScale:
    """Random rescaling: short side uniform in ``[short_min, short_max]`` pixels, long side at most ``long_max``.

    The 1st place of iMaterialist 2019 trained with ``MultiScale(600, 1200, 1900)``.
    """

    short_min: int
    short_max: int
    long_max: int | None = None

    def __post_init__(self):
        if not 1 <= self.short_min <= self.short_max:
            raise ConfigError(f"multi-scale short side range ({self.short_min}, {self.short_max}) must satisfy "
                              "1 <= short_min <= short_max")
        if self.long_max is not None and self.long_max < self.short_min:
            raise ConfigError(f"multi-scale long_max={self.long_max} is smaller than short_min={self.short_min}")

    def sample_scale(self, height: int, width: int, rng: np.random.Generator) -> float:
        short = int(rng.integers(self.short_min, self.short_max + 1))
        scale = short / min(height, width)
        if self.long_max is not None:
            scale = min(scale, self.long_max / max(height, width))
        return scale


@dataclass(frozen=True)
class Placement:
    """How one image becomes a canvas: scale it to ``scaled_shape`` (height, width), keep the ``crop = (y, x, h, w)``
    region of the scaled image, and put it at ``window = (y1, x1, y2, x2)`` of the canvas."""

    scale: float
    scaled_shape: tuple[int, int]
    crop: tuple[int, int, int, int]
    window: tuple[int, int, int, int]


def mode_scale(height: int, width: int, config) -> float:
    """The scale matterport's ``resize_image`` applies to a ``height`` x ``width`` image in the config's mode."""
    mode = config.IMAGE_RESIZE_MODE
    if mode == "none":
        return 1.0
    scale = 1.0
    if config.IMAGE_MIN_DIM:
        scale = max(1.0, config.IMAGE_MIN_DIM / min(height, width))
    if config.IMAGE_MIN_SCALE and scale < config.IMAGE_MIN_SCALE:
        scale = float(config.IMAGE_MIN_SCALE)
    if mode == "square" and config.IMAGE_MAX_DIM:
        longest = max(height, width)
        if round(longest * scale) > config.IMAGE_MAX_DIM:
            scale = config.IMAGE_MAX_DIM / longest
    return scale


def plan_placement(native_size, config, rng: np.random.Generator,
                   multiscale: MultiScale | None = None) -> Placement:
    """Placement of an image of ``native_size`` (height, width) in the ``config.IMAGE_SHAPE`` canvas.

    Random draws (multi-scale short side, crop offsets) come from ``rng``, in that order.
    """
    height, width = (int(v) for v in native_size[:2])
    if height < 1 or width < 1:
        raise ConfigError(f"cannot place an image of {height}x{width} pixels")
    if multiscale is not None:
        scale = multiscale.sample_scale(height, width, rng)
    else:
        scale = mode_scale(height, width, config)
    if scale < 1:
        # Shrinking: fix the long side first, then the short side from the aspect ratio. For the square mode this is
        # matterport's rounding; in general it is the rule of fashion_seg.data.mask_geometry.scaled_size, so a
        # dataset that loads images and masks reduced to a longest side returns exactly this size.
        scale = round(max(height, width) * scale) / max(height, width)
    scaled = (max(1, round(height * scale)), max(1, round(width * scale)))
    canvas = (int(config.IMAGE_SHAPE[0]), int(config.IMAGE_SHAPE[1]))
    crop, window = [], []
    for side, room in zip(scaled, canvas):
        if side > room:
            offset = int(rng.integers(0, side - room + 1))
            crop.append((offset, room))
            window.append((0, room))
        else:
            start = (room - side) // 2
            crop.append((0, side))
            window.append((start, start + side))
    (cy, ch), (cx, cw) = crop
    (wy1, wy2), (wx1, wx2) = window
    return Placement(scale=float(scale), scaled_shape=scaled, crop=(cy, cx, ch, cw), window=(wy1, wx1, wy2, wx2))
