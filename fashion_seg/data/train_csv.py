"""The competition's ``train.csv`` in either format, detected from its columns
(``shared/reference/imaterialist-2019.md``):

- 2019: ``ImageId,EncodedPixels,Height,Width,ClassId`` with ``ClassId = "<category>[_<attribute>...]"``
  (``ImageId`` includes ``.jpg``);
- 2020: ``ImageId,EncodedPixels,Height,Width,ClassId,AttributesIds`` with an integer ``ClassId`` and comma-separated
  ``AttributesIds`` (``ImageId`` without ``.jpg``).

:func:`read_train_csv` returns one table for both, with the 2019 ClassId string (the label the 2019 metric matches
exactly) and parsed ``CategoryId`` / ``AttributeIds``. Bad values do not stop reading: they are parsed as ``-1`` and
reported by :mod:`fashion_seg.data.validation`; :class:`~fashion_seg.data.imaterialist.FashionDataset` refuses them
with the offending line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..atomic import atomic_write
from ..errors import DataError
from .labels import CLASS_ID_PATTERN, format_class_id

COLUMNS_2019 = ["ImageId", "EncodedPixels", "Height", "Width", "ClassId"]
COLUMNS_2020 = ["ImageId", "EncodedPixels", "Height", "Width", "ClassId", "AttributesIds"]

_ATTRIBUTES_2020 = re.compile(r"(?:\d+(?:,\d+)*)?", re.ASCII)


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
            if CLASS_ID_PATTERN.fullmatch(text):
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
