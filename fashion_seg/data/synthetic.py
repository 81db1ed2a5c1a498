"""A small synthetic dataset in the exact competition layout, for the demo and the tests.

``make_demo_dataset(out)`` writes::

    out/train/<32 hex>.jpg        JPEGs of varied sizes and aspect ratios (one grayscale, one ~3000 px long side)
    out/test/<32 hex>.jpg
    out/train.csv                 2019 format: ImageId,EncodedPixels,Height,Width,ClassId (dresses/skirts/pants
                                  carry attributes, e.g. 10_3_14_20)
    out/label_descriptions.json   the real 2019 file
    out/sample_submission.csv     ImageId,EncodedPixels,ClassId: one placeholder row per test image
    out/test_truth.csv            the test images' masks, train.csv format (Height/Width: scorable at 512 or native)

Scenes: one to three standing figures side by side on a textured background. Each figure wears garments drawn from a
fixed repertoire; every category has its own shape, colour and texture (pants: dark blue with vertical stripes,
dress: red with dots, ...), so a small Mask R-CNN can learn them quickly. Garment parts (sleeves, collars, necklines,
pockets, lapels, zippers) lie inside their garment's mask, as in the real data (cross-class overlap); a garment drawn
over another (a bag over a coat) removes the covered pixels from the masks below, so masks of one class never
overlap. Everything is deterministic in ``seed``.

Every attribute follows from what is drawn, so that a model can see it:

- length (dress: mini, knee, maxi; skirt: mini, knee): the line its hem's lowest point is drawn at,
  :data:`HEM_LINES` (a fraction of the figure's height: mini above the knee, knee at the knee, maxi at the ankle);
- zip-up (dress): a zipper instance is drawn from its neckline to its waist; a dress without it has no zipper;
- symmetrical / asymmetrical (dress, skirt): the shape is mirror-symmetric about the figure's axis, or the hem
  slants from the mini line on one side to the knee line on the other (an asymmetrical skirt, knee length);
- straight / wide leg (pants, every pair carries one): a straight leg's outer edge falls nearly vertically from the
  hip; a wide leg widens from the hip to twice a straight leg's width at the ankle (:data:`ANKLE_WIDTHS`).

A coat is worn over pants, whose legs show below it. Shorts, tops, jackets, coats and the accessories carry no
attributes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..atomic import atomic_path, atomic_write
from ..postprocess import hard_overlap_suppression
from . import rle
from .imaterialist import PACKAGED_LABELS_2019, format_class_id, parse_class_id

# category ids of the 2019 label file
SHIRT, TOP, SWEATER, JACKET, PANTS, SHORTS, SKIRT, COAT, DRESS = 0, 1, 2, 4, 6, 7, 8, 9, 10
GLASSES, HAT, BELT, SHOE, BAG = 13, 14, 19, 23, 24
COLLAR, LAPEL, SLEEVE, POCKET, NECKLINE, ZIPPER = 28, 29, 31, 32, 33, 35
# attribute ids of the 2019 label file: length, opening type, silhouette
MINI, KNEE, MAXI, ZIP_UP, ASYMMETRICAL, SYMMETRICAL, STRAIGHT, WIDE_LEG = 3, 5, 8, 14, 19, 20, 33, 37

#: the line a hem of each length is drawn at, as a fraction of the figure's height below its top (the knee is at
#: 0.73, the ankle at 0.93)
HEM_LINES = {MINI: 0.64, KNEE: 0.73, MAXI: 0.93}
#: width of one trouser leg at the ankle, as a fraction of the figure's width (the skin leg is 0.10 there)
ANKLE_WIDTHS = {STRAIGHT: 0.15, WIDE_LEG: 0.30}

#: colour (RGB) and texture of every category drawn; textures: plain, vstripes, hstripes, diagonal, checks, dots
STYLE = {
    SHIRT: ((170, 200, 235), "checks"),
    TOP: ((240, 210, 60), "plain"),
    SWEATER: ((60, 150, 80), "hstripes"),
    JACKET: ((130, 85, 50), "diagonal"),
    PANTS: ((40, 55, 120), "vstripes"),
    SHORTS: ((190, 170, 120), "plain"),
    SKIRT: ((130, 60, 150), "dots"),
    COAT: ((120, 120, 125), "diagonal"),
    DRESS: ((200, 40, 50), "dots"),
    GLASSES: ((20, 20, 20), "plain"),
    HAT: ((30, 90, 60), "plain"),
    BELT: ((25, 20, 15), "plain"),
    SHOE: ((15, 15, 15), "plain"),
    BAG: ((230, 120, 30), "hstripes"),
    COLLAR: ((245, 245, 245), "plain"),
    LAPEL: ((90, 55, 30), "plain"),
    POCKET: ((0, 0, 0), "shade"),
    NECKLINE: ((0, 0, 0), "shade"),
    ZIPPER: ((200, 200, 210), "hstripes"),
    SLEEVE: ((0, 0, 0), "shade"),
}
SKIN = (225, 185, 150)


@dataclass
class SceneInstance:
    """One annotated object: its 2019 ClassId string and visible mask ``bool [H, W]``."""

    class_id: str
    mask: np.ndarray


@dataclass(frozen=True)
class DemoDataset:
    """Where :func:`make_demo_dataset` wrote things, and how much."""

    root: Path
    train_images: int
    test_images: int
    train_rows: int
    test_rows: int


@dataclass(frozen=True)
class Figure:
    """Where one standing figure stands: its box (image pixels, ``top`` down) and the lines garments follow."""

    left: float
    top: float
    width: float
    height: float
    shoulder: float  # half the shoulder width in pixels

    @property
    def cx(self) -> float:
        return self.left + self.width / 2

    def line(self, fraction: float) -> float:
        """The image row ``fraction`` of the figure's height below its top."""
        return self.top + fraction * self.height

    @property
    def neck_y(self) -> float:
        return self.line(0.14)

    @property
    def waist_y(self) -> float:
        return self.line(0.48)

    @property
    def hip_y(self) -> float:
        return self.line(0.54)

    @property
    def knee_y(self) -> float:
        return self.line(0.73)

    @property
    def ankle_y(self) -> float:
        return self.line(0.93)

    @property
    def waist(self) -> float:
        return 0.27 * self.width


