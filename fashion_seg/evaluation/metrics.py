"""The iMaterialist 2019 competition metric, and COCO-style mask AP on the same inputs.

Competition metric (``shared/reference/imaterialist-2019.md`` section 4; the 1st-place local metric, validated
against the leaderboard): for each image and each ClassId string (attributes included, matched exactly) present in
the truth or the prediction, the mean over IoU thresholds t = 0.50, 0.55, ..., 0.95 of TP / (TP + FP + FN), where a
prediction matches a true mask of the same ClassId when IoU > t, one to one. A class only in the truth or only in the
prediction scores 0. Image score = mean over its classes (1 for an image with neither); the total is the mean over
images (``average="image"``, default) or over all (image, class) pairs (``average="image_class"``). Empty masks
(a placeholder row) are not instances.

Matching: when no mask has IoU > 0.5 with two masks of the other side (always so for masks that do not overlap within
a class, as submissions must be), the matches are exactly the pairs with IoU > t. Otherwise pairs are matched
greedily by decreasing IoU at each threshold.

Masks travel as pycocotools RLEs; IoU is ``pycocotools.mask.iou``, never a decoded array. Scoring a CSV resizes
both sides to the scoring size on their run-length form (nearest neighbour, :func:`fashion_seg.data.rle.resize_runs`):
``size=512`` compares 512x512 masks as the competition did, ``size=None`` compares at each image's native size.

In memory (training validation, threshold tuning): :func:`score_instances` takes, per ImageId, lists of
``(rle, class_id)`` or ``(rle, class_id, score)``; :func:`instances_from_masks` builds them from arrays, and
:func:`frame_instances` from a truth and a submission table. What attributes cost (the score with attributes stripped,
attribute precision / recall per supercategory) is :mod:`fashion_seg.evaluation.attribute_metrics`.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import pycocotools.mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from tqdm import tqdm

from ..data import rle
from ..data.imaterialist import SUBMISSION_SIZE
from ..data.labels import LabelDescriptions, parse_class_id
from ..data.train_csv import read_string_csv
from ..errors import DataError, RLEError

THRESHOLDS = np.round(np.arange(0.5, 1.0, 0.05), 2)
AVERAGES = ("image", "image_class")

#: ``(pycocotools RLE, ClassId string)`` or ``(pycocotools RLE, ClassId string, score)``
Instance = tuple


@dataclass
class MetricResult:
    """A scored submission. ``pairs``: one row per (ImageId, ClassId) with its score and instance counts."""

    score: float
    average: str
    per_image: pd.Series
    pairs: pd.DataFrame

    def per_class(self, labels: LabelDescriptions | None = None, by: str = "category") -> pd.DataFrame:
        """Mean pair score per category (``by="category"``, attributes folded in) or per exact ClassId string.

        Columns: ``class``, ``name`` (if ``labels``), ``pairs`` (image-class pairs), ``true`` and ``predicted``
        (instances), ``score`` (mean over pairs), sorted by class.
        """
        if by not in ("category", "class_id"):
            raise ValueError(f"by must be 'category' or 'class_id', not {by!r}")
        frame = self.pairs.copy()
        if by == "category":
            frame["class"] = [parse_class_id(c)[0] for c in frame["ClassId"]]
        else:
            frame["class"] = frame["ClassId"]
        table = frame.groupby("class", sort=True).agg(
            pairs=("score", "size"), true=("true", "sum"), predicted=("predicted", "sum"), score=("score", "mean")
        ).reset_index()
        if labels is not None:
            names = []
            for value in table["class"]:
                try:
                    names.append(labels.category_name(value) if by == "category" else labels.describe(value))
                except DataError:
                    names.append("?")
            table.insert(1, "name", names)
        return table


# -------------------------------------------------------------------------------------------------- the core metric


def class_score(true_rles: Sequence[dict], pred_rles: Sequence[dict]) -> float:
    """Mean over :data:`THRESHOLDS` of TP / (TP + FP + FN) for the masks of one class in one image."""
    num_true, num_pred = len(true_rles), len(pred_rles)
    if num_true == 0 or num_pred == 0:
        return 1.0 if num_true == num_pred else 0.0
    iou = np.asarray(coco_mask.iou(list(pred_rles), list(true_rles), [0] * num_true)).reshape(num_pred, num_true)
    above = iou > THRESHOLDS[0]
    if above.sum(axis=0).max() <= 1 and above.sum(axis=1).max() <= 1:
        true_positives = (iou[None, :, :] > THRESHOLDS[:, None, None]).sum(axis=(1, 2))
    else:
        true_positives = np.array([len(greedy_matches(iou, t)) for t in THRESHOLDS])
    return float(np.mean(true_positives / (num_true + num_pred - true_positives)))


def greedy_matches(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """One-to-one matches ``(prediction index, truth index)`` of an IoU matrix ``float [num_pred, num_true]``:
    the pairs with IoU > ``threshold``, taken by decreasing IoU (ties in row-major order), each side used once."""
    pred_index, true_index = np.nonzero(iou > threshold)
    order = np.argsort(-iou[pred_index, true_index], kind="stable")
    used_pred, used_true, matches = set(), set(), []
    for p, t in zip(pred_index[order], true_index[order]):
        if p not in used_pred and t not in used_true:
            used_pred.add(p)
            used_true.add(t)
            matches.append((int(p), int(t)))
    return matches


def score_instances(
    truth: Mapping[str, Sequence[Instance]],
    predictions: Mapping[str, Sequence[Instance]],
    average: str = "image",
    progress: bool = False,
) -> MetricResult:
    """Competition metric over in-memory instances.

    ``truth`` / ``predictions``: ImageId -> list of ``(pycocotools RLE, ClassId string[, score])``; within one
    image all masks must have the same size. Every image of ``truth`` is scored (missing predictions: nothing
    predicted); a prediction for an image not in ``truth`` raises :class:`DataError`.
    """
    if average not in AVERAGES:
        raise DataError(f"average must be one of {AVERAGES}, got {average!r}")
    unknown = [image_id for image_id in predictions if image_id not in truth]
    if unknown:
        raise DataError(f"{len(unknown)} predicted images are not in the truth, e.g. {unknown[0]!r}")
    image_scores: dict[str, float] = {}
    pair_rows: list[tuple[str, str, float, int, int]] = []
    for image_id in tqdm(truth, desc="scoring", unit="img", disable=not progress):
        true_by_class = _group_by_class(truth[image_id], image_id)
        pred_by_class = _group_by_class(predictions.get(image_id, ()), image_id)
        _check_sizes(image_id, true_by_class, pred_by_class)
        scores = []
        for class_id in sorted(set(true_by_class) | set(pred_by_class)):
            true_rles, pred_rles = true_by_class.get(class_id, []), pred_by_class.get(class_id, [])
            value = class_score(true_rles, pred_rles)
            scores.append(value)
            pair_rows.append((image_id, class_id, value, len(true_rles), len(pred_rles)))
        image_scores[image_id] = float(np.mean(scores)) if scores else 1.0
    per_image = pd.Series(image_scores, name="score", dtype=float)
    pairs = pd.DataFrame(pair_rows, columns=["ImageId", "ClassId", "score", "true", "predicted"])
    if average == "image":
        total = float(per_image.mean()) if len(per_image) else 1.0
    else:
        total = float(pairs["score"].mean()) if len(pairs) else 1.0
    return MetricResult(total, average, per_image, pairs)


def _group_by_class(instances: Sequence[Instance], image_id: str) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for instance in instances:
        mask, class_id = instance[0], instance[1]
        if coco_mask.area(mask) > 0:
            grouped.setdefault(str(class_id), []).append(mask)
    return grouped


def _check_sizes(image_id: str, *groups: dict[str, list[dict]]) -> None:
    sizes = {tuple(mask["size"]) for group in groups for masks in group.values() for mask in masks}
    if len(sizes) > 1:
        listed = ", ".join(f"{h}x{w}" for h, w in sorted(sizes))
        raise DataError(f"image {image_id}: masks of different sizes ({listed}); resize them to one size first")


def instances_from_masks(
    masks: np.ndarray, class_ids: Sequence[str], scores: Sequence[float] | None = None
) -> list[Instance]:
    """Instances of ``bool [H, W, N]`` masks with their ClassId strings (and optional scores) for
    :func:`score_instances` / :func:`coco_mask_ap`."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or masks.shape[-1] != len(class_ids):
        raise DataError(f"masks {masks.shape} do not match {len(class_ids)} class ids: expected [H, W, N]")
    encoded = coco_mask.encode(np.asfortranarray(masks.view(np.uint8))) if masks.shape[-1] else []
    if scores is None:
        return [(e, str(c)) for e, c in zip(encoded, class_ids)]
    return [(e, str(c), float(s)) for e, c, s in zip(encoded, class_ids, scores)]


