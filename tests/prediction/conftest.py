"""Prediction tests without a trained network: a stand-in model with MaskRCNN's ``raw_detections`` contract that
finds blobs of known colours, and small images of such blobs with their truth.

The stand-in is exact where a network is not (it finds every blob, mirrored images give mirrored blobs), which is
what lets these tests check the plumbing around the network to the pixel: molding and unmolding, flips and scales,
merging, post-processing, the journal, the submission.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from fashion_seg.data import rle
from fashion_seg.mrcnn.boxes import norm_boxes
from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.molding import parse_image_meta

#: class id -> RGB colour of its blobs (class k is category k - 1: shirt, top, sweater)
PALETTE = {1: (220, 40, 40), 2: (40, 200, 60), 3: (50, 80, 230)}
BACKGROUND = (128, 128, 128)
FALSE_POSITIVE_SCORE = 0.3


def blob_config(**overrides) -> Config:
    values = dict(NAME="blobs", NUM_CLASSES=1 + len(PALETTE), BACKBONE="resnet_tiny", IMAGE_MIN_DIM=128,
                  IMAGE_MAX_DIM=128, DETECTION_MAX_INSTANCES=20, IMAGES_PER_GPU=1)
    values.update(overrides)
    return Config(**values)


class ColourBlobModel:
    """Stand-in for :class:`fashion_seg.mrcnn.model.MaskRCNN`: ``raw_detections(molded_images, image_metas)`` ->
    ``(detections [B, N, 6], masks [B, N, 28, 28])`` in the same layout.

    Every 4-connected blob of a palette colour becomes a detection of that class: its box (normalized in the
    molded image), score ``0.55 + 0.4 * (blob area / box area)`` and its shape resampled to 28x28. Each image also
    gets one false positive of class 1 with score 0.3 at the top of the image window, centred left-right (mirroring
    maps it onto itself) or, with ``false_positive="left"``, in the top-left corner (a mirrored image shows it in
    another place); a score threshold should remove it.

    ``calls`` counts batches, ``images`` images; ``interrupt_after`` raises KeyboardInterrupt on a later batch (a
    user pressing Ctrl-C).
    """

    def __init__(self, config: Config, interrupt_after: int | None = None, false_positive: str = "centre"):
        self.config = config
        self.false_positive = false_positive
        self.interrupt_after = interrupt_after
        self.calls = 0
        self.images = 0

    def raw_detections(self, molded_images, image_metas):
        self.calls += 1
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise KeyboardInterrupt
        self.images += len(molded_images)
        count = self.config.DETECTION_MAX_INSTANCES
        detections = np.zeros((len(molded_images), count, 6), np.float32)
        masks = np.zeros((len(molded_images), count, 28, 28), np.float32)
        windows = parse_image_meta(image_metas).window
        for b, molded in enumerate(molded_images):
            rows = self._blobs(molded + self.config.MEAN_PIXEL) + [self._false_positive(molded.shape, windows[b])]
            rows.sort(key=lambda row: -row[1][5])
            for n, (mask, row) in enumerate(rows[:count]):
                detections[b, n] = row
                masks[b, n] = mask
        return detections, masks

    def _blobs(self, rgb: np.ndarray) -> list:
        height, width = rgb.shape[:2]
        rows = []
        for class_id, colour in PALETTE.items():
            near = (np.abs(rgb - np.asarray(colour)).max(axis=-1) < 40).astype(np.uint8)
            found, labels, stats, _ = cv2.connectedComponentsWithStats(near, connectivity=4)
            for k in range(1, found):
                x, y, w, h, area = (int(v) for v in stats[k])
                if area < 4:
                    continue
                crop = (labels[y:y + h, x:x + w] == k).astype(np.float32)
                mask = cv2.resize(crop, (28, 28), interpolation=cv2.INTER_LINEAR)
                box = norm_boxes(np.array([y, x, y + h, x + w]), (height, width))
                rows.append((mask, [*box, class_id, 0.55 + 0.4 * area / (w * h)]))
        return rows

    def _false_positive(self, shape, window) -> tuple:
        wy1, wx1, wy2, wx2 = (float(v) for v in window)
        size = max(2.0, (wx2 - wx1) / 8)
        x1 = wx1 if self.false_positive == "left" else wx1 + ((wx2 - wx1) - size) / 2
        box = norm_boxes(np.array([wy1, x1, wy1 + size, x1 + size]), shape[:2])
        return np.full((28, 28), 0.9, np.float32), [*box, 1, FALSE_POSITIVE_SCORE]


def draw_blob_image(rng: np.random.Generator, height: int, width: int):
    """An image of 2-4 blobs (rectangles and ellipses of palette colours, non-touching) on grey, and the truth:
    ``(rgb uint8 [H, W, 3], [(bool mask [H, W], class_id), ...])``. Blobs of one colour never overlap."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = BACKGROUND
    occupied = np.zeros((height, width), bool)
    instances = []
    for _ in range(rng.integers(2, 5)):
        for _attempt in range(20):
            h = int(rng.integers(height // 6, height // 2))
            w = int(rng.integers(width // 6, width // 2))
            y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
            mask = np.zeros((height, width), np.uint8)
            if rng.random() < 0.5:
                mask[y:y + h, x:x + w] = 1
            else:
                cv2.ellipse(mask, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, 1, -1)
            mask = mask.astype(bool)
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            if not (grown & occupied).any():
                break
        else:
            continue
        class_id = int(rng.integers(1, len(PALETTE) + 1))
        image[mask] = PALETTE[class_id]
        occupied |= mask
        instances.append((mask, class_id))
    return image, instances


def write_blob_images(folder: Path, count: int, seed: int = 0, sizes=((96, 128), (128, 128), (150, 90))):
    """``count`` PNG images (lossless, so colours stay exact) in ``folder`` and their truth table (train.csv
    format; ClassId = category = class id - 1)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        height, width = sizes[index % len(sizes)]
        image, instances = draw_blob_image(rng, height, width)
        name = f"{index:04d}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        for mask, class_id in instances:
            rows.append((name, rle.encode(mask), height, width, str(class_id - 1)))
    return pd.DataFrame(rows, columns=["ImageId", "EncodedPixels", "Height", "Width", "ClassId"])


@pytest.fixture
def blob_images(tmp_path):
    """(folder of 6 blob images, their truth)."""
    truth = write_blob_images(tmp_path / "images", 6)
    return tmp_path / "images", truth


# ---------------------------------------------------------------------------------------------------- attributes

#: the attributes.json of the blob world: shirts may be above-the-hip (0) or zip-up (14), tops zip-up (14),
#: sweaters above-the-hip (0); column j <-> attribute id j of the 2019 label file (92 ids)
BLOB_ATTRIBUTES = {"attribute_ids": list(range(92)), "category_attributes": {"0": [0, 14], "1": [14], "2": [0]}}
#: class id -> the stand-in's attribute probabilities (id: probability; the others 0.01)
BLOB_PROBABILITIES = {1: {0: 0.45, 14: 0.1, 3: 0.95}, 2: {14: 0.9}, 3: {0: 0.05}}


def attribute_config(**overrides) -> Config:
    """:func:`blob_config` of a model with an attribute head of the 92 attributes of 2019."""
    config = blob_config(**overrides)
    config.ATTRIBUTE_HEAD = True
    config.NUM_ATTRIBUTES = 92
    return config


class AttributeBlobModel(ColourBlobModel):
    """:class:`ColourBlobModel` with an attribute head: ``raw_detections_with_attributes`` also returns
    ``attributes [B, N, 92]``, each detection's :data:`BLOB_PROBABILITIES` of its class (zero on padding rows)."""

    def __init__(self, config: Config | None = None, **kwargs):
        super().__init__(config or attribute_config(), **kwargs)

    def raw_detections_with_attributes(self, molded_images, image_metas):
        detections, masks = self.raw_detections(molded_images, image_metas)
        attributes = np.zeros(detections.shape[:2] + (92,), np.float32)
        for class_id, probabilities in BLOB_PROBABILITIES.items():
            row = np.full(92, 0.01, np.float32)
            row[list(probabilities)] = list(probabilities.values())
            attributes[detections[..., 4] == class_id] = row
        return detections, masks, attributes


def with_blob_attributes(truth: pd.DataFrame) -> pd.DataFrame:
    """The blob truth as if annotated with attributes: shirts above-the-hip ("0_0"), sweaters too ("2_0"), tops
    without ("1"). The stand-in's defaults get shirts wrong (0.45 < 0.5), tops wrong (zip-up 0.9 where the truth has
    none) and sweaters wrong whatever the threshold (0.05)."""
    truth = truth.copy()
    truth["ClassId"] = truth["ClassId"].map({"0": "0_0", "1": "1", "2": "2_0"})
    return truth
