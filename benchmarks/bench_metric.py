"""Time of the competition metric on a 3,200-image submission (the size of the 2019 test set).

    python benchmarks/bench_metric.py [--images 3200] [--reference-images 100]

Truth: images of 600-5000 px a side with ~7 masks each (ellipses of up to 12 categories, some with attributes; a few
classes repeated per image, never overlapping within a class), written in train.csv format at native size, as the
hidden test truth is. Submission: the same objects re-drawn at 512x512 with jitter, some missed, some extra.
Both are built from run lengths directly, so making them takes seconds.

Timed: ``fashion_seg.evaluation.metrics.score_files`` (read both CSVs, resize truth to 512x512 on the run-length form, IoU by
pycocotools, score), end to end. Reference, run side by side on the first ``--reference-images`` images: a plain
implementation that decodes every mask to a full-size array, resizes it with OpenCV and computes IoU with numpy; its
time is extrapolated to all images for the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fashion_seg.evaluation import metrics
from fashion_seg.data import rle

CLASSES = ["23", "31", "32", "1", "6", "10_3_20", "4", "33", "24", "8_5_20", "28", "14"]


def ellipse_runs(cy: float, cx: float, ry: float, rx: float, height: int, width: int) -> rle.Runs:
    """Runs of a filled axis-aligned ellipse: one run per column it crosses."""
    cols = np.arange(max(0, int(np.ceil(cx - rx))), min(width, int(np.floor(cx + rx)) + 1))
    half = ry * np.sqrt(np.clip(1 - ((cols - cx) / rx) ** 2, 0, None))
    top = np.clip(np.ceil(cy - half), 0, height - 1).astype(np.int64)
    bottom = np.clip(np.floor(cy + half), 0, height - 1).astype(np.int64)
    keep = bottom >= top
    cols, top, bottom = cols[keep], top[keep], bottom[keep]
    return rle.Runs(cols * height + top, bottom - top + 1)


def make_data(images: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    truth_rows, sub_rows = [], []
    for index in range(images):
        image_id = f"{index:032x}.jpg"
        height, width = (int(v) for v in rng.integers(600, 5001, size=2))
        count = int(rng.integers(4, 11))
        strip = width / count  # one vertical strip per object: no overlaps within a class
        for k in range(count):
            class_id = CLASSES[int(rng.integers(len(CLASSES)))]
            cx = (k + 0.5) * strip
            cy = rng.uniform(0.3, 0.7) * height
            rx, ry = strip * rng.uniform(0.2, 0.48), height * rng.uniform(0.05, 0.28)
            runs = ellipse_runs(cy, cx, ry, rx, height, width)
            truth_rows.append((image_id, rle.format_runs(runs), height, width, class_id))
            if rng.random() < 0.15:
                continue  # missed
            sy, sx = 512 / height, 512 / width
            jitter = rng.normal(1.0, 0.03, size=4)
            pred = ellipse_runs(cy * sy * jitter[0], cx * sx * jitter[1], ry * sy * jitter[2], rx * sx * jitter[3], 512, 512)
            sub_rows.append((image_id, rle.format_runs(pred), class_id if rng.random() > 0.1 else "23"))
        if rng.random() < 0.3:
            extra = ellipse_runs(40, 40, 30, 30, 512, 512)
            sub_rows.append((image_id, rle.format_runs(extra), "35"))
    truth = pd.DataFrame(truth_rows, columns=["ImageId", "EncodedPixels", "Height", "Width", "ClassId"])
    submission = pd.DataFrame(sub_rows, columns=["ImageId", "EncodedPixels", "ClassId"])
    return truth, submission


def plain_score(truth: pd.DataFrame, submission: pd.DataFrame) -> float:
    """The straightforward way: decode everything to arrays, resize with OpenCV, IoU with numpy."""
    scores = []
    for image_id, true_rows in truth.groupby("ImageId", sort=False):
        height, width = int(true_rows["Height"].iloc[0]), int(true_rows["Width"].iloc[0])
        pred_rows = submission[submission["ImageId"] == image_id]
        classes = sorted(set(true_rows["ClassId"]) | set(pred_rows["ClassId"]))
        class_scores = []
        for class_id in classes:
            true = [cv2.resize(rle.decode(e, height, width).astype(np.uint8), (512, 512),
                               interpolation=cv2.INTER_NEAREST_EXACT).astype(bool)
                    for e in true_rows.loc[true_rows["ClassId"] == class_id, "EncodedPixels"]]
            pred = [rle.decode(e, 512, 512) for e in pred_rows.loc[pred_rows["ClassId"] == class_id, "EncodedPixels"]]
            if not true or not pred:
                class_scores.append(0.0)
                continue
            iou = np.array([[np.logical_and(p, t).sum() / np.logical_or(p, t).sum() for t in true] for p in pred])
            tp = (iou[None] > metrics.THRESHOLDS[:, None, None]).sum(axis=(1, 2))
            class_scores.append(float(np.mean(tp / (len(true) + len(pred) - tp))))
        scores.append(np.mean(class_scores))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3200)
    parser.add_argument("--reference-images", type=int, default=100)
    args = parser.parse_args()

    start = time.perf_counter()
    truth, submission = make_data(args.images)
    print(f"made {args.images} images, {len(truth)} true masks, {len(submission)} predicted masks "
          f"in {time.perf_counter() - start:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        truth_csv, submission_csv = Path(tmp) / "truth.csv", Path(tmp) / "submission.csv"
        truth.to_csv(truth_csv, index=False)
        submission.to_csv(submission_csv, index=False)
        start = time.perf_counter()
        result = metrics.score_files(truth_csv, submission_csv)
        ours = time.perf_counter() - start
    print(f"fashion_seg.evaluation.metrics.score_files: score {result.score:.4f} in {ours:.1f} s "
          f"({1e3 * ours / args.images:.2f} ms per image)")

    subset_ids = truth["ImageId"].unique()[: args.reference_images]
    truth_subset = truth[truth["ImageId"].isin(subset_ids)]
    submission_subset = submission[submission["ImageId"].isin(subset_ids)]
    start = time.perf_counter()
    plain = plain_score(truth_subset, submission_subset)
    plain_time = (time.perf_counter() - start) * args.images / len(subset_ids)
    ours_subset = metrics.score_frames(truth_subset, submission_subset).score
    print(f"plain decode + cv2.resize + numpy IoU: {plain_time:.1f} s for {args.images} images (extrapolated from "
          f"{len(subset_ids)}); same score on the subset: {ours_subset:.4f} vs {plain:.4f}")
    print(f"speed-up: {plain_time / ours:.1f}x")


if __name__ == "__main__":
    main()