# ----------------------------------------------------------------------------------------------- CSV entry points


def truth_instances(truth: pd.DataFrame, size: int | None = SUBMISSION_SIZE) -> dict[str, list[Instance]]:
    """Instances of a truth table (``ImageId, EncodedPixels, Height, Width, ClassId``) at the scoring size."""
    out: dict[str, list[Instance]] = {}
    columns = _require(truth, ["ImageId", "EncodedPixels", "Height", "Width", "ClassId"], "truth")
    for line, (image_id, encoded, height, width, class_id) in enumerate(zip(*columns), start=2):
        height, width = _size(height, width, "truth", line)
        target = None if size is None else (size, size)
        out.setdefault(image_id, []).append(
            (_resized_coco(encoded, height, width, target, "truth", line), str(class_id))
        )
    return out


def submission_instances(
    submission: pd.DataFrame,
    native_sizes: Mapping[str, tuple[int, int]],
    size: int | None = SUBMISSION_SIZE,
    submission_size: int | None = SUBMISSION_SIZE,
) -> dict[str, list[Instance]]:
    """Instances of a submission table at the scoring size.

    A row's mask grid is its own ``Height``/``Width`` if the table has those columns, else ``submission_size`` x
    ``submission_size`` (the competition's 512), or the image's native size from ``native_sizes`` when
    ``submission_size`` is None.
    """
    columns = _require(submission, ["ImageId", "EncodedPixels", "ClassId"], "submission")
    has_sizes = "Height" in submission.columns and "Width" in submission.columns
    heights = submission["Height"] if has_sizes else [None] * len(submission)
    widths = submission["Width"] if has_sizes else [None] * len(submission)
    out: dict[str, list[Instance]] = {}
    for line, (image_id, encoded, class_id, height, width) in enumerate(zip(*columns, heights, widths), start=2):
        if image_id not in native_sizes:
            raise DataError(f"submission line {line}: image {image_id!r} is not in the truth")
        if has_sizes:
            grid = _size(height, width, "submission", line)
        elif submission_size is None:
            grid = native_sizes[image_id]
        else:
            grid = (submission_size, submission_size)
        target = native_sizes[image_id] if size is None else (size, size)
        out.setdefault(image_id, []).append(
            (_resized_coco(encoded, grid[0], grid[1], target, "submission", line), str(class_id))
        )
    return out


