"""What a training run does, apart from the network's configuration: its stages, learning-rate schedule, augmentation,
validation metric and data. Profiles (top-level ``config.py``) bundle a :class:`TrainingPlan` with config values.

A stage trains the layers of a matterport layer set (``heads``, ``3+``, ``4+``, ``5+``, ``all``, or a regular
expression) for a number of epochs at ``LEARNING_RATE x lr_factor``. Written on the command line as
``LAYERS:EPOCHS[:LR_FACTOR]``, comma-separated::

    heads:10,all:15:0.1      the seed project's schedule: 10 epochs of the heads at LEARNING_RATE, then 15 epochs
                             of all layers at LEARNING_RATE / 10 (epochs 11-25)
    heads:10,4+:5,all:10:0.1 three stages

Epochs are counted over the whole run, from 1: a stage starts where the previous one ended, so a run resumed at
epoch ``e`` is in the stage whose epochs contain ``e`` (:meth:`TrainingPlan.stage_of`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from ..atomic import atomic_write
from ..errors import ConfigError
from ..json_files import read_json

AUGMENTATION_PRESETS = ("none", "seed", "first_place")


@dataclass(frozen=True)
class Stage:
    """``epochs`` epochs of training the ``layers`` at ``LEARNING_RATE x lr_factor``."""

    layers: str
    epochs: int
    lr_factor: float = 1.0

    def __post_init__(self):
        from ..mrcnn.training import resolve_layers

        resolve_layers(self.layers)
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 1:
            raise ConfigError(f"stage {self.layers!r}: epochs={self.epochs!r} must be a positive integer")
        if not isinstance(self.lr_factor, (int, float)) or isinstance(self.lr_factor, bool) or self.lr_factor <= 0:
            raise ConfigError(f"stage {self.layers!r}: learning-rate factor {self.lr_factor!r} must be > 0")
        object.__setattr__(self, "lr_factor", float(self.lr_factor))

    def __str__(self) -> str:
        factor = "" if self.lr_factor == 1 else f":{self.lr_factor:g}"
        return f"{self.layers}:{self.epochs}{factor}"


def parse_stages(text: str) -> tuple[Stage, ...]:
    """``"heads:10,all:15:0.1"`` -> stages (see the module docstring)."""
    stages = []
    for part in (p.strip() for p in text.split(",")):
        pieces = part.split(":")
        if len(pieces) not in (2, 3) or not pieces[0]:
            raise ConfigError(f"stage {part!r}: write LAYERS:EPOCHS[:LR_FACTOR], e.g. heads:10 or all:15:0.1")
        try:
            epochs = int(pieces[1])
            factor = float(pieces[2]) if len(pieces) == 3 else 1.0
        except ValueError:
            raise ConfigError(f"stage {part!r}: EPOCHS must be an integer and LR_FACTOR a number") from None
        stages.append(Stage(pieces[0], epochs, factor))
    return tuple(stages)


def format_stages(stages) -> str:
    return ",".join(str(stage) for stage in stages)


@dataclass(frozen=True)
class TrainingPlan:
    """Everything a run needs besides the network config; saved as ``training.json`` in the run directory so that a
    resumed run continues with the same plan.

    stages: see the module docstring. augmentation / cutout: :func:`fashion_seg.data.augmentation.make_augmentation`.
    multiscale: ``(short_min, short_max, long_max)`` for :class:`fashion_seg.mrcnn.canvas.MultiScale`, or None.
    warmup_steps / warmup_factor: the learning rate rises linearly from ``warmup_factor x`` to the full rate over the
    run's first steps; decay_epochs / decay_factor: it is multiplied by ``decay_factor`` from each of these epochs on
    (1-based: ``(10, 18)`` lowers it for epochs 11-18, then again from 19). val_metric_every: compute the competition
    metric every this many epochs (0: never) on the first ``val_metric_images`` validation images, post-processed
    with preset ``val_metric_preset``. data_dir / image_dir (e.g. a ``dataHandling.py prepare`` cache) / split (a
    split folder), else a split made at the start of the run with ``val_fraction`` or ``val_images`` and ``seed``
    (which also seeds the batches and the initial weights).
    """

    stages: tuple[Stage, ...] = (Stage("heads", 10), Stage("all", 15, 0.1))
    augmentation: str = "seed"
    cutout: bool = False
    multiscale: tuple[int, int, int | None] | None = None
    warmup_steps: int = 0
    warmup_factor: float = 1 / 3
    decay_epochs: tuple[int, ...] = ()
    decay_factor: float = 0.1
    val_metric_every: int = 1
    val_metric_images: int = 100
    val_metric_preset: str = "first_place"
    data_dir: str = "data"
    image_dir: str | None = None
    split: str | None = None
    val_fraction: float | None = 0.2
    val_images: int | None = None
    seed: int = 0
    profile: str = "custom"

    def __post_init__(self):
        if not self.stages:
            raise ConfigError("a training plan needs at least one stage")
        object.__setattr__(self, "stages", tuple(s if isinstance(s, Stage) else Stage(**s) for s in self.stages))
        if self.augmentation not in AUGMENTATION_PRESETS:
            raise ConfigError(f"augmentation {self.augmentation!r}; choose one of {', '.join(AUGMENTATION_PRESETS)}")
        if self.cutout and self.augmentation != "first_place":
            raise ConfigError("cutout needs the 'first_place' augmentation")
        if self.multiscale is not None:
            from ..mrcnn.canvas import MultiScale

            values = tuple(self.multiscale)
            if len(values) not in (2, 3):
                raise ConfigError(f"multiscale {list(values)}: give SHORT_MIN,SHORT_MAX[,LONG_MAX]")
            MultiScale(*values)  # validates
            object.__setattr__(self, "multiscale", values + (None,) * (3 - len(values)))
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps={self.warmup_steps!r} must be an integer >= 0")
        for name in ("warmup_factor", "decay_factor"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be in (0, 1]")
        decay = tuple(int(e) for e in self.decay_epochs)
        if any(e < 1 for e in decay) or list(decay) != sorted(set(decay)):
            raise ConfigError(f"decay_epochs {list(decay)} must be increasing positive epoch numbers")
        object.__setattr__(self, "decay_epochs", decay)
        if not isinstance(self.val_metric_every, int) or self.val_metric_every < 0:
            raise ConfigError(f"val_metric_every={self.val_metric_every!r} must be an integer >= 0 (0: never)")
        if not isinstance(self.val_metric_images, int) or self.val_metric_images < 1:
            raise ConfigError(f"val_metric_images={self.val_metric_images!r} must be a positive integer")
        if self.split is None and (self.val_fraction is None) == (self.val_images is None):
            raise ConfigError("without a split folder, give exactly one of val_fraction and val_images")

    # ------------------------------------------------------------------------------------------- the schedule
    @property
    def total_epochs(self) -> int:
        return sum(stage.epochs for stage in self.stages)

    def stage_ends(self) -> list[int]:
        """The last epoch (1-based, cumulative) of each stage."""
        ends, total = [], 0
        for stage in self.stages:
            total += stage.epochs
            ends.append(total)
        return ends

    def stage_of(self, epoch: int) -> int:
        """Index of the stage that trains ``epoch`` (0-based, as Keras counts; the last stage past the end)."""
        for index, end in enumerate(self.stage_ends()):
            if epoch < end:
                return index
        return len(self.stages) - 1

    def describe_stages(self) -> str:
        """``heads 1-10 (lr x1), all 11-25 (lr x0.1)``."""
        start, parts = 1, []
        for stage, end in zip(self.stages, self.stage_ends()):
            parts.append(f"{stage.layers} {start}-{end} (lr x{stage.lr_factor:g})")
            start = end + 1
        return ", ".join(parts)

    # ------------------------------------------------------------------------------------------- (de)serialising
    def replace(self, **changes) -> "TrainingPlan":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["stages"] = format_stages(self.stages)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "training plan") -> "TrainingPlan":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}")
        values = dict(values)
        if isinstance(values.get("stages"), str):
            values["stages"] = parse_stages(values["stages"])
        for name in ("multiscale", "decay_epochs"):
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        return cls(**values)

    def save_json(self, path: str | os.PathLike) -> Path:
        with atomic_write(path) as handle:
            json.dump(self.to_dict(), handle, indent=2, sort_keys=True)
            handle.write("\n")
        return Path(path)

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> "TrainingPlan":
        return cls.from_dict(read_json(path, "training plan", ConfigError), str(path))


@dataclass(frozen=True)
class Profile:
    """A named starting point: network config values (``FashionConfig`` overrides) and the training plan."""

    name: str
    description: str
    config: Mapping[str, Any] = field(default_factory=dict)
    plan: TrainingPlan = field(default_factory=TrainingPlan)

    def __post_init__(self):
        object.__setattr__(self, "plan", self.plan.replace(profile=self.name))
