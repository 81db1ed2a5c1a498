"""The run directory of a training run, and where a run resumes.

matterport's layout, ``<model_dir>/<name><YYYYMMDDTHHMMSS>/``, holds:

===============================================  ===========================================================
``mask_rcnn_<name>_<NNNN>.h5``                   the weights after epoch NNNN (1-based), every epoch
``mask_rcnn_<name>_best.h5``, ``best.json``      the best epoch by the validation metric (by ``val_loss`` when
                                                 the metric is off), with its epoch and value
``mask_rcnn_<name>_<NNNN>_interrupted.h5``       weights saved on Ctrl-C / SIGTERM during epoch NNNN + 1
``mask_rcnn_<name>_<NNNN>_last_good.h5``         the last weights before a non-finite loss in epoch NNNN + 1
``config.json``, ``training.json``               the network config and the training plan (stages, schedule,
                                                 augmentation, data): a resumed run reads both
``attributes.json``                              with ``ATTRIBUTE_HEAD``: the attribute vocabulary and the
                                                 attributes seen with each category in the training images
                                                 (:class:`fashion_seg.data.attributes.AttributeTable`)
``split/``                                       the train/validation split the run made (when it made one)
``history.csv``, ``loss_curve.png``              one row per epoch (losses, validation losses, metric, rate);
                                                 the chart of all of them, redrawn every epoch
``broken_images.jsonl``                          images the pipeline could not read, one JSON line each
``*.h5.superseded``                              checkpoints after the one a run was resumed from (set aside)
``train.log``                                    the run's log; TensorBoard event files under ``train/`` and
                                                 ``validation/``
===============================================  ===========================================================

``--weights last`` resumes the newest run that has a checkpoint, from its newest one: a stop checkpoint of epoch
NNNN + 1 counts as newer than the complete checkpoint NNNN, and the run continues at epoch NNNN + 1 with it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..checkpoints import first_complete
from ..data.attributes import ATTRIBUTES_FILE  # noqa: F401 (one of the run directory's files, named here too)
from ..errors import WeightsError
from ..mrcnn.run_names import RUN_DIR, stamp_order

CONFIG_FILE = "config.json"
PLAN_FILE = "training.json"
HISTORY_FILE = "history.csv"
CURVE_FILE = "loss_curve.png"
BEST_FILE = "best.json"
BROKEN_FILE = "broken_images.jsonl"
LOG_FILE = "train.log"
SPLIT_DIR = "split"
STOP_REASONS = ("interrupted", "last_good")



def checkpoint_name(name: str, epoch: int, reason: str | None = None) -> str:
    """``mask_rcnn_<name>_<epoch:04d>.h5``, or with ``_<reason>`` for a stop checkpoint."""
    suffix = f"_{reason}" if reason else ""
    return f"mask_rcnn_{name.lower()}_{epoch:04d}{suffix}.h5"


def best_checkpoint_name(name: str) -> str:
    return f"mask_rcnn_{name.lower()}_best.h5"


@dataclass(frozen=True)
class ResumePoint:
    """A checkpoint to continue a run from: the weights after ``epoch`` complete epochs (plus part of the next one
    for a stop checkpoint, whose ``reason`` says why it was written)."""

    path: Path
    epoch: int
    reason: str | None = None

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    def describe(self) -> str:
        if self.reason == "interrupted":
            return f"{self.path} (epoch {self.epoch} and part of epoch {self.epoch + 1}, saved when interrupted)"
        if self.reason == "last_good":
            return f"{self.path} (the last good weights of epoch {self.epoch + 1}, before a non-finite loss)"
        return f"{self.path} (after epoch {self.epoch})"


def _checkpoint_pattern(name: str) -> re.Pattern:
    reasons = "|".join(STOP_REASONS)
    return re.compile(rf"^mask_rcnn_{re.escape(name.lower())}_(?P<epoch>\d{{4}})(?:_(?P<reason>{reasons}))?\.h5$")


def parse_resume_point(path: str | os.PathLike, name: str) -> ResumePoint | None:
    """The resume point of ``path`` if it is a checkpoint of a run of ``name`` (its file named as above, in a
    ``<name><YYYYMMDDTHHMMSS>`` directory), else None (a file of starting weights)."""
    path = Path(path)
    match = _checkpoint_pattern(name).match(path.name)
    run = RUN_DIR.match(path.parent.name)
    if not match or not run or run["name"] != name.lower():
        return None
    return ResumePoint(path, int(match["epoch"]), match["reason"])


def set_aside_later_checkpoints(point: ResumePoint, name: str) -> list[Path]:
    """Rename the checkpoints of ``point``'s run that lie after it (later epochs, or a stop checkpoint of its own
    epoch after a complete one) to ``<file>.superseded``: a run resumed from an earlier checkpoint replaces them, and
    until it does, ``--weights last`` must not pick them up. Nothing is deleted. Returns the new paths."""
    pattern = _checkpoint_pattern(name)
    key = (point.epoch, point.reason is not None)
    moved = []
    for path in sorted(point.run_dir.iterdir()):
        match = pattern.match(path.name)
        if match and (int(match["epoch"]), match["reason"] is not None) > key:
            target = path.with_name(path.name + ".superseded")
            os.replace(path, target)
            moved.append(target)
    return moved


def newest_resume_point(model_dir: str | os.PathLike, name: str) -> ResumePoint:
    """Where ``--weights last`` resumes: the newest run of ``name`` under ``model_dir`` that has a checkpoint, and
    its newest checkpoint (see the module docstring)."""
    model_dir = Path(model_dir)
    runs = [p for p in model_dir.iterdir() if p.is_dir() and (m := RUN_DIR.match(p.name)) and m["name"] == name.lower()] \
        if model_dir.is_dir() else []
    pattern = _checkpoint_pattern(name)
    for run in sorted(runs, key=lambda p: stamp_order(RUN_DIR.match(p.name)["stamp"]), reverse=True):
        points = [ResumePoint(f, int(m["epoch"]), m["reason"]) for f in run.iterdir() if (m := pattern.match(f.name))]
        points.sort(key=lambda p: (p.epoch, p.reason is not None, p.path.stat().st_mtime_ns), reverse=True)
        complete = first_complete([p.path for p in points])  # a truncated newest one is passed over, with a warning
        if complete is not None:
            return next(p for p in points if p.path == complete)
    raise WeightsError(f"--weights last: no checkpoint of {name.lower()!r} under {model_dir} (looked for "
                       f"{name.lower()}YYYYMMDDTHHMMSS/mask_rcnn_{name.lower()}_NNNN.h5); start a run with --weights "
                       "coco, imagenet, none or a file")
