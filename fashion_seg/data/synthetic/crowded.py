"""Harder synthetic scenes in the competition layout: crowds, clutter, varied scales, small parts, grayscale.

``make_crowded_dataset(out)`` writes the same files as :func:`~fashion_seg.data.synthetic.make_demo_dataset`
(``train/``, ``test/``, ``train.csv``, ``test_truth.csv``, ``sample_submission.csv``, ``label_descriptions.json``),
but every scene is harder than the demo's:

- 1-4 people per image, placed freely so that they overlap; they are drawn back to front and a person in front
  removes the pixels it covers from the masks of everyone behind (visible masks, as annotated in the real data);
  instances left with too few pixels are dropped;
- a cluttered background: stripes, blobs, random polygons and rectangles in garment colours and textures (the
  model must tell a striped wall from striped pants), then sensor noise over the whole image;
- people from ~30% to ~95% of the image height in images whose sides are drawn from [min_side, max_side] (any
  aspect ratio between them), so that shoes, glasses and zippers are 10-30 px boxes at the training scale;
- about one image in five is a grayscale JPEG.

People and garments are drawn by the demo's :mod:`.garments` (same repertoire, colours, textures and
attributes), so what the demo teaches carries over. Everything is deterministic in ``seed``.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from .garments import draw_figure
from .painting import Canvas, SceneInstance
from .repertoire import STYLE
from .scenes import draw_background, separate_same_class
from .writer import DemoDataset, write_scene_dataset

#: share of the images written as grayscale JPEGs
GRAYSCALE_SHARE = 0.2
#: height of a person as a share of the image height
PERSON_HEIGHT = (0.3, 0.95)
TEXTURES = ("plain", "vstripes", "hstripes", "diagonal", "checks", "dots")


def _clutter(canvas: Canvas) -> None:
    """Paint 6-18 unannotated shapes (rectangles, polygons, blobs, stripe bands) in garment colours and textures."""
    rng = canvas.rng
    colours = [colour for colour, texture in STYLE.values() if texture != "shade"]
    height, width = canvas.height, canvas.width
    for _ in range(int(rng.integers(6, 19))):
        size = rng.uniform(0.08, 0.45) * min(height, width)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        kind = rng.choice(["rectangle", "polygon", "blob", "band"])
        if kind == "rectangle":
            w, h = size * rng.uniform(0.4, 1.6), size * rng.uniform(0.4, 1.6)
            mask = canvas.polygon_mask([np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2],
                                                  [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]])])
        elif kind == "polygon":
            angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 8))))
            radii = size * rng.uniform(0.3, 0.7, angles.size)
            mask = canvas.polygon_mask([np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], -1)])
        elif kind == "blob":
            mask = canvas.ellipse_mask((cx, cy), (size * rng.uniform(0.2, 0.6), size * rng.uniform(0.2, 0.6)),
                                       rng.uniform(0, 180))
        else:  # a band across the whole image, like a shelf or a stripe on a wall
            band = size * rng.uniform(0.1, 0.3)
            mask = canvas.polygon_mask([np.array([[0, cy - band], [width, cy - band + rng.uniform(-1, 1) * band],
                                                  [width, cy + band], [0, cy + band]])])
        canvas.paint(mask, colours[int(rng.integers(len(colours)))], TEXTURES[int(rng.integers(len(TEXTURES)))])


def render_crowded_scene(rng: np.random.Generator, height: int, width: int
                         ) -> tuple[np.ndarray, list[SceneInstance], list[int]]:
    """One crowded scene: RGB ``uint8 [height, width, 3]``, its instances (visible masks) and, per instance, the
    index of the person it belongs to (0 = drawn first, furthest back).

    Masks of different people never overlap (the person in front keeps the pixels); masks of one class never
    overlap; instances with fewer than ``max(12, 2e-4 * height * width)`` visible pixels are dropped.
    """
    image = draw_background(rng, height, width)
    canvas = Canvas(image, scale=1.0, rng=rng)
    _clutter(canvas)
    people: list[int] = []
    for person in range(int(rng.integers(1, 5))):
        figure_height = height * rng.uniform(*PERSON_HEIGHT)
        figure_width = figure_height * 0.42
        left = rng.uniform(-0.15 * figure_width, max(width - 0.85 * figure_width, 1.0))
        top = rng.uniform(-0.05, 1.0) * max(height - figure_height, 0.0)
        canvas.scale = figure_height / 300  # the pattern period follows the person's size
        before = canvas.image.copy()
        first = len(canvas.instances)
        draw_figure(canvas, left, top, figure_width, figure_height)
        silhouette = (canvas.image != before).any(axis=-1)
        for instance in canvas.instances[first:]:
            silhouette |= instance.mask
        silhouette = cv2.morphologyEx(silhouette.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0
        for instance in canvas.instances[:first]:
            instance.mask &= ~silhouette
        people += [person] * (len(canvas.instances) - first)
    noise = rng.normal(0.0, 6.0, size=(64, 64, 3)).astype(np.float32)
    noise = np.tile(noise, (height // 64 + 1, width // 64 + 1, 1))[:height, :width]
    image = np.clip(canvas.image + noise, 0, 255).astype(np.uint8)
    min_area = max(12, int(2e-4 * height * width))
    kept = [index for index, instance in enumerate(canvas.instances) if instance.mask.sum() >= min_area]
    instances = [canvas.instances[index] for index in kept]
    separate_same_class(instances)
    visible = [index for index, instance in enumerate(instances) if instance.mask.any()]
    return image, [instances[i] for i in visible], [people[kept[i]] for i in visible]


def image_shape(rng: np.random.Generator, min_side: int, max_side: int) -> tuple[int, int]:
    """``(height, width)``: the long side uniform in [min_side, max_side], the aspect ratio (long / short) in
    [1, 2], standing or lying, the short side at least ``min_side``."""
    long_side = int(rng.integers(min_side, max_side + 1))
    short_side = max(min_side, int(round(long_side / rng.uniform(1.0, 2.0))))
    return (long_side, short_side) if rng.random() < 0.6 else (short_side, long_side)


def make_crowded_dataset(
    out_dir: str | os.PathLike,
    seed: int = 0,
    train_images: int = 40,
    test_images: int = 8,
    min_side: int = 128,
    max_side: int = 1024,
) -> DemoDataset:
    """Write a crowded dataset (layout in the module docstring) and return what was written; image 0 of each
    split is grayscale, the others with probability :data:`GRAYSCALE_SHARE`."""
    def crowded_scene(rng: np.random.Generator, split: str, index: int):
        height, width = image_shape(rng, min_side, max_side)
        image, instances, _ = render_crowded_scene(rng, height, width)
        return image, instances, index == 0 or rng.random() < GRAYSCALE_SHARE

    return write_scene_dataset(out_dir, "crowded", seed, train_images, test_images, crowded_scene, seed_key=(15,))