def score_frames(
    truth: pd.DataFrame,
    submission: pd.DataFrame,
    size: int | None = SUBMISSION_SIZE,
    submission_size: int | None = SUBMISSION_SIZE,
    average: str = "image",
    progress: bool = False,
) -> MetricResult:
    """Competition metric of a submission table against a truth table (see the module docstring for sizes)."""
    return score_instances(*frame_instances(truth, submission, size, submission_size), average, progress)


def frame_instances(
    truth: pd.DataFrame,
    submission: pd.DataFrame,
    size: int | None = SUBMISSION_SIZE,
    submission_size: int | None = SUBMISSION_SIZE,
) -> tuple[dict[str, list[Instance]], dict[str, list[Instance]]]:
    """Instances of a truth table and of a submission table at the scoring size, decoded once for several
    measures (:func:`score_instances`, :func:`coco_mask_ap`, :mod:`fashion_seg.evaluation.attribute_metrics`)."""
    true = truth_instances(truth, size)
    return true, submission_instances(submission, _native_sizes(truth), size, submission_size)


def _native_sizes(truth: pd.DataFrame) -> dict[str, tuple[int, int]]:
    return {image_id: _size(h, w, "truth", line)
            for line, (image_id, h, w) in enumerate(zip(truth["ImageId"], truth["Height"], truth["Width"]), start=2)}


def coco_mask_ap_frames(
    truth: pd.DataFrame,
    submission: pd.DataFrame,
    size: int | None = SUBMISSION_SIZE,
    submission_size: int | None = SUBMISSION_SIZE,
) -> dict[str, float]:
    """:func:`coco_mask_ap` of a submission table against a truth table (sizes as in :func:`score_frames`)."""
    return coco_mask_ap(*frame_instances(truth, submission, size, submission_size))