# ------------------------------------------------------------------------------------------------------- drawing


class _Canvas:
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


def _figure(canvas: _Canvas, left: float, top: float, width: float, height: float) -> None:
    """Draw one standing figure in the box (left, top, width, height) with a random outfit."""
    rng = canvas.rng
    figure = Figure(left, top, width, height, shoulder=0.36 * width * rng.uniform(0.9, 1.1))
    cx, neck_y, waist_y, hip_y, ankle_y = figure.cx, figure.neck_y, figure.waist_y, figure.hip_y, figure.ankle_y
    shoulder, waist, head_r = figure.shoulder, figure.waist, 0.065 * height

    # skin: head, arms and legs, unannotated like in the real data
    head = canvas.ellipse_mask((cx, top + head_r), (head_r * 0.8, head_r))
    canvas.paint(head, SKIN, "plain")
    for side in (-1, 1):
        arm = np.array([[cx + side * shoulder, neck_y + 0.02 * height], [cx + side * (shoulder + 0.12 * width),
                        neck_y + 0.35 * height], [cx + side * (shoulder + 0.04 * width), neck_y + 0.36 * height],
                        [cx + side * (shoulder - 0.08 * width), neck_y + 0.05 * height]])
        canvas.paint(canvas.polygon_mask([arm]), SKIN, "plain")
        leg = np.array([[cx + side * 0.04 * width, hip_y], [cx + side * 0.2 * width, hip_y],
                        [cx + side * 0.17 * width, ankle_y], [cx + side * 0.07 * width, ankle_y]])
        canvas.paint(canvas.polygon_mask([leg]), SKIN, "plain")

    outfit = rng.choice(["separates", "separates", "dress", "coat"])
    if outfit == "dress":
        draw_dress(canvas, figure, length=rng.choice([MINI, KNEE, MAXI]), zip_up=rng.random() < 0.4)
        _shoes(canvas, cx, ankle_y, width, height)
    else:
        # under a knee-long coat only pants show their silhouette below it (a skirt's hem would be hidden)
        lower = PANTS if outfit == "coat" else rng.choice([PANTS, SHORTS, SKIRT])
        if lower == SKIRT:
            asymmetric = rng.random() < 0.25
            draw_skirt(canvas, figure, length=KNEE if asymmetric else rng.choice([MINI, KNEE]),
                       asymmetric=asymmetric)
        elif lower == PANTS:
            draw_pants(canvas, figure, rng.choice([STRAIGHT, WIDE_LEG]), pockets=rng.random() < 0.5)
        else:
            end_y = figure.line(0.66)
            legs = [np.array([[cx - waist, waist_y], [cx, waist_y], [cx - 0.02 * width, hip_y],
                              [cx - 0.05 * width, end_y], [cx - 0.24 * width, end_y]]),
                    np.array([[cx, waist_y], [cx + waist, waist_y], [cx + 0.24 * width, end_y],
                              [cx + 0.05 * width, end_y], [cx + 0.02 * width, hip_y]])]
            canvas.add(SHORTS, canvas.polygon_mask(legs))
        _shoes(canvas, cx, ankle_y, width, height)
        if outfit == "coat":
            _coat(canvas, cx, neck_y, figure.knee_y, shoulder, waist, width, height)
        else:
            upper = rng.choice([SHIRT, TOP, SWEATER, JACKET])
            long_sleeves = upper in (SHIRT, SWEATER, JACKET)
            torso = _torso(cx, neck_y, waist_y + 0.04 * height, shoulder, waist)
            sleeves = _sleeves(cx, neck_y, shoulder, width, height, long=long_sleeves)
            garment = canvas.add(upper, canvas.polygon_mask([torso, *sleeves]))
            _add_sleeves(canvas, garment, sleeves)
            if upper == SHIRT:
                for side in (-1, 1):
                    collar = np.array([[cx, neck_y + 0.05 * height], [cx + side * 0.16 * width, neck_y],
                                       [cx + side * 0.14 * width, neck_y + 0.06 * height]])
                    canvas.add(COLLAR, canvas.polygon_mask([collar]), parent=garment)
            elif upper == JACKET:
                for side in (-1, 1):
                    lapel = np.array([[cx, neck_y + 0.16 * height], [cx + side * 0.13 * width, neck_y],
                                      [cx + side * 0.17 * width, neck_y + 0.02 * height],
                                      [cx + side * 0.05 * width, neck_y + 0.16 * height]])
                    canvas.add(LAPEL, canvas.polygon_mask([lapel]), parent=garment)
                    pocket = np.array([[cx + side * 0.1 * width, waist_y - 0.04 * height],
                                       [cx + side * 0.24 * width, waist_y - 0.04 * height],
                                       [cx + side * 0.24 * width, waist_y + 0.01 * height],
                                       [cx + side * 0.1 * width, waist_y + 0.01 * height]])
                    canvas.add(POCKET, canvas.polygon_mask([pocket]), parent=garment)
            else:
                _neckline(canvas, garment, cx, neck_y, width, height)
            if lower in (PANTS, SHORTS) and rng.random() < 0.5:
                belt = np.array([[cx - waist, waist_y + 0.04 * height], [cx + waist, waist_y + 0.04 * height],
                                 [cx + waist, waist_y + 0.065 * height], [cx - waist, waist_y + 0.065 * height]])
                canvas.add(BELT, canvas.polygon_mask([belt]))
    if rng.random() < 0.45:
        side = rng.choice([-1, 1])
        bag_x = cx + side * (shoulder + 0.1 * width)
        bag = np.array([[bag_x - 0.13 * width, waist_y], [bag_x + 0.13 * width, waist_y],
                        [bag_x + 0.15 * width, waist_y + 0.16 * height], [bag_x - 0.15 * width, waist_y + 0.16 * height]])
        canvas.add(BAG, canvas.polygon_mask([bag]))
    if rng.random() < 0.4:
        brim = canvas.ellipse_mask((cx, top + 0.45 * head_r), (head_r * 1.5, head_r * 0.25))
        crown = canvas.ellipse_mask((cx, top + 0.2 * head_r), (head_r * 0.8, head_r * 0.45))
        canvas.add(HAT, brim | crown)
    if rng.random() < 0.35:
        eyes = [canvas.ellipse_mask((cx + side * 0.35 * head_r, top + 1.0 * head_r), (head_r * 0.28, head_r * 0.2))
                for side in (-1, 1)]
        bridge = canvas.polygon_mask([np.array([[cx - 0.1 * head_r, top + 0.95 * head_r],
                                                [cx + 0.1 * head_r, top + 0.95 * head_r],
                                                [cx + 0.1 * head_r, top + 1.02 * head_r],
                                                [cx - 0.1 * head_r, top + 1.02 * head_r]])])
        canvas.add(GLASSES, eyes[0] | eyes[1] | bridge)


