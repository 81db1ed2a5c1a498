"""The iMaterialist Fashion competition files and :class:`FashionDataset`.

Files (``shared/reference/imaterialist-2019.md``): ``label_descriptions.json`` (46 categories and 92 attributes in
2019; 294 attributes in 2020), and ``train.csv`` in either format, detected from its columns:

- 2019: ``ImageId,EncodedPixels,Height,Width,ClassId`` with ``ClassId = "<category>[_<attribute>...]"``
  (``ImageId`` includes ``.jpg``);
- 2020: ``ImageId,EncodedPixels,Height,Width,ClassId,AttributesIds`` with an integer ``ClassId`` and comma-separated
  ``AttributesIds`` (``ImageId`` without ``.jpg``).

:func:`read_train_csv` returns one table for both, with the 2019 ClassId string (the label the 2019 metric matches
exactly) and parsed ``CategoryId`` / ``AttributeIds``. Bad values do not stop reading: they are parsed as ``-1`` and
reported by :mod:`fashion_seg.data.validation`; :class:`FashionDataset` refuses them with the offending line.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..atomic import atomic_write
from ..errors import DataError, RLEError
from ..json_files import read_json
from ..mrcnn.dataset import Dataset
from . import rle
from .images import image_size, load_image
from .masks import resize_masks, scaled_size

PACKAGED_LABELS_2019 = Path(__file__).parent / "resources" / "label_descriptions_2019.json"

#: The two training images whose train.csv Height/Width are the JPEG's swapped (Kaggle discussion 91217).
KNOWN_SWAPPED_SIZE_IMAGES = ("f4d6e71fbffc3e891e5009fef2c8bf6b.jpg", "2ab8c02ce17612733ddee218b4ce1fd1.jpg")

COLUMNS_2019 = ["ImageId", "EncodedPixels", "Height", "Width", "ClassId"]
COLUMNS_2020 = ["ImageId", "EncodedPixels", "Height", "Width", "ClassId", "AttributesIds"]
SWAPPED_SIZE_POLICIES = ("skip", "rotate")
#: the side of the square grid the competition's submissions encode their masks on (and the metric compares at)
SUBMISSION_SIZE = 512

_CLASS_ID_2019 = re.compile(r"\d+(?:_\d+)*", re.ASCII)
_ATTRIBUTES_2020 = re.compile(r"(?:\d+(?:,\d+)*)?", re.ASCII)

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ label descriptions


@dataclass(frozen=True)
class LabelDescriptions:
    """Categories and attributes of ``label_descriptions.json``.

    ``categories`` / ``attributes``: records ``{"id", "name", "supercategory", "level"}`` in file order.
    ``attribute_columns`` maps an attribute id to its column in the per-instance multi-hot vector (the position in
    file order: 2019 ids are 0..91 and map to themselves; 2020 ids skip numbers).
    """

    categories: tuple[dict, ...]
    attributes: tuple[dict, ...]
    info: dict = field(default_factory=dict)
    path: str = ""

    @property
    def num_categories(self) -> int:
        return len(self.categories)

    @property
    def num_attributes(self) -> int:
        return len(self.attributes)

    @property
    def category_names(self) -> list[str]:
        return [c["name"] for c in self.categories]

    @property
    def category_ids(self) -> set[int]:
        return {c["id"] for c in self.categories}

    @property
    def attribute_columns(self) -> dict[int, int]:
        return {a["id"]: column for column, a in enumerate(self.attributes)}

    def category_name(self, category_id: int) -> str:
        for category in self.categories:
            if category["id"] == category_id:
                return category["name"]
        raise DataError(f"unknown category id {category_id} (not in {self.path or 'label descriptions'})")

    def attribute_name(self, attribute_id: int) -> str:
        for attribute in self.attributes:
            if attribute["id"] == attribute_id:
                return attribute["name"]
        raise DataError(f"unknown attribute id {attribute_id} (not in {self.path or 'label descriptions'})")

    def describe(self, class_id: str) -> str:
        """Readable name of a 2019 ClassId string, e.g. ``"dress [mini (length), symmetrical]"``."""
        category, attributes = parse_class_id(class_id)
        name = self.category_name(category)
        if attributes:
            name += " [" + ", ".join(self.attribute_name(a) for a in attributes) + "]"
        return name


def read_label_descriptions(path: str | os.PathLike | None = None) -> LabelDescriptions:
    """Read ``label_descriptions.json`` (2019 or 2020); ``None`` reads the 2019 file shipped with the package."""
    path = Path(path) if path is not None else PACKAGED_LABELS_2019
    content = read_json(path, "label descriptions", DataError)
    try:
        categories = tuple(_label_records(content["categories"]))
        attributes = tuple(_label_records(content.get("attributes", [])))
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(
            f"{path}: expected 'categories' and 'attributes' lists of {{id, name, ...}} records ({error})"
        ) from None
    if not categories:
        raise DataError(f"{path} lists no categories")
    return LabelDescriptions(categories, attributes, dict(content.get("info", {})), str(path))


def read_data_dir_labels(data_dir: str | os.PathLike) -> LabelDescriptions:
    """``DATA_DIR/label_descriptions.json`` if the folder has one, else the packaged 2019 file."""
    label_file = Path(data_dir) / "label_descriptions.json"
    return read_label_descriptions(label_file if label_file.exists() else None)


def _label_records(records) -> Iterable[dict]:
    for record in records:
        yield {
            "id": int(record["id"]),
            "name": str(record["name"]),
            "supercategory": str(record.get("supercategory", "")),
            "level": int(record.get("level", 0)),
        }


# ---------------------------------------------------------------------------------------------------------- ClassIds


def parse_class_id(class_id: str) -> tuple[int, tuple[int, ...]]:
    """``"10_3_14_20"`` -> ``(10, (3, 14, 20))``. Raises :class:`DataError` for anything else."""
    if not isinstance(class_id, str) or not _CLASS_ID_2019.fullmatch(class_id):
        raise DataError(f"ClassId {class_id!r} is not '<category>' or '<category>_<attribute>_...'")
    category, *attributes = (int(part) for part in class_id.split("_"))
    return category, tuple(attributes)


def format_class_id(category: int, attributes: Iterable[int] = ()) -> str:
    """``(10, [20, 3])`` -> ``"10_3_20"``: the 2019 ClassId string, attributes ascending as in train.csv."""
    return "_".join(str(int(v)) for v in [category, *sorted(set(int(a) for a in attributes))])


# --------------------------------------------------------------------------------------------------------- train.csv


def image_file_name(image_id: str) -> str:
    """File name of an ImageId: 2019 ids already end in ``.jpg``; 2020 ids get it appended."""
    return image_id if Path(image_id).suffix else f"{image_id}.jpg"


def read_string_csv(path: str | os.PathLike, columns: Sequence[str] = ()) -> pd.DataFrame:
    """A competition CSV as strings, empty cells kept as ``''`` (a placeholder row's EncodedPixels, a 2020 row
    without attributes); a missing or malformed file, or one without all of ``columns``, raises :class:`DataError`
    naming it."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not a readable CSV: {error}") from None
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise DataError(f"{path} has no column(s) {', '.join(missing)}; its columns are {', '.join(frame.columns)}")
    return frame