def score_files(
    truth_csv: str | os.PathLike,
    submission_csv: str | os.PathLike,
    size: int | None = SUBMISSION_SIZE,
    submission_size: int | None = SUBMISSION_SIZE,
    average: str = "image",
    progress: bool = False,
) -> MetricResult:
    """Competition metric of ``submission_csv`` against ``truth_csv`` (train.csv format, with Height/Width)."""
    return score_frames(read_string_csv(truth_csv), read_string_csv(submission_csv), size, submission_size, average, progress)


def _require(frame: pd.DataFrame, names: list[str], what: str) -> list:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DataError(f"{what} has no column(s) {', '.join(missing)}; columns are {', '.join(frame.columns)}")
    return [frame[n].tolist() for n in names]


def _size(height, width, what: str, line: int) -> tuple[int, int]:
    try:
        height, width = int(height), int(width)
    except (TypeError, ValueError):
        raise DataError(f"{what} line {line}: Height/Width {height!r}/{width!r} are not integers") from None
    if height < 1 or width < 1:
        raise DataError(f"{what} line {line}: Height/Width {height}/{width} are not positive")
    return height, width


def _resized_coco(encoded: str, height: int, width: int, target, what: str, line: int) -> dict:
    out_height, out_width = (height, width) if target is None else target
    try:
        runs = rle.parse_runs(encoded, height, width)
    except RLEError as error:
        raise DataError(f"{what} line {line}: EncodedPixels for a {height}x{width} mask: {error}") from None
    return rle.runs_to_coco(rle.resize_runs(runs, height, width, out_height, out_width), out_height, out_width)


# ---------------------------------------------------------------------------------------------------- COCO mask AP


COCO_STAT_NAMES = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
                   "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


def coco_mask_ap(
    truth: Mapping[str, Sequence[Instance]], predictions: Mapping[str, Sequence[Instance]]
) -> dict[str, float]:
    """COCO mask AP/AR (pycocotools ``COCOeval``, iouType ``segm``) on the same inputs as :func:`score_instances`.

    Each distinct ClassId string is a COCO category. A prediction's third element is its score (default 1.0, which
    makes AP a single operating point, as for a submission file). Returns the 12 standard figures
    (:data:`COCO_STAT_NAMES`), -1 where COCO has nothing to measure.
    """
    class_ids = sorted({str(i[1]) for group in (truth, predictions) for items in group.values() for i in items})
    category = {class_id: index + 1 for index, class_id in enumerate(class_ids)}
    image_index = {image_id: index + 1 for index, image_id in enumerate(truth)}
    images, annotations = [], []
    for image_id, index in image_index.items():
        sizes = [i[0]["size"] for i in list(truth[image_id]) + list(predictions.get(image_id, ()))]
        height, width = sizes[0] if sizes else (1, 1)
        images.append({"id": index, "height": int(height), "width": int(width)})
        for instance in truth[image_id]:
            area = float(coco_mask.area(instance[0]))
            if area > 0:
                annotations.append({
                    "id": len(annotations) + 1, "image_id": index, "category_id": category[str(instance[1])],
                    "segmentation": instance[0], "area": area, "bbox": coco_mask.toBbox(instance[0]).tolist(),
                    "iscrowd": 0,
                })
    detections = []
    for image_id, instances in predictions.items():
        if image_id not in image_index:
            raise DataError(f"predicted image {image_id!r} is not in the truth")
        for instance in instances:
            if coco_mask.area(instance[0]) > 0:
                detections.append({
                    "image_id": image_index[image_id], "category_id": category[str(instance[1])],
                    "segmentation": instance[0], "score": float(instance[2]) if len(instance) > 2 else 1.0,
                })
    if not detections or not annotations:
        return {name: (0.0 if annotations else -1.0) for name in COCO_STAT_NAMES}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and the summary table
        ground_truth = COCO()
        ground_truth.dataset = {"images": images, "annotations": annotations,
                                "categories": [{"id": v, "name": k} for k, v in category.items()]}
        ground_truth.createIndex()
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(detections), iouType="segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {name: float(value) for name, value in zip(COCO_STAT_NAMES, evaluation.stats)}
