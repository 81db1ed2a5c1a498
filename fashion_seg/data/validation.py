"""Checking a competition folder: every problem is reported with its train.csv line; nothing crashes, nothing is lost.

:func:`validate_annotations` lists problems of these kinds (``PROBLEM_KINDS``), row by row or image by image:

- rows: ``bad_size`` (Height/Width not positive integers), ``bad_class_id`` (not ``cat[_attr...]``),
  ``unknown_category``, ``unknown_attribute``, ``empty_mask``, ``invalid_rle`` (with the RLE error),
  ``duplicate_row`` (same ImageId, EncodedPixels and ClassId as an earlier line);
- images: ``inconsistent_size`` (rows of one image disagree on Height/Width), ``missing_image``,
  ``unreadable_image``, ``swapped_size`` (the JPEG is Width x Height: the two known bad train images),
  ``size_mismatch`` (any other difference between the CSV and the JPEG).

:func:`clean_annotations` turns a report into a cleaned table (``dataHandling.py validate --fix OUT.csv``): bad rows
and rows of missing, unreadable or mismatched images are dropped; swapped-size images are dropped (``"skip"``) or
their masks rotated onto the JPEG's grid with ``mask.T[::-1, :]`` and their size swapped (``"rotate"``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..errors import DataError, RLEError
from . import rle
from .images import check_pixels, image_size
from .imaterialist import SWAPPED_SIZE_POLICIES
from .labels import LabelDescriptions, read_data_dir_labels
from .train_csv import image_file_name, read_train_csv

PROBLEM_KINDS = {
    "bad_size": "Height/Width not positive integers",
    "bad_class_id": "ClassId not '<category>[_<attribute>...]'",
    "unknown_category": "category id not in label_descriptions.json",
    "unknown_attribute": "attribute id not in label_descriptions.json",
    "empty_mask": "EncodedPixels is empty",
    "invalid_rle": "EncodedPixels is not a valid RLE for Height x Width",
    "duplicate_row": "same ImageId, EncodedPixels and ClassId as an earlier line",
    "inconsistent_size": "rows of one image disagree on Height/Width",
    "missing_image": "no image file for the ImageId",
    "unreadable_image": "image file cannot be decoded",
    "swapped_size": "the image is Width x Height: CSV size swapped",
    "size_mismatch": "image size differs from the CSV's Height x Width",
}
ROW_KINDS = ("bad_size", "bad_class_id", "unknown_category", "unknown_attribute", "empty_mask", "invalid_rle",
             "duplicate_row")


@dataclass(frozen=True)
class Problem:
    """One problem: its kind (a key of ``PROBLEM_KINDS``), message, and the train.csv lines it concerns."""

    kind: str
    message: str
    image_id: str | None = None
    lines: tuple[int, ...] = ()

    @property
    def where(self) -> str:
        if not self.lines:
            return "-"
        if len(self.lines) == 1:
            return f"line {self.lines[0]}"
        return f"lines {min(self.lines)}-{max(self.lines)} ({len(self.lines)})"


@dataclass
class ValidationReport:
    """Problems found, and what was looked at. ``image_sizes``: stored (height, width) of every readable image."""

    problems: list[Problem]
    num_rows: int
    num_images: int
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for problem in self.problems:
            counts[problem.kind] = counts.get(problem.kind, 0) + 1
        return counts

    def swapped_image_ids(self) -> list[str]:
        return [p.image_id for p in self.problems if p.kind == "swapped_size"]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(p.kind, p.where, p.image_id or "", p.message) for p in self.problems],
            columns=["kind", "where", "image_id", "message"],
        )

    def table(self, limit: int | None = 50) -> str:
        """Text table of the first ``limit`` problems (all if None) and a count per kind."""
        if self.ok:
            return f"no problems in {self.num_rows} rows of {self.num_images} images"
        shown = self.problems if limit is None else self.problems[:limit]
        where_width = max(len(p.where) for p in shown)
        kind_width = max(len(p.kind) for p in shown)
        lines = [f"{'kind':<{kind_width}}  {'where':<{where_width}}  problem"]
        for p in shown:
            lines.append(f"{p.kind:<{kind_width}}  {p.where:<{where_width}}  {p.message}")
        if len(shown) < len(self.problems):
            lines.append(f"... and {len(self.problems) - len(shown)} more")
        summary = ", ".join(f"{kind} {count}" for kind, count in sorted(self.counts().items()))
        lines.append(f"{len(self.problems)} problems in {self.num_rows} rows of {self.num_images} images: {summary}")
        return "\n".join(lines)


def validate_data_dir(
    data_dir: str | os.PathLike, check_all_pixels: bool = False, progress: bool = False
) -> tuple[pd.DataFrame, ValidationReport]:
    """Read ``DATA_DIR/train.csv`` (+ ``label_descriptions.json``, else the packaged 2019 file) and validate it
    against ``DATA_DIR/train/``. Returns the annotations as read and the report. A train.csv without rows raises
    :class:`DataError`: there is nothing to check, and nothing to train on."""
    data_dir = Path(data_dir)
    labels = read_data_dir_labels(data_dir)
    annotations = read_train_csv(data_dir / "train.csv")
    if annotations.empty:
        raise DataError(f"{data_dir / 'train.csv'} has a header but no annotation rows: nothing to validate")
    report = validate_annotations(annotations, data_dir / "train", labels, check_all_pixels, progress)
    return annotations, report


def validate_annotations(
    annotations: pd.DataFrame,
    image_dir: str | os.PathLike,
    labels: LabelDescriptions,
    check_all_pixels: bool = False,
    progress: bool = False,
) -> ValidationReport:
    """Validate a table of :func:`~fashion_seg.data.train_csv.read_train_csv` against its image folder.

    Images are checked from their headers (fast); ``check_all_pixels`` decodes every image fully, which also finds
    truncated files (slow on the full dataset).
    """
    problems = _row_problems(annotations, labels, progress)
    image_problems, sizes = _image_problems(annotations, Path(image_dir), check_all_pixels, progress)
    problems += image_problems
    return ValidationReport(problems, len(annotations), annotations["ImageId"].nunique(), sizes)


def _row_problems(annotations: pd.DataFrame, labels: LabelDescriptions, progress: bool) -> list[Problem]:
    problems: list[Problem] = []
    category_ids = labels.category_ids
    attribute_columns = labels.attribute_columns
    data_format = annotations.attrs.get("format", "2019")
    seen: dict[tuple[str, str, str], int] = {}
    rows = zip(
        annotations["ImageId"], annotations["EncodedPixels"], annotations["Height"], annotations["Width"],
        annotations["ClassId"], annotations["CategoryId"], annotations["AttributeIds"], annotations["line"],
    )
    for image_id, encoded, height, width, class_id, category, attributes, line in tqdm(
        rows, total=len(annotations), desc="rows", unit="row", disable=not progress
    ):
        lines = (int(line),)
        if height < 1 or width < 1:
            problems.append(Problem("bad_size", "Height/Width are not positive integers", image_id, lines))
        if category < 0:
            shown = class_id.replace("|", " + AttributesIds ") if data_format == "2020" else class_id
            problems.append(Problem("bad_class_id", f"ClassId {shown!r} is not '<category>[_<attribute>...]'",
                                    image_id, lines))
        elif category not in category_ids:
            problems.append(Problem("unknown_category", f"unknown category {category} in ClassId {class_id!r}",
                                    image_id, lines))
        unknown = [a for a in attributes if a not in attribute_columns]
        if unknown:
            problems.append(Problem("unknown_attribute", f"unknown attribute(s) {unknown} in ClassId {class_id!r}",
                                    image_id, lines))
        if not encoded.strip():
            problems.append(Problem("empty_mask", "EncodedPixels is empty", image_id, lines))
        elif height >= 1 and width >= 1:
            try:
                rle.parse_runs(encoded, height, width)
            except RLEError as error:
                problems.append(Problem("invalid_rle", f"EncodedPixels: {error}", image_id, lines))
        key = (image_id, encoded, class_id)
        if key in seen:
            problems.append(Problem("duplicate_row", f"duplicates line {seen[key]}", image_id, lines))
        else:
            seen[key] = int(line)
    return problems


def _image_problems(
    annotations: pd.DataFrame, image_dir: Path, check_all_pixels: bool, progress: bool
) -> tuple[list[Problem], dict[str, tuple[int, int]]]:
    problems: list[Problem] = []
    sizes: dict[str, tuple[int, int]] = {}
    groups = annotations.groupby("ImageId", sort=False)
    for image_id, rows in tqdm(groups, total=groups.ngroups, desc="images", unit="img", disable=not progress):
        lines = tuple(int(v) for v in rows["line"])
        valid = rows[(rows["Height"] > 0) & (rows["Width"] > 0)]
        csv_sizes = sorted(set(zip(valid["Height"].tolist(), valid["Width"].tolist())))
        if len(csv_sizes) > 1:
            listed = ", ".join(f"{h}x{w}" for h, w in csv_sizes)
            problems.append(Problem("inconsistent_size", f"rows give different sizes {listed}", image_id, lines))
        path = image_dir / image_file_name(image_id)
        if not path.exists():
            problems.append(Problem("missing_image", f"no file {path}", image_id, lines))
            continue
        try:
            stored = image_size(path)
            if check_all_pixels:
                check_pixels(path)
        except DataError as error:
            problems.append(Problem("unreadable_image", str(error), image_id, lines))
            continue
        sizes[image_id] = stored
        for csv_size in csv_sizes:
            if csv_size == stored:
                continue
            size_lines = tuple(
                int(line) for line, h, w in zip(valid["line"], valid["Height"], valid["Width"]) if (h, w) == csv_size
            )
            csv_text, image_text = f"{csv_size[0]}x{csv_size[1]}", f"{stored[0]}x{stored[1]}"
            if csv_size[::-1] == stored:
                problems.append(Problem("swapped_size", f"CSV size {csv_text} is the image's {image_text} swapped",
                                        image_id, size_lines))
            else:
                problems.append(Problem("size_mismatch", f"CSV size {csv_text} but the image is {image_text}",
                                        image_id, size_lines))
    return problems, sizes


def clean_annotations(
    annotations: pd.DataFrame, report: ValidationReport, swapped_sizes: str = "skip"
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The annotations without the rows that ``report`` found bad (see the module docstring).

    Returns the cleaned table (same columns and ``attrs``) and counts ``{"kept", "dropped", "rotated"}``.
    """
    if swapped_sizes not in SWAPPED_SIZE_POLICIES:
        raise DataError(f"swapped_sizes must be one of {SWAPPED_SIZE_POLICIES}, got {swapped_sizes!r}")
    drop: set[int] = set()
    rotate: set[int] = set()
    for problem in report.problems:
        if problem.kind == "inconsistent_size":
            continue  # the rows that disagree with the image are caught as size_mismatch / swapped_size
        if problem.kind == "swapped_size" and swapped_sizes == "rotate":
            rotate.update(problem.lines)
        else:
            drop.update(problem.lines)
    rotate -= drop
    keep = ~annotations["line"].isin(drop).to_numpy()
    cleaned = annotations[keep].copy()
    to_rotate = cleaned["line"].isin(rotate).to_numpy()
    if to_rotate.any():
        encoded = cleaned["EncodedPixels"].to_numpy(dtype=object)
        heights = cleaned["Height"].to_numpy().copy()
        widths = cleaned["Width"].to_numpy().copy()
        for index in np.flatnonzero(to_rotate):
            mask = rle.decode(encoded[index], heights[index], widths[index])
            encoded[index] = rle.encode(mask.T[::-1, :])
            heights[index], widths[index] = widths[index], heights[index]
        cleaned["EncodedPixels"] = encoded
        cleaned["Height"] = heights
        cleaned["Width"] = widths
    cleaned.attrs = dict(annotations.attrs)
    counts = {"kept": int(keep.sum()), "dropped": int((~keep).sum()), "rotated": int(to_rotate.sum())}
    return cleaned.reset_index(drop=True), counts
