"""The canvas a demo scene is painted on: the image plus the visible mask of every instance painted so far
(:class:`SceneInstance`). Whole objects hide what lies beneath them; parts are clipped to their garment."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..labels import format_class_id
from .repertoire import STYLE


@dataclass
class SceneInstance:
    """One annotated object: its 2019 ClassId string and visible mask ``bool [H, W]``."""

    class_id: str
    mask: np.ndarray


class Canvas:
    """An image being painted plus the visible masks of what has been painted so far."""

    def __init__(self, image: np.ndarray, scale: float, rng: np.random.Generator):
        self.image = image
        self.height, self.width = image.shape[:2]
        self.scale = scale  # pattern period in pixels grows with the figure size
        self.rng = rng
        self.instances: list[SceneInstance] = []

    def polygon_mask(self, polygons: list[np.ndarray]) -> np.ndarray:
        canvas = np.zeros((self.height, self.width), np.uint8)
        cv2.fillPoly(canvas, [np.round(p).astype(np.int32) for p in polygons], 1)
        return canvas.astype(bool)

    def ellipse_mask(self, centre, axes, angle: float = 0.0) -> np.ndarray:
        canvas = np.zeros((self.height, self.width), np.uint8)
        axes = (max(1, int(axes[0])), max(1, int(axes[1])))
        cv2.ellipse(canvas, (int(centre[0]), int(centre[1])), axes, angle, 0, 360, 1, -1)
        return canvas.astype(bool)

    def paint(self, mask: np.ndarray, colour, texture: str) -> None:
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return
        cols = np.flatnonzero(mask.any(axis=0))
        top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        region = self.image[top:bottom, left:right]
        inside = mask[top:bottom, left:right]
        if texture == "shade":  # parts: the garment underneath, darker, so that they stay visible but related
            region[inside] = (region[inside] * 0.72).astype(np.uint8)
            return
        period = max(4.0, 10.0 * self.scale)
        y = np.arange(top, bottom, dtype=np.float32)[:, None]
        x = np.arange(left, right, dtype=np.float32)[None, :]
        if texture == "vstripes":
            shade = 0.8 + 0.2 * (np.sin(x * 2 * np.pi / period) > 0) + 0 * y
        elif texture == "hstripes":
            shade = 0.8 + 0.2 * (np.sin(y * 2 * np.pi / period) > 0) + 0 * x
        elif texture == "diagonal":
            shade = 0.85 + 0.15 * (np.sin((x + y) * 2 * np.pi / period) > 0)
        elif texture == "checks":
            shade = 0.75 + 0.25 * ((np.floor(x / period) + np.floor(y / period)) % 2)
        elif texture == "dots":
            dx, dy = (x % (2 * period)) - period, (y % (2 * period)) - period
            shade = np.where(dx * dx + dy * dy < (0.45 * period) ** 2, 1.25, 0.9)
        else:
            shade = np.ones((bottom - top, right - left), np.float32)
        shade = shade * _noise(self.rng, bottom - top, right - left, 0.04)
        colour = np.asarray(colour, np.float32)
        painted = np.clip(shade[..., None] * colour, 0, 255).astype(np.uint8)
        region[inside] = painted[inside]

    def add(self, category: int, mask: np.ndarray, attributes=(), parent: int | None = None) -> int:
        """Paint an instance and record it; returns its index. A part is clipped to its parent's visible mask and
        hides nothing; a whole object hides what lies beneath it."""
        colour, texture = STYLE[category]
        if parent is not None:
            mask = mask & self.instances[parent].mask
        else:
            for earlier in self.instances:
                earlier.mask &= ~mask
        self.paint(mask, colour, texture)
        self.instances.append(SceneInstance(format_class_id(category, attributes), mask))
        return len(self.instances) - 1


def _noise(rng: np.random.Generator, height: int, width: int, sigma: float) -> np.ndarray:
    """Multiplicative noise ``float32 [height, width]`` around 1: a random 64x64 tile, repeated (cheap at 3000 px)."""
    tile = rng.normal(1.0, sigma, size=(64, 64)).astype(np.float32)
    return np.tile(tile, (height // 64 + 1, width // 64 + 1))[:height, :width]