def draw_dress(canvas: _Canvas, figure: Figure, length: int, zip_up: bool) -> int:
    """A symmetrical short-sleeved dress whose hem lies on ``HEM_LINES[length]``, with its neckline and sleeves,
    and a zipper from the neckline to the waist when ``zip_up``. Returns the dress's instance index."""
    cx, width, height = figure.cx, figure.width, figure.height
    hem_y = figure.line(HEM_LINES[length])
    torso = _torso(cx, figure.neck_y, figure.waist_y, figure.shoulder, figure.waist)
    skirt = np.array([[cx - figure.waist, figure.waist_y], [cx + figure.waist, figure.waist_y],
                      [cx + 0.45 * width, hem_y], [cx - 0.45 * width, hem_y]])
    sleeves = _sleeves(cx, figure.neck_y, figure.shoulder, width, height, long=False)
    attributes = [length, SYMMETRICAL] + ([ZIP_UP] if zip_up else [])
    dress = canvas.add(DRESS, canvas.polygon_mask([torso, skirt, *sleeves]), attributes)
    _neckline(canvas, dress, cx, figure.neck_y, width, height)
    _add_sleeves(canvas, dress, sleeves)
    if zip_up:
        _zipper(canvas, dress, cx, figure.neck_y, figure.waist_y, width)
    return dress


