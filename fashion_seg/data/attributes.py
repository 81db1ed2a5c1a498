"""Per-instance attribute targets: multi-hot vectors, which of them are known, and the run's ``attributes.json``.

Vocabulary: the attribute records of ``label_descriptions.json`` in file order
(:attr:`~fashion_seg.data.labels.LabelDescriptions.attribute_columns`: 2019 ids 0..91 are their own columns,
2020's 294 ids skip numbers). An instance's attributes come from its 2019 ClassId (``"10_3_14_20"``: attributes 3,
14, 20) or from the 2020 ``AttributesIds`` column, which :func:`~fashion_seg.data.train_csv.read_train_csv`
already folds into the same ``AttributeIds`` tuples.

Known / unknown. Real train.csv mixes images annotated with attributes (about 10K of 50K) and images annotated with
categories only, so an instance without attributes is "none" only where the annotator was giving attributes:

========================  ========================================================  ===================================
case                      instance                                                  target
========================  ========================================================  ===================================
``with_attributes``       its ClassId carries attributes                            known, multi-hot of them
``known_none``            no attributes, but another instance of its image has      known, all zeros
``unknown``               no attributes, and no instance of its image has any       masked (no attribute loss)
``never_attributed``      its category carries no attribute anywhere in training    masked (no attribute loss)
========================  ========================================================  ===================================

The last rule comes first: a shoe is never "known none", whatever its image holds, because no annotator gave shoes
attributes. "Anywhere in training" is the :class:`AttributeTable` of the training csv, which training saves as
``attributes.json`` beside its checkpoints for prediction (which attributes may go with which category).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..atomic import atomic_write
from ..errors import ConfigError, DataError
from ..json_files import read_json
from .labels import LabelDescriptions

ATTRIBUTES_FILE = "attributes.json"
CASES = ("with_attributes", "known_none", "unknown", "never_attributed")


@dataclass(frozen=True)
class AttributeTable:
    """The attribute vocabulary and the attributes seen with each category in training.

    ``attribute_ids``: column ``j`` of a multi-hot vector is attribute ``attribute_ids[j]``.
    ``category_attributes``: category id -> attribute ids (ascending) seen with it; categories never seen with an
    attribute are absent.
    """

    attribute_ids: tuple[int, ...]
    category_attributes: dict[int, tuple[int, ...]]

    @property
    def num_attributes(self) -> int:
        return len(self.attribute_ids)

    @property
    def columns(self) -> dict[int, int]:
        """Attribute id -> column."""
        return {attribute: column for column, attribute in enumerate(self.attribute_ids)}

    @classmethod
    def from_annotations(cls, annotations: pd.DataFrame, labels: LabelDescriptions) -> "AttributeTable":
        """The table of a :func:`~fashion_seg.data.train_csv.read_train_csv` table (rows without a mask or with an
        unparseable ClassId are ignored)."""
        rows = annotations[(annotations["CategoryId"] >= 0) & (annotations["EncodedPixels"] != "")]
        return cls.from_instances(rows["CategoryId"].to_numpy(), rows["AttributeIds"].tolist(), labels)

    @classmethod
    def from_dataset(cls, dataset) -> "AttributeTable":
        """The table of a :class:`~fashion_seg.data.imaterialist.FashionDataset` (its ``labels`` and the
        ``category_ids`` / ``attribute_ids`` of its ``image_info``)."""
        categories = [c for info in dataset.image_info for c in _instance_field(info, "category_ids")]
        attributes = [a for info in dataset.image_info for a in _instance_field(info, "attribute_ids")]
        return cls.from_instances(categories, attributes, dataset.labels)

    @classmethod
    def from_instances(cls, category_ids: Iterable[int], attribute_ids: Iterable[Sequence[int]],
                       labels: LabelDescriptions) -> "AttributeTable":
        """The table of instances given as parallel category ids and attribute-id tuples."""
        vocabulary = tuple(a["id"] for a in labels.attributes)
        known = set(vocabulary)
        seen: dict[int, set[int]] = {}
        for category, attributes in zip(category_ids, attribute_ids):
            unknown = [a for a in attributes if a not in known]
            if unknown:
                raise DataError(f"attribute id {unknown[0]} (category {category}) is not in "
                                f"{labels.path or 'the label descriptions'}")
            if len(attributes):
                seen.setdefault(int(category), set()).update(int(a) for a in attributes)
        return cls(vocabulary, {category: tuple(sorted(ids)) for category, ids in sorted(seen.items())})

    def save_json(self, path: str | os.PathLike) -> None:
        """Write ``{"attribute_ids": [...], "category_attributes": {"10": [...], ...}}`` atomically."""
        content = {"attribute_ids": list(self.attribute_ids),
                   "category_attributes": {str(c): list(ids) for c, ids in self.category_attributes.items()}}
        with atomic_write(path) as handle:
            json.dump(content, handle, indent=1)
            handle.write("\n")

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> "AttributeTable":
        content = read_json(path, "attribute table", DataError)
        try:
            attribute_ids = tuple(int(a) for a in content["attribute_ids"])
            category_attributes = {int(c): tuple(int(a) for a in ids)
                                   for c, ids in content["category_attributes"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DataError(f"attribute table {path}: expected 'attribute_ids' (a list of ints) and "
                            f"'category_attributes' (category -> list of ints) ({error})") from None
        return cls(attribute_ids, category_attributes)

    # -------------------------------------------------------------------------------------------- targets

    def instance_cases(self, category_ids: Sequence[int], attribute_ids: Sequence[Sequence[int]]) -> list[str]:
        """The case (:data:`CASES`, see the module docstring) of each instance of one image."""
        image_has_attributes = any(len(a) for a in attribute_ids)
        cases = []
        for category, attributes in zip(category_ids, attribute_ids):
            if not self.category_attributes.get(int(category)):
                cases.append("never_attributed")
            elif len(attributes):
                cases.append("with_attributes")
            else:
                cases.append("known_none" if image_has_attributes else "unknown")
        return cases

    def targets(self, category_ids: Sequence[int],
                attribute_ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """One image's attribute targets: ``(vectors float32 [N, num_attributes] multi-hot, known bool [N])``;
        ``known`` is False where the attribute loss is masked (cases ``unknown`` and ``never_attributed``)."""
        columns = self.columns
        vectors = np.zeros((len(category_ids), self.num_attributes), dtype=np.float32)
        for instance, attributes in enumerate(attribute_ids):
            try:
                vectors[instance, [columns[a] for a in attributes]] = 1.0
            except KeyError as error:
                raise DataError(f"attribute id {error.args[0]} is not in the attribute vocabulary "
                                f"({self.num_attributes} attributes)") from None
        cases = self.instance_cases(category_ids, attribute_ids)
        known = np.array([case in ("with_attributes", "known_none") for case in cases], dtype=bool)
        return vectors, known

    def count_cases(self, annotations: pd.DataFrame) -> dict[str, int]:
        """How many instances (rows with a mask and a parseable ClassId) of a
        :func:`~fashion_seg.data.train_csv.read_train_csv` table fall in each case, in :data:`CASES` order."""
        rows = annotations[(annotations["CategoryId"] >= 0) & (annotations["EncodedPixels"] != "")]
        has = rows["AttributeIds"].map(len).to_numpy() > 0
        image_has = pd.Series(has, index=rows.index).groupby(rows["ImageId"]).transform("any").to_numpy(bool)
        attributed = rows["CategoryId"].isin([c for c, ids in self.category_attributes.items() if ids]).to_numpy()
        return {
            "with_attributes": int((attributed & has).sum()),
            "known_none": int((attributed & ~has & image_has).sum()),
            "unknown": int((attributed & ~image_has).sum()),
            "never_attributed": int((~attributed).sum()),
        }


class AttributeTargets:
    """The attribute targets of a dataset's images for training batches: ``targets(image_id)`` ->
    ``(vectors float32 [N, A], known bool [N])`` in ``load_mask`` order, by the rule of :class:`AttributeTable`.

    ``dataset``: a :class:`~fashion_seg.data.imaterialist.FashionDataset` (any dataset whose ``image_info`` entries
    hold ``category_ids`` and ``attribute_ids`` per instance). ``table``: the training csv's table (default: the
    dataset's own; give the training set's table to the validation set's targets).
    """

    def __init__(self, dataset, table: AttributeTable | None = None):
        self.dataset = dataset
        self.table = table if table is not None else AttributeTable.from_dataset(dataset)

    @property
    def num_attributes(self) -> int:
        return self.table.num_attributes

    def __call__(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        info = self.dataset.image_info[int(image_id)]
        return self.table.targets(_instance_field(info, "category_ids"), _instance_field(info, "attribute_ids"))


def _instance_field(info: dict, key: str):
    if key not in info:
        raise ConfigError(f"image {info.get('id', '?')} has no per-instance {key!r}: attribute targets need a dataset "
                          "that records each instance's category and attribute ids (FashionDataset does)")
    return info[key]
