"""An imperfect submission made from ground truth, for demos and tests of the metric."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from .. import rle
from ..labels import parse_class_id
from ..mask_geometry import hard_overlap_suppression


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
