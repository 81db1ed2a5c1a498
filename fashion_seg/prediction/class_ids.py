"""Predicted ClassIds with attributes: a detection's category plus the attributes its model believes in.

    composer = ClassIdComposer.load("logs/fashion20260101T120000/attributes.json", labels)
    composer.compose(categories, probabilities, composer.thresholds(0.5))   # -> ["10_3_20", "31", ...]

Rule (the competition's 2019 ClassId, ``format_class_id``): the category, then the attributes whose probability is at
least their threshold, ascending, each once, and only attributes seen with that category in training (a model's
sigmoid can be above the threshold for "v-neck" on a pair of pants; the truth never pairs them, so such a ClassId
could only be wrong). Categories listed as ``category_only`` get their category alone.

``attributes.json`` is written by training into the run directory beside the checkpoints:
``{"attribute_ids": [0, 1, ...], "category_attributes": {"10": [3, 14, 20], ...}}``, column ``j`` of the attribute
head's output <-> ``attribute_ids[j]``; ``category_attributes``: the attribute ids seen with each category.

Thresholds are per attribute supercategory of the label file (``length``, ``silhouette``, ``opening type``, ...), with
one global value for the rest (:meth:`ClassIdComposer.thresholds`); :mod:`fashion_seg.prediction.tuning` says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..data.labels import LabelDescriptions, format_class_id
from ..errors import ConfigError, DataError
from ..json_files import read_json
from ..mrcnn.run_names import RUN_DIR

log = logging.getLogger(__name__)

ATTRIBUTES_FILE = "attributes.json"


def read_attributes_json(path: str | os.PathLike) -> tuple[tuple[int, ...], dict[int, tuple[int, ...]]]:
    """``(attribute_ids, category_attributes)`` of an ``attributes.json`` (format in the module docstring); a
    missing, unreadable or malformed file raises :class:`DataError` naming it."""
    content = read_json(path, "attribute file", DataError)
    try:
        attribute_ids = tuple(_ids(content["attribute_ids"]))
        category_attributes = {_id(category): tuple(sorted(set(_ids(ids))))
                               for category, ids in content["category_attributes"].items()}
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise DataError(f"attribute file {path}: expected {{\"attribute_ids\": [ids], \"category_attributes\": "
                        f"{{\"<category>\": [ids]}}}} ({type(error).__name__}: {error})") from None
    if len(set(attribute_ids)) != len(attribute_ids):
        raise DataError(f"attribute file {path}: attribute_ids repeat an id")
    unknown = sorted({a for ids in category_attributes.values() for a in ids} - set(attribute_ids))
    if unknown:
        raise DataError(f"attribute file {path}: category_attributes name ids {unknown} not in attribute_ids")
    return attribute_ids, category_attributes


def _ids(values) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{values!r} is not a list of ids")
    return [_id(v) for v in values]


def _id(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or int(value) < 0:
        raise ValueError(f"{value!r} is not an id (an integer >= 0)")
    return int(value)


def find_attributes_file(weights: str | os.PathLike) -> Path | None:
    """The ``attributes.json`` of a checkpoint: beside the weights file, else in the training run directory that
    holds it (the nearest enclosing folder named like ``fashion20260101T120000``); None when there is none."""
    path = Path(weights).resolve()
    beside = path.parent / ATTRIBUTES_FILE
    if beside.is_file():
        return beside
    for folder in path.parents[1:]:
        if RUN_DIR.match(folder.name):
            return folder / ATTRIBUTES_FILE if (folder / ATTRIBUTES_FILE).is_file() else None
    return None


@dataclass(frozen=True, eq=False)
class ClassIdComposer:
    """Composes ClassIds from categories and attribute probabilities (see the module docstring).

    ``attribute_ids``: int64 ``[A]``, column -> attribute id; ``allowed``: category -> bool ``[A]``, the columns seen
    with it in training; ``supercategories``: ``[A]`` the attribute supercategory of each column ("" when the label
    file has none); ``source``: where it came from (for messages).
    """

    attribute_ids: np.ndarray
    allowed: Mapping[int, np.ndarray]
    supercategories: tuple[str, ...]
    source: str = "attribute table"

    @classmethod
    def from_table(cls, attribute_ids: Sequence[int], category_attributes: Mapping[int, Sequence[int]],
                   labels: LabelDescriptions | None = None, source: str = "attribute table") -> "ClassIdComposer":
        """From the two parts of ``attributes.json``; ``labels`` (the label file) gives the supercategories and
        must know every attribute id (else the submission checker would refuse the ClassIds)."""
        ids = np.asarray(attribute_ids, dtype=np.int64)
        column = {int(a): j for j, a in enumerate(ids)}
        allowed = {}
        for category, members in category_attributes.items():
            mask = np.zeros(len(ids), bool)
            mask[[column[int(a)] for a in members]] = True
            if mask.any():
                allowed[int(category)] = mask
        groups = [""] * len(ids)
        if labels is not None:
            known = {int(a["id"]): str(a.get("supercategory", "")) for a in labels.attributes}
            unknown = [int(a) for a in ids if int(a) not in known]
            if unknown:
                raise DataError(f"{source}: attribute ids {unknown[:5]} are not in {labels.path or 'the label file'}"
                                " (trained with another label file?)")
            groups = [known[int(a)] for a in ids]
        return cls(ids, allowed, tuple(groups), source)

    @classmethod
    def load(cls, path: str | os.PathLike, labels: LabelDescriptions | None = None) -> "ClassIdComposer":
        """From an ``attributes.json`` (:func:`read_attributes_json`)."""
        attribute_ids, category_attributes = read_attributes_json(path)
        return cls.from_table(attribute_ids, category_attributes, labels, str(path))

    @property
    def num_attributes(self) -> int:
        return len(self.attribute_ids)

    @property
    def attribute_categories(self) -> tuple[int, ...]:
        """The categories that carry attributes in training, ascending."""
        return tuple(sorted(self.allowed))

    def groups(self) -> tuple[str, ...]:
        """The attribute supercategories some category can carry (those a threshold can matter for), sorted."""
        used = np.zeros(self.num_attributes, bool)
        for mask in self.allowed.values():
            used |= mask
        return tuple(sorted({g for g, u in zip(self.supercategories, used) if u and g}))

    def allowed_ids(self, category: int) -> tuple[int, ...]:
        """The attribute ids seen with ``category`` in training, ascending."""
        mask = self.allowed.get(int(category))
        return () if mask is None else tuple(sorted(int(a) for a in self.attribute_ids[mask]))

    def thresholds(self, default: float, per_group: Mapping[str, float] | None = None) -> np.ndarray:
        """float64 ``[A]``: each column's threshold, ``per_group[its supercategory]`` where given, else ``default``."""
        per_group = per_group or {}
        return np.array([per_group.get(g, default) for g in self.supercategories], dtype=np.float64)

    def compose(self, categories: Sequence[int], probabilities: np.ndarray, thresholds: np.ndarray,
                category_only: Sequence[int] = ()) -> list[str]:
        """ClassId strings of ``N`` detections: ``categories`` int ``[N]``, ``probabilities`` float ``[N, A]``
        (columns as :attr:`attribute_ids`), ``thresholds`` ``[A]`` (:meth:`thresholds`); the categories of
        ``category_only`` get no attributes."""
        probabilities = np.asarray(probabilities)
        if probabilities.ndim != 2 or probabilities.shape[1] != self.num_attributes:
            raise ConfigError(f"the model predicts {probabilities.shape[1:]} attributes per detection but "
                              f"{self.source} names {self.num_attributes}: use the attributes.json of the run "
                              "that trained these weights")
        plain = set(int(c) for c in category_only)
        above = probabilities >= np.asarray(thresholds)[None, :]
        class_ids = []
        for category, row in zip(categories, above):
            category = int(category)
            mask = self.allowed.get(category)
            if mask is None or category in plain:
                class_ids.append(str(category))
            else:
                class_ids.append(format_class_id(category, self.attribute_ids[row & mask]))
        return class_ids

    def digest(self) -> str:
        """A short digest of the table (what the journal records, so that a run with another table starts over)."""
        table = {"attribute_ids": self.attribute_ids.tolist(),
                 "allowed": {str(c): self.allowed_ids(c) for c in self.attribute_categories}}
        return hashlib.sha1(json.dumps(table, sort_keys=True).encode()).hexdigest()[:16]


