"""The competition's labels: ``label_descriptions.json`` (46 categories and 92 attributes in 2019; 294 attributes in
2020) as :class:`LabelDescriptions`, and the 2019 ClassId strings (``"10_3_14_20"``: a category and its attributes)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import DataError
from ..json_files import read_json

PACKAGED_LABELS_2019 = Path(__file__).parent / "resources" / "label_descriptions_2019.json"

#: a 2019 ClassId: ``<category>[_<attribute>...]``
CLASS_ID_PATTERN = re.compile(r"\d+(?:_\d+)*", re.ASCII)


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
    if not isinstance(class_id, str) or not CLASS_ID_PATTERN.fullmatch(class_id):
        raise DataError(f"ClassId {class_id!r} is not '<category>' or '<category>_<attribute>_...'")
    category, *attributes = (int(part) for part in class_id.split("_"))
    return category, tuple(attributes)


def format_class_id(category: int, attributes: Iterable[int] = ()) -> str:
    """``(10, [20, 3])`` -> ``"10_3_20"``: the 2019 ClassId string, attributes ascending as in train.csv."""
    return "_".join(str(int(v)) for v in [category, *sorted(set(int(a) for a in attributes))])
