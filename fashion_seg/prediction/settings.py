"""The settings of post-processing (:class:`PostProcessing`, one value per step of
:func:`fashion_seg.prediction.postprocess.postprocess`), its presets (``matterport``: its inference defaults;
``first_place``: the 1st place's tuned values) and the JSON files ``tune`` writes (:meth:`PostProcessing.save_json`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_write
from ..errors import ConfigError


@dataclass(frozen=True)
class PostProcessing:
    """The thresholds of post-processing (see the module docstring for the order they apply in)."""

    min_score: float = 0.5
    nms_iou: float = 0.3
    max_detections: int = 100
    mask_threshold: float = 0.45
    min_area: int = 20
    drop_categories: tuple[int, ...] = ()
    attribute_threshold: float = 0.5
    attribute_thresholds: tuple[tuple[str, float], ...] = ()
    category_only: tuple[int, ...] = ()

    def __post_init__(self):
        for name in ("min_score", "nms_iou", "mask_threshold", "attribute_threshold"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                raise ConfigError(f"post-processing {name}={value!r} must be a number in [0, 1]")
        for name in ("max_detections", "min_area"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"post-processing {name}={value!r} must be an integer >= 0")
        for name in ("drop_categories", "category_only"):
            categories = getattr(self, name)
            if not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 0 for c in categories):
                raise ConfigError(f"post-processing {name}={list(categories)!r} must be category ids (ints >= 0)")
            object.__setattr__(self, name, tuple(sorted({int(c) for c in categories})))
        pairs = self.attribute_thresholds
        pairs = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)
        if not all(isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], str)
                   and isinstance(pair[1], (int, float)) and not isinstance(pair[1], bool) and 0 <= pair[1] <= 1
                   for pair in pairs):
            raise ConfigError(f"post-processing attribute_thresholds={self.attribute_thresholds!r} must map attribute "
                              "supercategory names to numbers in [0, 1]")
        object.__setattr__(self, "attribute_thresholds", tuple(sorted((str(k), float(v)) for k, v in pairs)))

    def to_dict(self) -> dict:
        values = asdict(self)
        values["drop_categories"] = list(self.drop_categories)
        values["category_only"] = list(self.category_only)
        values["attribute_thresholds"] = dict(self.attribute_thresholds)
        return values

    @classmethod
    def from_dict(cls, values: dict, source: str = "post-processing settings") -> "PostProcessing":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = dict(values)
        for name in ("drop_categories", "category_only"):
            if name in values:
                if not isinstance(values[name], list):
                    raise ConfigError(f"{source}: {name} must be a list of category ids, not {values[name]!r}")
                values[name] = tuple(values[name])
        if "attribute_thresholds" in values and not isinstance(values["attribute_thresholds"], dict):
            raise ConfigError(f"{source}: attribute_thresholds must be an object of supercategory: threshold, not "
                              f"{values['attribute_thresholds']!r}")
        return cls(**values)

    def replace(self, **changes) -> "PostProcessing":
        return replace(self, **changes)

    def describe(self) -> str:
        """One line of the values; the attribute settings only where they differ from the defaults."""
        dropped = format_categories(self.drop_categories) or "none"
        text = (f"min_score {self.min_score:g}, nms_iou {self.nms_iou:g}, max_detections {self.max_detections}, "
                f"mask_threshold {self.mask_threshold:g}, min_area {self.min_area}, drop_categories {dropped}")
        defaults = PostProcessing()
        if (self.attribute_threshold, self.attribute_thresholds, self.category_only) == \
                (defaults.attribute_threshold, defaults.attribute_thresholds, defaults.category_only):
            return text
        plain = format_categories(self.category_only) or "none"
        groups = "".join(f", {name} {value:g}" for name, value in self.attribute_thresholds)
        return f"{text}; attributes: threshold {self.attribute_threshold:g}{groups}, category_only {plain}"

    def category_choice(self, category: int) -> str:
        """What is emitted for ``category``: one of :data:`CATEGORY_CHOICES`."""
        if category in self.drop_categories:
            return "drop"
        return "category" if category in self.category_only else "attributes"

    def with_category_choice(self, category: int, choice: str) -> "PostProcessing":
        """These settings with ``category`` dropped, emitted as its category only, or with its attributes."""
        if choice not in CATEGORY_CHOICES:
            raise ValueError(f"choice {choice!r} is not one of {CATEGORY_CHOICES}")
        dropped = set(self.drop_categories) - {category} | ({category} if choice == "drop" else set())
        plain = set(self.category_only) - {category} | ({category} if choice == "category" else set())
        return self.replace(drop_categories=tuple(dropped), category_only=tuple(plain))

    def with_group_threshold(self, group: str, value: float) -> "PostProcessing":
        """These settings with the attribute threshold of supercategory ``group`` set to ``value``."""
        return self.replace(attribute_thresholds={**dict(self.attribute_thresholds), group: value})

    def save_json(self, path: str | os.PathLike, **extra) -> Path:
        """Write the settings as a preset file (``extra``: more top-level keys, e.g. the tuning score, which
        :func:`load_preset` ignores)."""
        with atomic_write(path) as handle:
            json.dump({"post_processing": self.to_dict(), **extra}, handle, indent=2, sort_keys=True)
            handle.write("\n")
        return Path(path)


#: what post-processing can emit for a category: its detections with their attributes, as the category alone, or none
CATEGORY_CHOICES = ("attributes", "category", "drop")

PRESETS = {
    # matterport's Config: DETECTION_MIN_CONFIDENCE 0.7, DETECTION_NMS_THRESHOLD 0.3, DETECTION_MAX_INSTANCES 100,
    # and unmold_mask's threshold 0.5; no area filter.
    "matterport": PostProcessing(min_score=0.7, nms_iou=0.3, max_detections=100, mask_threshold=0.5, min_area=0),
    # the 1st place of iMaterialist 2019 (test_cfg.rcnn of its HTC config, plus its "objects under 20 pixels" rule).
    # It also dropped categories 0-12 (their truth carries attributes its model did not predict): add
    # --drop-categories 0-12 for the real data.
    "first_place": PostProcessing(min_score=0.5, nms_iou=0.3, max_detections=100, mask_threshold=0.45, min_area=20),
}
DEFAULT_PRESET = "first_place"


def load_preset(name_or_path: str | os.PathLike) -> PostProcessing:
    """A named preset (:data:`PRESETS`) or a JSON file written by ``tune`` / :meth:`PostProcessing.save_json`."""
    if str(name_or_path) in PRESETS:
        return PRESETS[str(name_or_path)]
    path = Path(name_or_path)
    if not path.exists():
        raise ConfigError(f"no preset {str(name_or_path)!r}: name one of {', '.join(PRESETS)} or give a JSON file "
                          "written by `predict.py tune`")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"preset file {path} is not valid JSON: {error}") from None
    if not isinstance(values, dict) or not isinstance(values.get("post_processing"), dict):
        raise ConfigError(f"preset file {path} has no 'post_processing' object")
    return PostProcessing.from_dict(values["post_processing"], str(path))


def parse_categories(text: str) -> tuple[int, ...]:
    """``"0-12,27"`` -> ``(0, 1, ..., 12, 27)``; ``""`` or ``"none"`` -> ``()``."""
    if text.strip().lower() in ("", "none"):
        return ()
    out: list[int] = []
    for part in text.split(","):
        bounds = part.strip().split("-")
        try:
            if len(bounds) == 1:
                out.append(int(bounds[0]))
            elif len(bounds) == 2 and int(bounds[0]) <= int(bounds[1]):
                out.extend(range(int(bounds[0]), int(bounds[1]) + 1))
            else:
                raise ValueError(part)
        except ValueError:
            raise ConfigError(f"category list {text!r}: {part.strip()!r} is not an id or a range like 0-12") from None
    return tuple(sorted(set(out)))


def format_categories(categories: Sequence[int]) -> str:
    """Inverse of :func:`parse_categories`: ``(0, 1, 2, 5)`` -> ``"0-2,5"``."""
    parts: list[str] = []
    values = sorted(set(categories))
    start = None
    for index, value in enumerate(values):
        if start is None:
            start = value
        if index + 1 == len(values) or values[index + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)
