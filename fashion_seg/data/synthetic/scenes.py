"""One demo scene: a textured background and one to three figures side by side, with their visible masks."""

from __future__ import annotations

import cv2
import numpy as np

from ..mask_geometry import hard_overlap_suppression
from .painting import Canvas, SceneInstance
from .garments import draw_figure


def draw_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
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
    image = draw_background(rng, height, width)
    figure_height = height * rng.uniform(0.78, 0.95)
    figure_width = figure_height * 0.42
    count = int(np.clip(width // figure_width, 1, 3))
    count = int(rng.integers(1, count + 1))
    canvas = Canvas(image, scale=figure_height / 300, rng=rng)
    slot = width / count
    for index in range(count):
        box_width = min(figure_width, slot * 0.95)
        left = index * slot + rng.uniform(0, slot - box_width)
        top = rng.uniform(0.01, 0.99) * (height - figure_height)
        draw_figure(canvas, left, top, box_width, figure_height)
    min_area = max(12, int(2e-4 * height * width))
    instances = [i for i in canvas.instances if i.mask.sum() >= min_area]
    separate_same_class(instances)
    return canvas.image, [i for i in instances if i.mask.any()]


def separate_same_class(instances: list[SceneInstance]) -> None:
    """Masks of one class never overlap: the instance drawn later (on top) keeps the shared pixels."""
    masks = np.stack([i.mask for i in instances], axis=-1) if instances else np.zeros((1, 1, 0), bool)
    class_ids = [i.class_id for i in instances]
    drawing_order = np.arange(len(instances), dtype=np.float32)
    separated = hard_overlap_suppression(masks, class_ids, drawing_order)
    for index, instance in enumerate(instances):
        instance.mask = separated[:, :, index]