def read_train_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a train.csv (2019 or 2020 format) into one normalised table; nothing is dropped.

    Columns: ``ImageId``, ``EncodedPixels``, ``Height``, ``Width`` (int, -1 where not a positive integer),
    ``ClassId`` (the 2019 string ``cat_attr_...``; for 2020 rebuilt from ClassId + AttributesIds; the raw text where it
    cannot be parsed), ``CategoryId`` (int, -1 where unparseable), ``AttributeIds`` (tuple of int), ``line`` (line
    number in the file; the header is line 1). ``df.attrs["format"]`` is ``"2019"`` or ``"2020"``,
    ``df.attrs["path"]`` the file.
    """
    return normalise_annotations(read_string_csv(path), str(path))


def normalise_annotations(frame: pd.DataFrame, source: str = "annotations") -> pd.DataFrame:
    """The normalised table of :func:`read_train_csv` from a raw DataFrame of strings (either format)."""
    columns = list(frame.columns)
    if all(c in columns for c in COLUMNS_2020):
        data_format = "2020"
    elif all(c in columns for c in COLUMNS_2019):
        data_format = "2019"
    else:
        missing = [c for c in COLUMNS_2019 if c not in columns]
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS_2019)}")
    out = pd.DataFrame(
        {
            "ImageId": frame["ImageId"].astype(str).to_numpy(),
            "EncodedPixels": frame["EncodedPixels"].astype(str).to_numpy(),
            "Height": _positive_ints(frame["Height"]),
            "Width": _positive_ints(frame["Width"]),
        }
    )
    raw_class = frame["ClassId"].astype(str).tolist()
    if data_format == "2020":
        raw_attributes = frame["AttributesIds"].astype(str).tolist()
        categories, attributes, class_ids = [], [], []
        for category_text, attribute_text in zip(raw_class, raw_attributes):
            attribute_text = "" if attribute_text.lower() == "nan" else attribute_text.replace(" ", "")
            if category_text.isascii() and category_text.isdigit() and _ATTRIBUTES_2020.fullmatch(attribute_text):
                ids = tuple(sorted({int(a) for a in attribute_text.split(",") if a}))
                categories.append(int(category_text))
                attributes.append(ids)
                class_ids.append(format_class_id(int(category_text), ids))
            else:
                categories.append(-1)
                attributes.append(())
                class_ids.append(f"{category_text}|{attribute_text}")
    else:
        categories, attributes, class_ids = [], [], raw_class
        for text in raw_class:
            if _CLASS_ID_2019.fullmatch(text):
                category, *ids = (int(part) for part in text.split("_"))
                categories.append(category)
                attributes.append(tuple(ids))
            else:
                categories.append(-1)
                attributes.append(())
    out["ClassId"] = class_ids
    out["CategoryId"] = np.asarray(categories, dtype=np.int64)
    out["AttributeIds"] = pd.Series(attributes, dtype=object)
    out["line"] = np.arange(2, len(out) + 2, dtype=np.int64)
    out.attrs["format"] = data_format
    out.attrs["path"] = source
    return out


def _positive_ints(column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    valid = np.isfinite(values) & (values >= 1) & (values == np.round(values))
    return np.where(valid, values, -1).astype(np.int64)


def write_train_csv(annotations: pd.DataFrame, path: str | os.PathLike, data_format: str | None = None) -> None:
    """Write annotations (as from :func:`read_train_csv`) atomically in the 2019 or 2020 format."""
    data_format = data_format or annotations.attrs.get("format", "2019")
    frame = annotations[["ImageId", "EncodedPixels", "Height", "Width"]].copy()
    if data_format == "2020":
        frame["ClassId"] = annotations["CategoryId"].astype(int).astype(str)
        frame["AttributesIds"] = [",".join(str(a) for a in ids) for ids in annotations["AttributeIds"]]
    else:
        frame["ClassId"] = annotations["ClassId"]
    with atomic_write(path, newline="") as handle:
        frame.to_csv(handle, index=False)


# ---------------------------------------------------------------------------------------------------------- dataset


class FashionDataset(Dataset):
    """iMaterialist images with their masks, read lazily: masks are decoded only for the image asked for.

    Built from a (subset of a) table of :func:`read_train_csv`; rows are grouped per image without decoding.
    Classes: the label file's categories, registered in file order as source ``"imaterialist"``; internal class id
    = category + 1 for the competition files (0 is the background).

    ``image_info[i]`` holds ``id`` (the ImageId), ``path``, ``height``/``width`` (the stored image size, from the
    CSV; never read from the image), ``rles``, ``class_id_strings``, ``category_ids``, ``attribute_ids``, ``lines``
    (train.csv line numbers), ``rotate`` (masks need the swapped-size fix, see below).

    Swapped sizes: for the images in ``swapped_image_ids`` (by default the two known bad train images) the JPEG
    header is read; if it shows the CSV size swapped, ``swapped_sizes="skip"`` (default) leaves the image out and
    ``"rotate"`` keeps it with its masks decoded at the CSV size and turned with ``mask.T[::-1, :]`` (90 degrees
    counter-clockwise) onto the JPEG's grid. Skip is the default because the rotation is inferred, not confirmed,
    and the 2020 release removed both images.

    ``load_image(i, max_side)`` and ``load_mask(i, max_side)`` return the same (height, width): the stored size,
    or shrunk to ``max_side`` on the longer side (:func:`fashion_seg.data.masks.scaled_size`). ``image_dir`` may
    be a cache written by ``dataHandling.py prepare``: its smaller images are brought to that same size.
    """

    SOURCE = "imaterialist"

    def __init__(
        self,
        annotations: pd.DataFrame,
        image_dir: str | os.PathLike,
        labels: LabelDescriptions | None = None,
        swapped_sizes: str = "skip",
        swapped_image_ids: Iterable[str] = KNOWN_SWAPPED_SIZE_IMAGES,
    ):
        super().__init__()
        if swapped_sizes not in SWAPPED_SIZE_POLICIES:
            raise DataError(f"swapped_sizes must be one of {SWAPPED_SIZE_POLICIES}, got {swapped_sizes!r}")
        self.labels = labels if labels is not None else read_label_descriptions()
        self.image_dir = Path(image_dir)
        self.swapped_sizes = swapped_sizes
        self.skipped_image_ids: list[str] = []
        for category in self.labels.categories:
            self.add_class(self.SOURCE, category["id"], category["name"])
        self._check_rows(annotations)
        self._add_images(annotations, {image_file_name(i) for i in swapped_image_ids})
        self.prepare()
        self._internal_class = {
            category["id"]: self.map_source_class_id(f"{self.SOURCE}.{category['id']}")
            for category in self.labels.categories
        }
        self._attribute_columns = self.labels.attribute_columns

    @classmethod
    def from_data_dir(
        cls, data_dir: str | os.PathLike, csv_name: str = "train.csv", image_dir: str | os.PathLike | None = None,
        **kwargs,
    ) -> "FashionDataset":
        """The dataset of a competition folder: ``DATA_DIR/train.csv``, images in ``DATA_DIR/train/`` (or
        ``image_dir``, e.g. a ``prepare`` cache), and ``DATA_DIR/label_descriptions.json`` if present (else the
        packaged 2019 file)."""
        data_dir = Path(data_dir)
        kwargs.setdefault("labels", read_data_dir_labels(data_dir))
        return cls(read_train_csv(data_dir / csv_name), image_dir or data_dir / "train", **kwargs)

    @classmethod
    def from_images(
        cls,
        image_dir: str | os.PathLike,
        image_ids: Sequence[str] | None = None,
        labels: LabelDescriptions | None = None,
    ) -> "FashionDataset":
        """Images without annotations (the test set): sizes come from the image headers; no instances."""
        image_dir = Path(image_dir)
        if image_ids is None:
            image_ids = sorted(p.name for p in image_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        rows = []
        for image_id in image_ids:
            height, width = image_size(image_dir / image_file_name(image_id))
            rows.append({"ImageId": image_id, "EncodedPixels": "", "Height": str(height), "Width": str(width),
                         "ClassId": ""})
        empty = normalise_annotations(pd.DataFrame(rows, columns=COLUMNS_2019), str(image_dir))
        return cls(empty, image_dir, labels=labels, swapped_image_ids=())

    # -- construction

    def _check_rows(self, annotations: pd.DataFrame) -> None:
        source = annotations.attrs.get("path", "annotations")
        has_mask = annotations["EncodedPixels"].to_numpy(dtype=str) != ""
        bad_size = (annotations["Height"].to_numpy() < 1) | (annotations["Width"].to_numpy() < 1)
        unknown = has_mask & ~np.isin(annotations["CategoryId"].to_numpy(), sorted(self.labels.category_ids))
        columns = self.labels.attribute_columns
        unknown_attribute = np.array([any(a not in columns for a in ids) for ids in annotations["AttributeIds"]], bool)
        bad = bad_size | unknown | unknown_attribute
        if bad.any():
            index = int(np.argmax(bad))
            row = annotations.iloc[index]
            if bad_size[index]:
                what = "Height/Width are not positive integers"
            else:
                what = f"ClassId {row['ClassId']!r} has an unknown category or attribute"
            raise DataError(
                f"{source} line {row['line']}: {what}; run `dataHandling.py validate` to list every problem "
                f"and `validate --fix` to write a cleaned CSV"
            )

    def _add_images(self, annotations: pd.DataFrame, swapped: set[str]) -> None:
        """Group rows per image (first-appearance order) with numpy slicing: fast for 333k rows."""
        codes, image_ids = pd.factorize(annotations["ImageId"], sort=False)
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order], prepend=-1, append=len(image_ids)))
        column = {name: annotations[name].to_numpy()[order] for name in
                  ("EncodedPixels", "Height", "Width", "ClassId", "CategoryId", "AttributeIds", "line")}
        source = annotations.attrs.get("path", "annotations")
        for image_id, begin, end in zip(image_ids, bounds[:-1], bounds[1:]):
            rows = {name: values[begin:end] for name, values in column.items()}
            self._add_image_rows(str(image_id), rows, image_file_name(image_id) in swapped, source)

    def _add_image_rows(self, image_id: str, rows: dict, maybe_swapped: bool, source: str) -> None:
        heights, widths = rows["Height"], rows["Width"]
        if (heights != heights[0]).any() or (widths != widths[0]).any():
            raise DataError(
                f"{source} lines {rows['line'].min()}-{rows['line'].max()}: image {image_id} has rows with "
                f"different Height/Width; run `dataHandling.py validate --fix`"
            )
        csv_size = (int(heights[0]), int(widths[0]))
        path = self.image_dir / image_file_name(image_id)
        rotate = False
        if maybe_swapped and path.exists() and _shows_swapped_size(image_size(path), csv_size):
            if self.swapped_sizes == "skip":
                self.skipped_image_ids.append(image_id)
                log.info("skipping %s: train.csv gives its size swapped (swapped_sizes='skip')", image_id)
                return
            rotate = True
        annotated = rows["EncodedPixels"].astype(str) != ""
        self.add_image(
            self.SOURCE,
            image_id,
            path,
            height=csv_size[1] if rotate else csv_size[0],
            width=csv_size[0] if rotate else csv_size[1],
            csv_height=csv_size[0],
            csv_width=csv_size[1],
            rotate=rotate,
            rles=tuple(rows["EncodedPixels"][annotated]),
            class_id_strings=tuple(rows["ClassId"][annotated]),
            category_ids=rows["CategoryId"][annotated].astype(np.int64),
            attribute_ids=tuple(rows["AttributeIds"][annotated]),
            lines=rows["line"][annotated].astype(np.int64),
        )

    # -- reading

    def image_reference(self, image_id: int) -> str:
        return str(self.image_info[image_id]["path"])

    def image_size(self, image_id: int, max_side: int | None = None) -> tuple[int, int]:
        """(height, width) that :meth:`load_image` and :meth:`load_mask` return; from the CSV, no file access."""
        info = self.image_info[image_id]
        return scaled_size(info["height"], info["width"], max_side)

    def load_image(self, image_id: int, max_side: int | None = None) -> np.ndarray:
        """RGB ``uint8 [H, W, 3]`` at :meth:`image_size` (reduced JPEG decoding when much smaller)."""
        return load_image(self.image_info[image_id]["path"], size=self.image_size(image_id, max_side))

    def load_mask(self, image_id: int, max_side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Masks ``bool [H, W, N]`` at :meth:`image_size` and internal class ids ``int32 [N]`` (category + 1).

        Memory layout: instance-major, each ``masks[:, :, i]`` a Fortran-ordered 2-D array (the layout RLE decodes
        to; writing a C-ordered ``[H, W, N]`` instead takes 2-3x longer). Call
        ``np.ascontiguousarray`` if you need C order. With ``max_side`` the masks are resized on their run-length
        form (nearest neighbour), never decoded at the full size. A malformed RLE raises :class:`RLEError` naming
        the train.csv line.
        """
        info = self.image_info[image_id]
        height, width = self.image_size(image_id, max_side)
        masks = np.empty((len(info["rles"]), width, height), dtype=bool)
        for index, (encoded, line) in enumerate(zip(info["rles"], info["lines"])):
            masks[index] = self._instance_mask(info, encoded, line, height, width).T
        class_ids = np.array([self._internal_class[c] for c in info["category_ids"]], dtype=np.int32)
        return masks.transpose(2, 1, 0), class_ids

    def _instance_mask(self, info: dict, encoded: str, line: int, height: int, width: int) -> np.ndarray:
        csv_height, csv_width = info["csv_height"], info["csv_width"]
        try:
            runs = rle.parse_runs(encoded, csv_height, csv_width)
        except RLEError as error:
            raise RLEError(f"{info['id']} (train.csv line {line}): {error}") from None
        if info["rotate"]:
            rotated = rle.runs_to_mask(runs, csv_height, csv_width).T[::-1, :]
            return resize_masks(rotated, height, width)
        runs = rle.resize_runs(runs, csv_height, csv_width, height, width)
        return rle.runs_to_mask(runs, height, width)

    def load_attributes(self, image_id: int) -> np.ndarray:
        """Per-instance attribute multi-hot ``bool [N, num_attributes]`` (columns: ``labels.attribute_columns``)."""
        info = self.image_info[image_id]
        multi_hot = np.zeros((len(info["attribute_ids"]), self.labels.num_attributes), dtype=bool)
        for instance, attributes in enumerate(info["attribute_ids"]):
            multi_hot[instance, [self._attribute_columns[a] for a in attributes]] = True
        return multi_hot

    def class_id_strings(self, image_id: int) -> list[str]:
        """The 2019 ClassId string of each instance, in :meth:`load_mask` order (e.g. ``"10_3_14_20"``)."""
        return list(self.image_info[image_id]["class_id_strings"])

    def image_index(self, image_id: str) -> int:
        """Internal index of an ImageId."""
        try:
            return int(self.image_from_source_map[f"{self.SOURCE}.{image_id}"])
        except KeyError:
            raise DataError(f"image {image_id!r} is not in this dataset") from None

    @property
    def image_id_strings(self) -> list[str]:
        """ImageId of each internal index."""
        return [info["id"] for info in self.image_info]


def _shows_swapped_size(stored: tuple[int, int], csv_size: tuple[int, int]) -> bool:
    """Whether an image file of size ``stored`` is the CSV's Height x Width turned sideways; a ``prepare`` cache
    holds it shrunk, so sizes are compared after scaling to the file's longer side."""
    longest = max(stored)
    return stored == scaled_size(csv_size[1], csv_size[0], longest) != scaled_size(csv_size[0], csv_size[1], longest)