def composer_for_weights(weights: Sequence[str | os.PathLike], labels: LabelDescriptions | None,
                         num_attributes: int | None) -> ClassIdComposer | None:
    """The composer of the checkpoints ``weights`` (one ensemble) whose attribute head predicts ``num_attributes``
    (None: no attribute head): from the ``attributes.json`` found beside them (:func:`find_attributes_file`).
    None without an attribute head (a warning if a file is there) or without a file (then a warning that ClassIds
    will be categories only). Checkpoints whose tables differ, or a table of another width than the head, raise
    :class:`ConfigError`."""
    found = {}
    for path in weights:
        table = find_attributes_file(path)
        if table is not None:
            found[table] = ClassIdComposer.load(table, labels)
    if not found:
        if num_attributes is not None:
            log.warning("the model has an attribute head but no %s is beside %s (nor in its run directory): "
                        "predicting categories only; copy the training run's %s there to get attribute ClassIds",
                        ATTRIBUTES_FILE, Path(weights[0]), ATTRIBUTES_FILE)
        return None
    composers = list(found.values())
    if len({c.digest() for c in composers}) > 1:
        raise ConfigError(f"the checkpoints of an ensemble were trained with different attribute tables: "
                          f"{', '.join(map(str, found))}")
    source = next(iter(found))
    if num_attributes is None:
        log.warning("%s found beside the weights, but the model has no attribute head: predicting categories only",
                    source)
        return None
    if composers[0].num_attributes != num_attributes:
        raise ConfigError(f"{source} names {composers[0].num_attributes} attributes but the model's attribute head "
                          f"predicts {num_attributes} (NUM_ATTRIBUTES): use the attributes.json of the run that "
                          "trained these weights")
    log.info("attribute ClassIds from %s", source)
    return composers[0]