def draw_skirt(canvas: _Canvas, figure: Figure, length: int, asymmetric: bool) -> int:
    """A skirt from the waist to ``HEM_LINES[length]``; ``asymmetric``: the hem slants from the mini line on one
    side (chosen by ``canvas.rng``) to the knee line on the other, so its length must be ``KNEE``. Returns its
    instance index."""
    if asymmetric and length != KNEE:
        raise ValueError(f"an asymmetrical skirt reaches the knee line; length {length} is not KNEE ({KNEE})")
    cx, width = figure.cx, figure.width
    left_hem = right_hem = figure.line(HEM_LINES[length])
    if asymmetric:
        left_hem = figure.line(HEM_LINES[MINI])
        if canvas.rng.random() < 0.5:
            left_hem, right_hem = right_hem, left_hem
    shape = np.array([[cx - figure.waist, figure.waist_y], [cx + figure.waist, figure.waist_y],
                      [cx + 0.42 * width, right_hem], [cx - 0.42 * width, left_hem]])
    return canvas.add(SKIRT, canvas.polygon_mask([shape]), [length, ASYMMETRICAL if asymmetric else SYMMETRICAL])


def draw_pants(canvas: _Canvas, figure: Figure, silhouette: int, pockets: bool) -> int:
    """Pants to the ankle, each leg ``ANKLE_WIDTHS[silhouette]`` wide there (``STRAIGHT``: outer edge nearly
    vertical from the hip down; ``WIDE_LEG``: widening from the hip to twice that), with two front pockets when
    ``pockets``. Returns the pants' instance index."""
    cx, width, height = figure.cx, figure.width, figure.height
    waist_y, hip_y, end_y = figure.waist_y, figure.hip_y, figure.ankle_y
    inner = {STRAIGHT: 0.06, WIDE_LEG: 0.015}[silhouette]
    outer = inner + ANKLE_WIDTHS[silhouette]
    legs = [np.array([[cx + side * figure.waist, waist_y], [cx, waist_y], [cx + side * 0.02 * width, hip_y],
                      [cx + side * inner * width, end_y], [cx + side * outer * width, end_y],
                      [cx + side * 0.22 * width, hip_y]])
            for side in (-1, 1)]
    pants = canvas.add(PANTS, canvas.polygon_mask(legs), [silhouette])
    if pockets:
        for side in (-1, 1):
            pocket = np.array([[cx + side * 0.07 * width, waist_y + 0.03 * height],
                               [cx + side * 0.2 * width, waist_y + 0.03 * height],
                               [cx + side * 0.19 * width, waist_y + 0.09 * height],
                               [cx + side * 0.08 * width, waist_y + 0.09 * height]])
            canvas.add(POCKET, canvas.polygon_mask([pocket]), parent=pants)
    return pants


