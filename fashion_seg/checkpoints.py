"""Checkpoints for prediction: which file ``--weights`` means, the configuration it was trained with, and the
inference model built from both.

A training run writes ``<model_dir>/<name><YYYYMMDDTHHMMSS>/mask_rcnn_<name>_<epoch>.h5`` and its configuration as
``config.json`` beside them. Prediction builds its model from that saved configuration (or ``--config FILE``), then
applies command-line overrides (``--set KEY=VALUE``), and finally runs the network permissively
(:data:`PERMISSIVE_DETECTION`): the strict thresholds belong to post-processing, where they can be tuned without
running the network again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Sequence

from .errors import ConfigError, WeightsError
from .json_files import read_json
from .mrcnn.config import Config
from .mrcnn.run_names import RUN_DIR, stamp_order

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
DEFAULT_CONFIG = {"NAME": "fashion", "NUM_CLASSES": 47}  # the 46 categories of 2019 + background
# What the network keeps for post-processing to choose from: low scores, overlapping boxes, up to 100 per image.
PERMISSIVE_DETECTION = {"DETECTION_MIN_CONFIDENCE": 0.05, "DETECTION_NMS_THRESHOLD": 0.5}


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["IMAGE_MAX_DIM=512", "BACKBONE=resnet50", "MEAN_PIXEL=[120, 115, 100]"]`` -> values (JSON where it parses,
    else the text)."""
    values = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: write KEY=VALUE, e.g. --set IMAGE_MAX_DIM=512")
        try:
            values[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            values[key.strip()] = text
    return values


def read_config_values(path: str | os.PathLike) -> dict[str, Any]:
    """The values of a saved config JSON (``Config.save_json``); keys the base :class:`Config` does not know (a
    subclass's own settings) are left out with a warning, since the network is built from the base ones."""
    path = Path(path)
    values = read_json(path, "config file", ConfigError)
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a JSON object of Config attributes")
    unknown = sorted(k for k in values if not hasattr(Config, k) and k not in ("BATCH_SIZE", "IMAGE_SHAPE",
                                                                               "IMAGE_META_SIZE"))
    if unknown:
        log.warning("%s: ignoring settings the Mask R-CNN config does not have: %s", path, ", ".join(unknown))
    return {k: v for k, v in values.items() if k not in unknown}


def newest_run_config(model_dir: str | os.PathLike) -> Path | None:
    """``config.json`` of the newest run directory under ``model_dir`` that has one."""
    model_dir = Path(model_dir)
    runs = [p for p in model_dir.iterdir() if p.is_dir() and RUN_DIR.match(p.name)] if model_dir.is_dir() else []
    for run in sorted(runs, key=lambda p: stamp_order(RUN_DIR.match(p.name)["stamp"]), reverse=True):
        if (run / CONFIG_FILE).exists():
            return run / CONFIG_FILE
    return None


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why the weights file ``path`` cannot be read whole (missing, truncated, corrupt), or None if every array of
    every layer reads."""
    from .mrcnn.weights import WeightFile

    try:
        with WeightFile(path) as weights:
            for layer in weights.weighted_layer_names:
                weights.arrays(layer)
    except WeightsError as error:
        return str(error)
    return None


def first_complete(candidates: Sequence[str | os.PathLike]) -> Path | None:
    """The first of ``candidates`` (newest first) that reads whole (:func:`checkpoint_problem`); each one passed
    over is named in a warning. None if none reads."""
    for candidate in candidates:
        problem = checkpoint_problem(candidate)
        if problem is None:
            return Path(candidate)
        log.warning("passing over checkpoint %s: %s", candidate, problem)
    return None


def _newest_complete_epoch(newest: Path, name: str) -> Path:
    """``newest`` (a run's last epoch checkpoint) if it reads, else the newest earlier epoch of its run that does."""
    pattern = re.compile(rf"^mask_rcnn_{re.escape(name.lower())}_\d{{4}}\.h5$")
    candidates = sorted((p for p in newest.parent.iterdir() if pattern.match(p.name)), reverse=True)
    found = first_complete(candidates)
    if found is None:
        raise WeightsError(f"no checkpoint of {newest.parent} can be read whole (the newest, {newest.name}, is "
                           "truncated or corrupt): give another --weights file")
    return found


def inference_config(values: dict[str, Any], overrides: dict[str, Any] | None = None, batch_size: int = 1,
                     permissive: bool = True) -> Config:
    """The config to predict with: saved ``values``, then ``overrides``, then one GPU running ``batch_size`` images
    and (``permissive``) the low detection thresholds of :data:`PERMISSIVE_DETECTION`."""
    merged = {**values, **(overrides or {}), "GPU_COUNT": 1, "IMAGES_PER_GPU": batch_size}
    if permissive:
        merged.update(PERMISSIVE_DETECTION)
    return Config(**merged)


def weights_identity(path: str | os.PathLike, config: Config) -> dict:
    """What identifies predictions of a checkpoint: its path, size and modification time, and the config digest."""
    path = Path(path).resolve()
    stat = path.stat()
    digest = hashlib.sha1(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    return {"path": str(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "config": digest}


def load_inference_model(weights: str, model_dir: str | os.PathLike = "logs", config_file: str | None = None,
                         overrides: dict[str, Any] | None = None, batch_size: int = 1, permissive: bool = True):
    """Build :class:`~fashion_seg.mrcnn.model.MaskRCNN` in inference mode and load ``weights`` into it.

    ``weights``: a checkpoint path, or ``"last"`` (the newest checkpoint under ``model_dir``, matterport's
    ``find_last``). The config is ``config_file`` if given, else the ``config.json`` beside the checkpoint (for
    ``last``: of the newest run), else matterport's defaults with 47 classes (a warning says so). Returns
    ``(model, checkpoint path, identity)``.
    """
    from .mrcnn.model import MaskRCNN

    if weights == "last":
        source = Path(config_file) if config_file else newest_run_config(model_dir)
        values = read_config_values(source) if source else dict(DEFAULT_CONFIG)
        model = MaskRCNN("inference", inference_config(values, overrides, batch_size, permissive), str(model_dir))
        path = _newest_complete_epoch(Path(model.find_last()), model.config.NAME)
        beside = path.parent / CONFIG_FILE
        if not config_file and beside.exists() and beside != source:
            return load_inference_model(str(path), model_dir, None, overrides, batch_size, permissive)
    else:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path} (give a checkpoint .h5, or 'last' for the newest "
                               f"under --model-dir)")
        beside = path.parent / CONFIG_FILE
        source = Path(config_file) if config_file else beside if beside.exists() else None
        if source is None:
            log.warning("no %s beside %s and no --config: using matterport's defaults with NUM_CLASSES=47 (and "
                        "--set overrides)", CONFIG_FILE, path)
        values = read_config_values(source) if source else dict(DEFAULT_CONFIG)
        model = MaskRCNN("inference", inference_config(values, overrides, batch_size, permissive), str(model_dir))
    report = model.load_weights(str(path), by_name=True)
    if report.missing_in_file:
        raise WeightsError(f"{path} lacks {len(report.missing_in_file)} layers of this model (e.g. "
                           f"{report.missing_in_file[0]}): it was not trained with this config (backbone, classes?); "
                           "pass the run's config with --config")
    log.info("loaded %s (%d layers)", path, len(report.loaded))
    return model, path, weights_identity(path, model.config)
