"""Evaluation of a submission against truth: the images and truth rows to evaluate on (a split's validation images
or a truth file's), and :func:`evaluate_submission`: the competition metric at 512x512, COCO mask AP, a per-category
table and truth | prediction pictures of the worst images."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..data import rle
from ..data.imaterialist import SUBMISSION_SIZE
from ..data.labels import LabelDescriptions
from ..data.train_csv import image_file_name, read_train_csv
from ..errors import DataError
from . import metrics


def split_images(split_dir: str | os.PathLike, data_dir: str | os.PathLike, image_dir: str | os.PathLike | None = None
                 ) -> tuple[list[Path], list[str], pd.DataFrame]:
    """The validation images of a split (``dataHandling.py split``) of ``data_dir``: their paths (in ``image_dir``,
    default ``DATA_DIR/train``), ImageIds and truth rows (train.csv format). Images the dataset leaves out (the known
    swapped-size ones) are left out here too."""
    from ..data.split import load_split

    kwargs = {} if image_dir is None else {"image_dir": image_dir}
    _, validation = load_split(split_dir, data_dir, **kwargs)
    paths = [Path(info["path"]) for info in validation.image_info]
    ids = [info["id"] for info in validation.image_info]
    truth = read_train_csv(Path(data_dir) / "train.csv")
    truth = truth[truth["ImageId"].isin(set(ids))].reset_index(drop=True)
    return paths, ids, truth


def truth_images(truth_csv: str | os.PathLike, image_dir: str | os.PathLike
                 ) -> tuple[list[Path], list[str], pd.DataFrame]:
    """The images of a truth file (train.csv format, e.g. the demo's ``test_truth.csv``) in ``image_dir``: paths,
    ImageIds and the truth rows."""
    truth = read_train_csv(truth_csv)
    image_dir = Path(image_dir)
    ids = list(dict.fromkeys(truth["ImageId"]))
    missing = [i for i in ids if not (image_dir / image_file_name(i)).exists()]
    if missing:
        raise DataError(f"{len(missing)} images of {truth_csv} are not in {image_dir}, e.g. {missing[0]}")
    return [image_dir / image_file_name(i) for i in ids], ids, truth


@dataclass
class Evaluation:
    """Scores of a submission against truth: the competition ``metric`` (:class:`~fashion_seg.evaluation.metrics.MetricResult`,
    at 512x512), ``coco`` mask AP figures (with the rows' scores) and the per-category ``table``."""

    metric: metrics.MetricResult
    coco: dict[str, float]
    table: pd.DataFrame
    overlays: list[Path] = field(default_factory=list)


def evaluate_submission(
    truth: pd.DataFrame,
    submission_csv: str | os.PathLike,
    scored_rows: Sequence[tuple[str, str, str, float]],
    labels: LabelDescriptions,
    size: int | None = SUBMISSION_SIZE,
    image_dir: str | os.PathLike | None = None,
    overlays: str | os.PathLike | None = None,
    worst: int = 8,
) -> Evaluation:
    """Score ``submission_csv`` (masks on a ``size`` grid; None: native) against ``truth`` (train.csv format).

    ``scored_rows``: the same rows with their scores (:attr:`PredictionSummary.scored_rows`), which COCO AP ranks
    by. With ``overlays``, draws truth | prediction panels of the ``worst`` lowest-scoring images (from
    ``image_dir``) there.
    """
    from ..data.train_csv import read_string_csv
    from ..visualize import draw_worst_images

    submission = read_string_csv(submission_csv)
    result = metrics.score_frames(truth, submission, SUBMISSION_SIZE, size, progress=False)
    true_instances = metrics.truth_instances(truth, SUBMISSION_SIZE)
    native = {image_id: (int(h), int(w)) for image_id, h, w in zip(truth["ImageId"], truth["Height"], truth["Width"])}
    predicted: dict[str, list] = {}
    for image_id, encoded, class_id, score in scored_rows:
        grid = native[image_id] if size is None else (size, size)
        runs = rle.resize_runs(rle.parse_runs(encoded, *grid), *grid, SUBMISSION_SIZE, SUBMISSION_SIZE)
        predicted.setdefault(image_id, []).append(
            (rle.runs_to_coco(runs, SUBMISSION_SIZE, SUBMISSION_SIZE), class_id, score))
    coco = metrics.coco_mask_ap(true_instances, predicted)
    evaluation = Evaluation(result, coco, result.per_class(labels))
    if overlays is not None:
        if image_dir is None:
            raise DataError("drawing overlays needs the images' folder")
        evaluation.overlays = draw_worst_images(truth, submission, result.per_image, image_dir, overlays, worst, size)
    return evaluation