def _torso(cx, neck_y, bottom_y, shoulder, waist) -> np.ndarray:
    return np.array([[cx - shoulder, neck_y], [cx + shoulder, neck_y],
                     [cx + waist, bottom_y], [cx - waist, bottom_y]])


def _sleeves(cx, neck_y, shoulder, width, height, long: bool) -> list[np.ndarray]:
    reach = 0.34 * height if long else 0.14 * height
    out = 0.12 * width if long else 0.07 * width
    return [np.array([[cx + side * (shoulder - 0.1 * width), neck_y], [cx + side * shoulder, neck_y],
                      [cx + side * (shoulder + out + 0.03 * width), neck_y + reach],
                      [cx + side * (shoulder + out - 0.07 * width), neck_y + reach + 0.01 * height],
                      [cx + side * (shoulder - 0.09 * width), neck_y + 0.1 * height]])
            for side in (-1, 1)]


def _add_sleeves(canvas: _Canvas, garment: int, sleeves: list[np.ndarray]) -> None:
    for sleeve in sleeves:
        canvas.add(SLEEVE, canvas.polygon_mask([sleeve]), parent=garment)


def _neckline(canvas: _Canvas, garment: int, cx, neck_y, width, height) -> None:
    neckline = canvas.ellipse_mask((cx, neck_y), (0.12 * width, 0.035 * height))
    canvas.add(NECKLINE, neckline, parent=garment)


def _zipper(canvas: _Canvas, garment: int, cx, top_y, bottom_y, width) -> None:
    zipper = np.array([[cx - 0.015 * width, top_y + 0.02 * (bottom_y - top_y)], [cx + 0.015 * width, top_y],
                       [cx + 0.015 * width, bottom_y], [cx - 0.015 * width, bottom_y]])
    canvas.add(ZIPPER, canvas.polygon_mask([zipper]), parent=garment)


def _shoes(canvas: _Canvas, cx, ankle_y, width, height) -> None:
    for side in (-1, 1):
        shoe = canvas.ellipse_mask((cx + side * 0.13 * width, ankle_y + 0.025 * height), (0.11 * width, 0.03 * height))
        canvas.add(SHOE, shoe)


def _coat(canvas: _Canvas, cx, neck_y, hem_y, shoulder, waist, width, height) -> None:
    body = np.array([[cx - shoulder, neck_y], [cx + shoulder, neck_y], [cx + 0.38 * width, hem_y],
                     [cx - 0.38 * width, hem_y]])
    sleeves = _sleeves(cx, neck_y, shoulder, width, height, long=True)
    coat = canvas.add(COAT, canvas.polygon_mask([body, *sleeves]))
    _add_sleeves(canvas, coat, sleeves)
    for side in (-1, 1):
        pocket = np.array([[cx + side * 0.12 * width, neck_y + 0.3 * height],
                           [cx + side * 0.28 * width, neck_y + 0.3 * height],
                           [cx + side * 0.29 * width, neck_y + 0.37 * height],
                           [cx + side * 0.13 * width, neck_y + 0.37 * height]])
        canvas.add(POCKET, canvas.polygon_mask([pocket]), parent=coat)


