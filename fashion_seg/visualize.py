"""Pictures of masks: coloured overlays with class names, side-by-side truth | prediction panels, and the panels of
the worst images of a scored submission.

Drawn with OpenCV on ``uint8 [H, W, 3]`` RGB arrays (headless); :func:`save_png` writes one atomically.
"""

from __future__ import annotations

import colorsys
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import pandas as pd

from .atomic import atomic_write
from .data import rle
from .data.images import load_image
from .data.train_csv import image_file_name
from .data.mask_geometry import resize_masks, scaled_size


def colours(count: int) -> list[tuple[int, int, int]]:
    """``count`` well-separated bright RGB colours (golden-ratio hues), the same for the same index every time."""
    out = []
    for index in range(count):
        hue = (index * 0.618033988749895) % 1.0
        r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
        out.append((int(255 * r), int(255 * g), int(255 * b)))
    return out


def overlay_masks(
    image: np.ndarray,
    masks: np.ndarray,
    labels: Sequence[str],
    alpha: float = 0.45,
    colors: Sequence[tuple[int, int, int]] | None = None,
) -> np.ndarray:
    """``image`` (RGB ``uint8 [H, W, 3]``) with each of ``masks`` (``bool [h, w, N]``, resized to the image if
    needed) filled in its colour, outlined, and labelled at its top-left corner. Smaller masks are drawn last so that
    parts stay visible on top of their garments."""
    height, width = image.shape[:2]
    masks = np.asarray(masks, dtype=bool)
    if masks.shape[:2] != (height, width):
        masks = resize_masks(masks, height, width)
    colors = list(colors) if colors is not None else colours(masks.shape[-1])
    out = image.copy()
    areas = masks.sum(axis=(0, 1))
    order = np.argsort(-areas, kind="stable")
    for index in order:
        mask = masks[:, :, index]
        if not mask.any():
            continue
        colour = np.asarray(colors[index], np.float32)
        out[mask] = (out[mask] * (1 - alpha) + colour * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colors[index]), max(1, min(height, width) // 300))
    for index in order:
        box = label_box(out.shape, masks[:, :, index], str(labels[index]))
        if box is not None:
            _label(out, str(labels[index]), box, colors[index])
    return out


def _label_scale(height: int, width: int) -> tuple[float, int]:
    scale = max(0.35, min(height, width) / 900)
    return scale, max(1, int(round(scale * 1.5)))


def label_box(image_shape: Sequence[int], mask: np.ndarray, text: str) -> tuple[int, int, int, int] | None:
    """Where :func:`overlay_masks` draws the label of ``mask`` (``bool [H, W]``): its filled box as inclusive pixel
    corners ``(x1, y1, x2, y2)``, above the mask's top-left corner and kept inside the image; None for an empty mask.
    The box's size is the font's text size, so it is computed here rather than assumed by callers."""
    rows, cols = np.nonzero(mask)
    if not rows.size:
        return None
    scale, thickness = _label_scale(*image_shape[:2])
    (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x = min(max(0, int(cols.min())), max(0, image_shape[1] - text_w - 2))
    y = max(text_h + 2, int(rows.min()))
    return x, y - text_h - 2, x + text_w + 2, y + baseline


def _label(image: np.ndarray, text: str, box: tuple[int, int, int, int], colour) -> None:
    """The label's filled box with the text in black, drawn inside ``box`` only (anti-aliased glyphs are clipped to it,
    so nothing outside the box and the masks changes, whatever the font's exact pixels)."""
    x1, y1, x2, y2 = box
    scale, thickness = _label_scale(*image.shape[:2])
    patch = np.empty((y2 - y1 + 1, x2 - x1 + 1, 3), np.uint8)
    patch[:] = tuple(int(c) for c in colour)
    baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[1]
    cv2.putText(patch, text, (1, patch.shape[0] - baseline - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness,
                cv2.LINE_AA)
    visible = image[max(0, y1) : y2 + 1, max(0, x1) : x2 + 1]
    visible[:] = patch[max(0, -y1) :, max(0, -x1) :][: visible.shape[0], : visible.shape[1]]


def side_by_side(panels: Sequence[np.ndarray], titles: Sequence[str], gap: int = 8) -> np.ndarray:
    """Panels (RGB, any sizes) scaled to one height, in a row, each under its title; white background."""
    height = max(p.shape[0] for p in panels)
    resized = [cv2.resize(p, (max(1, round(p.shape[1] * height / p.shape[0])), height), interpolation=cv2.INTER_AREA)
               if p.shape[0] != height else p for p in panels]
    scale = max(0.5, height / 700)
    band = int(40 * scale)
    width = sum(p.shape[1] for p in resized) + gap * (len(resized) - 1)
    canvas = np.full((height + band, width, 3), 255, np.uint8)
    x = 0
    for panel, title in zip(resized, titles):
        canvas[band:, x : x + panel.shape[1]] = panel
        text_scale, thickness = scale * 0.7, max(1, int(scale))
        text_width = cv2.getTextSize(title, cv2.FONT_HERSHEY_SIMPLEX, text_scale, thickness)[0][0]
        text_scale *= min(1.0, (panel.shape[1] - 8) / max(1, text_width))  # shrink a long title to its panel
        cv2.putText(canvas, title, (x + 4, int(band * 0.7)), cv2.FONT_HERSHEY_SIMPLEX, text_scale, (0, 0, 0),
                    thickness, cv2.LINE_AA)
        x += panel.shape[1] + gap
    return canvas


def truth_vs_prediction(
    image: np.ndarray,
    true_masks: np.ndarray,
    true_labels: Sequence[str],
    pred_masks: np.ndarray,
    pred_labels: Sequence[str],
    title: str = "",
) -> np.ndarray:
    """Three panels: the image, the truth overlay and the prediction overlay. A label keeps its colour on both
    sides, so matching instances are easy to spot."""
    names = sorted(set(map(str, true_labels)) | set(map(str, pred_labels)))
    palette = dict(zip(names, colours(len(names))))
    truth = overlay_masks(image, true_masks, true_labels, colors=[palette[str(l)] for l in true_labels])
    prediction = overlay_masks(image, pred_masks, pred_labels, colors=[palette[str(l)] for l in pred_labels])
    return side_by_side([image, truth, prediction], [title or "image", "truth", "prediction"])


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an RGB ``uint8`` image as PNG, atomically."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    with atomic_write(path, "wb") as handle:
        handle.write(data.tobytes())
    return Path(path)


def draw_dataset_samples(dataset, out_dir: str | os.PathLike, count: int = 4, max_side: int = 800) -> list[Path]:
    """Overlays (``<image>.png``) of the first ``count`` images of a FashionDataset with their named masks."""
    paths = []
    for index in list(dataset.image_ids)[:count]:
        image = dataset.load_image(index, max_side=max_side)
        masks, _ = dataset.load_mask(index, max_side=max_side)
        names = [dataset.labels.describe(c) for c in dataset.class_id_strings(index)]
        name = Path(dataset.image_info[index]["id"]).stem
        paths.append(save_png(Path(out_dir) / f"{name}.png", overlay_masks(image, masks, names)))
    return paths


def draw_worst_images(
    truth: pd.DataFrame,
    submission: pd.DataFrame,
    per_image: pd.Series,
    image_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    count: int = 8,
    submission_size: int | None = 512,
    max_side: int = 800,
) -> list[Path]:
    """Truth | prediction panels (``NN_<image>.png``) of the ``count`` lowest-scoring images of a scored submission.

    ``truth``: train.csv format; ``submission``: ``ImageId, EncodedPixels, ClassId`` with masks on a
    ``submission_size`` square grid (``None``: the image's native size) unless it has Height/Width columns;
    ``per_image``: ImageId -> score (``MetricResult.per_image``). Images are drawn at most ``max_side`` px.
    """
    has_sizes = {"Height", "Width"}.issubset(submission.columns)
    paths = []
    worst = per_image.sort_values(kind="stable").head(count)
    for rank, (image_id, value) in enumerate(worst.items(), start=1):
        true_rows = truth[truth["ImageId"] == image_id]
        native = (int(true_rows["Height"].iloc[0]), int(true_rows["Width"].iloc[0]))
        image = load_image(Path(image_dir) / image_file_name(image_id), size=scaled_size(*native, max_side))
        shown = image.shape[:2]
        true_masks = _masks_at(true_rows, lambda row: native, shown)
        pred_rows = submission[submission["ImageId"] == image_id]
        if has_sizes:
            grid = lambda row: (int(row.Height), int(row.Width))  # noqa: E731
        else:
            grid = lambda row: native if submission_size is None else (submission_size, submission_size)  # noqa: E731
        pred_masks = _masks_at(pred_rows, grid, shown)
        keep = pred_masks.any(axis=(0, 1))
        panel = truth_vs_prediction(image, true_masks, list(true_rows["ClassId"]), pred_masks[:, :, keep],
                                    list(np.asarray(pred_rows["ClassId"])[keep]), f"{image_id} score {value:.3f}")
        paths.append(save_png(Path(out_dir) / f"{rank:02d}_{Path(image_id).stem}.png", panel))
    return paths


def _masks_at(rows: pd.DataFrame, grid, shown: tuple[int, int]) -> np.ndarray:
    """``bool [h, w, N]`` masks of ``rows`` (each on ``grid(row)``), resized on their runs to ``shown``."""
    masks = np.zeros((len(rows), shown[1], shown[0]), bool)
    for index, row in enumerate(rows.itertuples(index=False)):
        height, width = grid(row)
        runs = rle.resize_runs(rle.parse_runs(row.EncodedPixels, height, width), height, width, *shown)
        masks[index] = rle.runs_to_mask(runs, *shown).T
    return masks.transpose(2, 1, 0)
