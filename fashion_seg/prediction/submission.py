"""Submission files: ``ImageId,EncodedPixels,ClassId`` rows, written atomically, and a checker that lists every problem.

Rules (``shared/reference/imaterialist-2019.md`` sections 1.4, 2, 4): masks are Kaggle RLE on the image resized to
512x512 without keeping the aspect ratio (``size=512``; ``size=None`` writes native-size masks, for local scoring
only); ClassId is the full ``category[_attribute...]`` string; every test image appears, an image without detections
as the placeholder row ``(ImageId, "", "23")`` (the 1st-place form: no pixel, so no false positive); no two masks of
the same (ImageId, ClassId) share a pixel (masks of different classes may).

Writing: :func:`image_rows` turns one image's predicted masks into rows (resize, same-class overlap removal in score
order, encode); :class:`SubmissionWriter` streams rows of many images into a file that appears only when complete,
adding placeholders for expected images that got none. Checking: :func:`check_submission`.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..atomic import atomic_write
from ..data import rle
from ..data.images import image_size
from ..data.imaterialist import SUBMISSION_SIZE
from ..data.labels import LabelDescriptions, parse_class_id, read_label_descriptions
from ..data.train_csv import read_string_csv
from ..data.mask_geometry import hard_overlap_suppression, resize_masks
from ..errors import DataError, RLEError

COLUMNS = ["ImageId", "EncodedPixels", "ClassId"]
PLACEHOLDER_CLASS_ID = "23"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

Row = tuple[str, str, str]


def placeholder_row(image_id: str) -> Row:
    """The row for an image without detections: no pixels, ClassId 23."""
    return (image_id, "", PLACEHOLDER_CLASS_ID)


def image_rows(
    image_id: str,
    masks: np.ndarray,
    class_ids: Sequence[str | int],
    scores: Sequence[float] | None = None,
    size: int | None = SUBMISSION_SIZE,
) -> list[Row]:
    """Submission rows of one image's predictions.

    ``masks``: ``bool [H, W, N]`` at any size (e.g. the original image's); resized to ``size`` x ``size`` by
    nearest neighbour (``None``: kept as they are). ``class_ids``: ClassId strings (or category ints);
    ``scores``: ``[N]``, higher wins where masks of one class overlap (default: earlier masks win). Masks left empty
    are dropped; with no mask left the placeholder row is returned.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape[-1] != len(class_ids):
        raise DataError(f"{image_id}: masks {masks.shape} do not match {len(class_ids)} class ids (need [H, W, N])")
    if scores is None:
        scores = -np.arange(len(class_ids), dtype=np.float64)
    if len(scores) != len(class_ids):
        raise DataError(f"{image_id}: {len(scores)} scores for {len(class_ids)} masks")
    labels = [str(c) for c in class_ids]
    for label in labels:
        parse_class_id(label)
    if size is not None:
        masks = resize_masks(masks.astype(bool, copy=False), size, size)
    masks = hard_overlap_suppression(masks, labels, scores)
    rows = []
    for index in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        encoded = rle.encode(masks[:, :, index])
        if encoded:
            rows.append((image_id, encoded, labels[index]))
    return rows or [placeholder_row(image_id)]


class SubmissionWriter:
    """Streams submission rows to ``path``; the file appears atomically, complete, when the block ends without error.

    ``image_ids``: the test images; at the end each of them without rows gets the placeholder row, and rows for an
    image not in the list raise :class:`DataError`. Memory stays flat: rows go to disk as they come.

        with SubmissionWriter("submission.csv", test_ids) as writer:
            for image_id, masks, class_ids, scores in predictions:
                writer.add(image_id, masks, class_ids, scores)
    """

    def __init__(self, path: str | os.PathLike, image_ids: Iterable[str] | None = None,
                 size: int | None = SUBMISSION_SIZE):
        self.path = Path(path)
        self.size = size
        self.expected = list(image_ids) if image_ids is not None else None
        self._expected_set = set(self.expected) if self.expected is not None else None
        self.written: set[str] = set()
        self.rows = 0
        self._context = None
        self._writer = None

    def __enter__(self) -> "SubmissionWriter":
        self._context = atomic_write(self.path, newline="")
        handle = self._context.__enter__()
        self._writer = csv.writer(handle, lineterminator="\n")
        self._writer.writerow(COLUMNS)
        return self

    def add(self, image_id: str, masks: np.ndarray, class_ids: Sequence[str | int],
            scores: Sequence[float] | None = None) -> int:
        """Write one image's predictions (see :func:`image_rows`); returns the number of rows written."""
        return self.add_rows(image_rows(image_id, masks, class_ids, scores, self.size))

    def add_rows(self, rows: Iterable[Row]) -> int:
        """Write ready-made rows (their masks must already be at the submission size and free of same-class
        overlap; :func:`check_submission` verifies a finished file)."""
        count = 0
        for image_id, encoded, class_id in rows:
            if self._expected_set is not None and image_id not in self._expected_set:
                raise DataError(f"image {image_id!r} is not one of the {len(self._expected_set)} test images")
            self._writer.writerow((image_id, encoded, class_id))
            self.written.add(image_id)
            count += 1
        self.rows += count
        return count

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if exc_type is None and self.expected is not None:
            for image_id in self.expected:
                if image_id not in self.written:
                    self._writer.writerow(placeholder_row(image_id))
                    self.rows += 1
        return bool(self._context.__exit__(exc_type, exc, traceback))


def write_submission(
    rows: pd.DataFrame | Iterable[Row], path: str | os.PathLike, image_ids: Iterable[str] | None = None
) -> int:
    """Write ready-made rows (a DataFrame with :data:`COLUMNS` or ``(ImageId, EncodedPixels, ClassId)`` tuples)
    atomically, with placeholders for ``image_ids`` that have none. Returns the number of rows written."""
    if isinstance(rows, pd.DataFrame):
        missing = [c for c in COLUMNS if c not in rows.columns]
        if missing:
            raise DataError(f"submission rows lack column(s) {', '.join(missing)}")
        rows = rows[COLUMNS].itertuples(index=False, name=None)
    with SubmissionWriter(path, image_ids) as writer:
        writer.add_rows(rows)
    return writer.rows


# --------------------------------------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class SubmissionProblem:
    """A problem of a submission file; ``line`` is its line in the file (header = 1), None for the whole file."""

    message: str
    line: int | None = None
    image_id: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return f"{where}: {self.message}"


def expected_image_ids(test_dir: str | os.PathLike | None = None, sample_csv: str | os.PathLike | None = None) -> list[str]:
    """The ImageIds a submission must cover: the images of ``test_dir``, or the ImageIds of sample_submission.csv."""
    if test_dir is not None:
        folder = Path(test_dir)
        if not folder.is_dir():
            raise DataError(f"test folder not found: {folder}")
        return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if sample_csv is not None:
        sample = read_string_csv(sample_csv)
        if "ImageId" not in sample.columns:
            raise DataError(f"{sample_csv} has no ImageId column")
        return list(dict.fromkeys(sample["ImageId"]))
    raise DataError("give a test folder or sample_submission.csv to check against")


def check_submission(
    submission: str | os.PathLike | pd.DataFrame,
    image_ids: Sequence[str],
    size: int | None = SUBMISSION_SIZE,
    labels: LabelDescriptions | None = None,
    test_dir: str | os.PathLike | None = None,
    category_attributes: Mapping[int, Collection[int]] | None = None,
) -> list[SubmissionProblem]:
    """Every problem of a submission, each with its line: columns, unknown or missing images, ClassIds that are not
    ``category[_attribute...]`` of known ids, invalid RLE for the mask size, and same-(ImageId, ClassId) overlaps.

    ``size``: the mask grid (512 for Kaggle); ``None`` means each image's native size, read from ``test_dir``.
    ``category_attributes``: category -> the attribute ids seen with it in training (``attributes.json``); when
    given, a ClassId pairing a category with an attribute never seen with it is a problem too (the competition
    accepts it, but it cannot match any truth). An empty list means the file is valid.
    """
    labels = labels or read_label_descriptions()
    frame = submission if isinstance(submission, pd.DataFrame) else read_string_csv(submission)
    if list(frame.columns) != COLUMNS:
        missing = [c for c in COLUMNS if c not in frame.columns]
        extra = [c for c in frame.columns if c not in COLUMNS]
        detail = []
        if missing:
            detail.append(f"missing {', '.join(missing)}")
        if extra:
            detail.append(f"unexpected {', '.join(map(str, extra))}")
        if not detail:
            detail.append("wrong order")
        problems = [SubmissionProblem(f"columns must be {','.join(COLUMNS)} ({'; '.join(detail)})")]
        if missing:
            return problems
    else:
        problems = []
    if size is None and test_dir is None:
        raise DataError("checking native-size masks needs the test folder (for the image sizes)")
    expected = set(image_ids)
    category_ids, attribute_ids = labels.category_ids, set(labels.attribute_columns)
    native: dict[str, tuple[int, int]] = {}
    groups: dict[tuple[str, str], list[tuple[int, rle.Runs]]] = {}
    present = set()
    for line, (image_id, encoded, class_id) in enumerate(
        zip(frame["ImageId"], frame["EncodedPixels"], frame["ClassId"]), start=2
    ):
        if image_id not in expected:
            problems.append(SubmissionProblem(f"image {image_id!r} is not a test image", line, image_id))
            continue
        present.add(image_id)
        try:
            category, attributes = parse_class_id(class_id)
        except DataError as error:
            problems.append(SubmissionProblem(str(error), line, image_id))
        else:
            unknown = [a for a in attributes if a not in attribute_ids]
            if category not in category_ids:
                problems.append(SubmissionProblem(f"unknown category {category} in ClassId {class_id!r}", line, image_id))
            elif unknown:
                problems.append(SubmissionProblem(f"unknown attribute(s) {unknown} in ClassId {class_id!r}", line, image_id))
            elif list(attributes) != sorted(set(attributes)):
                problems.append(SubmissionProblem(f"ClassId {class_id!r}: attributes must be ascending, each once",
                                                  line, image_id))
            elif category_attributes is not None:
                unseen = [a for a in attributes if a not in set(category_attributes.get(category, ()))]
                if unseen:
                    problems.append(SubmissionProblem(f"ClassId {class_id!r}: attribute(s) {unseen} never seen with "
                                                      f"category {category} in training", line, image_id))
        if size is None:
            if image_id not in native:
                native[image_id] = image_size(Path(test_dir) / image_id)
            height, width = native[image_id]
        else:
            height, width = size, size
        try:
            runs = rle.parse_runs(encoded, height, width)
        except RLEError as error:
            problems.append(SubmissionProblem(f"EncodedPixels for a {height}x{width} mask: {error}", line, image_id))
            continue
        if runs.starts.size:
            groups.setdefault((image_id, str(class_id)), []).append((line, runs))
    for (image_id, class_id), members in groups.items():
        for line, other in _overlapping_lines(members):
            problems.append(SubmissionProblem(
                f"mask overlaps line {other}: same ImageId and ClassId {class_id!r} must not share pixels",
                line, image_id))
    for image_id in image_ids:
        if image_id not in present:
            problems.append(SubmissionProblem(f"test image {image_id} has no row (add a placeholder row)",
                                              None, image_id))
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _overlapping_lines(members: list[tuple[int, rle.Runs]]) -> list[tuple[int, int]]:
    """(line, earlier overlapping line) pairs among the masks of one (ImageId, ClassId); vectorised sweep."""
    if len(members) < 2:
        return []
    starts = np.concatenate([runs.starts for _, runs in members])
    ends = np.concatenate([runs.starts + runs.lengths for _, runs in members])
    lines = np.concatenate([np.full(runs.starts.size, line) for line, runs in members])
    order = np.argsort(starts, kind="stable")
    starts, ends, lines = starts[order], ends[order], lines[order]
    running_end = np.maximum.accumulate(ends)
    # index of the run holding the running maximum end so far
    holder = np.maximum.accumulate(np.where(ends == running_end, np.arange(ends.size), 0))
    overlapping = np.flatnonzero(starts[1:] < running_end[:-1]) + 1
    pairs = {(int(lines[i]), int(lines[holder[i - 1]])) for i in overlapping}
    return sorted({(max(a, b), min(a, b)) for a, b in pairs})