def _noise(rng: np.random.Generator, height: int, width: int, sigma: float) -> np.ndarray:
    """Multiplicative noise ``float32 [height, width]`` around 1: a random 64x64 tile, repeated (cheap at 3000 px)."""
    tile = rng.normal(1.0, sigma, size=(64, 64)).astype(np.float32)
    return np.tile(tile, (height // 64 + 1, width // 64 + 1))[:height, :width]


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth colour field (gradient, tiles or blotches) with grain; drawn at <= 700 px, then enlarged."""
    low, high = rng.integers(60, 230, size=(2, 3)).astype(np.float32)
    kind = rng.choice(["vertical", "horizontal", "noise", "tiles"])
    scale = min(1.0, 700 / max(height, width))
    small_h, small_w = max(2, round(height * scale)), max(2, round(width * scale))
    if kind == "vertical":
        weight = np.broadcast_to(np.linspace(0, 1, small_h, dtype=np.float32)[:, None], (small_h, small_w))
    elif kind == "horizontal":
        weight = np.broadcast_to(np.linspace(0, 1, small_w, dtype=np.float32)[None, :], (small_h, small_w))
    elif kind == "tiles":
        tile = max(4, min(small_h, small_w) // 10)
        weight = ((np.arange(small_h)[:, None] // tile + np.arange(small_w)[None, :] // tile) % 2).astype(np.float32)
    else:  # smooth blotches: coarse noise, enlarged
        coarse = rng.random((max(2, small_h // 24), max(2, small_w // 24)), dtype=np.float32)
        weight = cv2.resize(coarse, (small_w, small_h), interpolation=cv2.INTER_CUBIC)
    small = np.clip(low + (high - low) * weight[..., None], 0, 255).astype(np.uint8)
    interpolation = cv2.INTER_NEAREST if kind == "tiles" else cv2.INTER_LINEAR
    image = cv2.resize(small, (width, height), interpolation=interpolation) if scale < 1 else small
    grain = rng.integers(-8, 9, size=(64, 64, 3), dtype=np.int16)
    grain = np.tile(grain, (height // 64 + 1, width // 64 + 1, 1))[:height, :width]
    return np.clip(image + grain, 0, 255).astype(np.uint8)


def render_scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, list[SceneInstance]]:
    """One scene: RGB ``uint8 [height, width, 3]`` and its instances (visible masks, tiny leftovers dropped)."""
    image = _background(rng, height, width)
    figure_height = height * rng.uniform(0.78, 0.95)
    figure_width = figure_height * 0.42
    count = int(np.clip(width // figure_width, 1, 3))
    count = int(rng.integers(1, count + 1))
    canvas = _Canvas(image, scale=figure_height / 300, rng=rng)
    slot = width / count
    for index in range(count):
        box_width = min(figure_width, slot * 0.95)
        left = index * slot + rng.uniform(0, slot - box_width)
        top = rng.uniform(0.01, 0.99) * (height - figure_height)
        _figure(canvas, left, top, box_width, figure_height)
    min_area = max(12, int(2e-4 * height * width))
    instances = [i for i in canvas.instances if i.mask.sum() >= min_area]
    _separate_same_class(instances)
    return canvas.image, [i for i in instances if i.mask.any()]


def _separate_same_class(instances: list[SceneInstance]) -> None:
    """Masks of one class never overlap: the instance drawn later (on top) keeps the shared pixels."""
    masks = np.stack([i.mask for i in instances], axis=-1) if instances else np.zeros((1, 1, 0), bool)
    class_ids = [i.class_id for i in instances]
    drawing_order = np.arange(len(instances), dtype=np.float32)
    separated = hard_overlap_suppression(masks, class_ids, drawing_order)
    for index, instance in enumerate(instances):
        instance.mask = separated[:, :, index]


# ------------------------------------------------------------------------------------------------------ the dataset


def _image_id(seed: int, split: str, index: int) -> str:
    return hashlib.md5(f"fashion_seg-demo-{seed}-{split}-{index}".encode()).hexdigest() + ".jpg"


def _write_jpeg(path: Path, image: np.ndarray, grayscale: bool) -> None:
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if grayscale else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_write(path, "wb") as handle:
        handle.write(data.tobytes())


def _split(root: Path, split: str, count: int, seed: int, min_side: int, max_side: int, large_side: int | None):
    rows = []
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence([seed, 0 if split == "train" else 1]).spawn(count)
    for index in range(count):
        rng = np.random.default_rng(seeds[index])
        if split == "train" and index == 1 and large_side:
            height, width = large_side, int(large_side * rng.uniform(0.6, 0.75))
        else:
            height, width = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
        image, instances = render_scene(rng, height, width)
        image_id = _image_id(seed, split, index)
        _write_jpeg(folder / image_id, image, grayscale=index == 0)
        for instance in instances:
            rows.append((image_id, rle.encode(instance.mask), height, width, instance.class_id))
    frame = pd.DataFrame(rows, columns=["ImageId", "EncodedPixels", "Height", "Width", "ClassId"])
    return frame.sort_values("ImageId", kind="stable").reset_index(drop=True)


def make_demo_dataset(
    out_dir: str | os.PathLike,
    seed: int = 0,
    train_images: int = 40,
    test_images: int = 8,
    min_side: int = 200,
    max_side: int = 700,
    large_side: int | None = 3000,
) -> DemoDataset:
    """Write the demo dataset (layout in the module docstring) and return what was written.

    Image sides are drawn uniformly from [min_side, max_side]; train image 1 has a ``large_side`` long side (None:
    no large image); train and test image 0 are grayscale JPEGs.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    train = _split(root, "train", train_images, seed, min_side, max_side, large_side)
    test = _split(root, "test", test_images, seed, min_side, max_side, None)
    with atomic_write(root / "train.csv", newline="") as handle:
        train.to_csv(handle, index=False)
    with atomic_write(root / "test_truth.csv", newline="") as handle:
        test.to_csv(handle, index=False)
    sample = pd.DataFrame({"ImageId": sorted(test["ImageId"].unique()) if len(test) else [],
                           "EncodedPixels": "1 1", "ClassId": "23"})
    with atomic_write(root / "sample_submission.csv", newline="") as handle:
        sample.to_csv(handle, index=False)
    with atomic_path(root / "label_descriptions.json") as tmp:
        shutil.copyfile(PACKAGED_LABELS_2019, tmp)
    return DemoDataset(root, train_images, test_images, len(train), len(test))


def perturb_truth(truth: pd.DataFrame, seed: int = 0, size: int | None = 512) -> pd.DataFrame:
    """A plausible imperfect submission made from ground truth, for demos and tests of the metric.

    ``truth``: rows ``ImageId, EncodedPixels, Height, Width, ClassId``. Returns ``ImageId, EncodedPixels, ClassId``
    with masks at ``size`` x ``size`` (``None``: native size, and Height/Width columns kept). Per instance, with
    fixed probabilities: dropped (15%), attributes forgotten (30% of those with attributes), mask dilated, eroded or
    shifted by a few pixels (40%); one spurious blob of a random category per image in three. Same-class overlaps
    created on the way are removed, so the result is a valid submission.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for image_id, group in truth.groupby("ImageId", sort=True):
        height, width = int(group["Height"].iloc[0]), int(group["Width"].iloc[0])
        out_h, out_w = (height, width) if size is None else (size, size)
        masks, class_ids = [], []
        for encoded, class_id in zip(group["EncodedPixels"], group["ClassId"]):
            if rng.random() < 0.15:
                continue
            category, attributes = parse_class_id(class_id)
            if attributes and rng.random() < 0.3:
                class_id = str(category)
            mask = rle.runs_to_mask(
                rle.resize_runs(rle.parse_runs(encoded, height, width), height, width, out_h, out_w), out_h, out_w
            ).astype(np.uint8)
            change = rng.random()
            if change < 0.4:
                kernel = np.ones((3, 3), np.uint8)
                if change < 0.13:
                    mask = cv2.dilate(mask, kernel, iterations=int(rng.integers(1, 4)))
                elif change < 0.26:
                    mask = cv2.erode(mask, kernel, iterations=int(rng.integers(1, 3)))
                else:
                    shift = rng.integers(-6, 7, size=2)
                    mask = np.roll(mask, tuple(int(s) for s in shift), axis=(0, 1))
            masks.append(mask.astype(bool))
            class_ids.append(class_id)
        if rng.random() < 1 / 3:
            blob = np.zeros((out_h, out_w), np.uint8)
            centre = (int(rng.integers(0, out_w)), int(rng.integers(0, out_h)))
            cv2.ellipse(blob, centre, (max(2, out_w // 12), max(2, out_h // 10)), 0.0, 0, 360, 1, -1)
            masks.append(blob.astype(bool))
            class_ids.append(str(int(rng.integers(0, 46))))
        if masks:
            stacked = hard_overlap_suppression(np.stack(masks, -1), class_ids, rng.random(len(masks)))
            for index, class_id in enumerate(class_ids):
                if stacked[:, :, index].any():
                    rows.append((image_id, rle.encode(stacked[:, :, index]), out_h, out_w, class_id))
        if not rows or rows[-1][0] != image_id:
            rows.append((image_id, "", out_h, out_w, "23"))
    frame = pd.DataFrame(rows, columns=["ImageId", "EncodedPixels", "Height", "Width", "ClassId"])
    return frame if size is None else frame[["ImageId", "EncodedPixels", "ClassId"]]
