"""Config values from the command line: ``--set KEY=VALUE``, typed like the attribute's default.

    --set IMAGES_PER_GPU=2            int
    --set LEARNING_RATE=5e-4          float (an integer is accepted)
    --set USE_MINI_MASK=false         bool: true/false, yes/no, on/off, 1/0
    --set TRAIN_BN=none               matterport's three-state TRAIN_BN: true, false, or none (batch statistics)
    --set BACKBONE=resnet50           text
    --set RPN_ANCHOR_SCALES=16,32,64,128,256     a sequence: comma-separated or a JSON list
    --set LOSS_WEIGHTS='{"mrcnn_mask_loss": 2}'   a dict: JSON, merged into the default
    --set JIT_COMPILE=none            a setting whose default is None: JSON (true, 1.5, null) or text

Unknown keys are refused with the closest known names; derived values (``BATCH_SIZE``, ``IMAGE_SHAPE``,
``IMAGE_META_SIZE``) are refused with what to set instead.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..mrcnn.config import DERIVED

_DERIVED_FROM = {"BATCH_SIZE": "IMAGES_PER_GPU and GPU_COUNT", "IMAGE_SHAPE": "IMAGE_MAX_DIM (or IMAGE_MIN_DIM in "
                 "crop mode) and IMAGE_CHANNEL_COUNT", "IMAGE_META_SIZE": "NUM_CLASSES"}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null")
#: bool settings that also take None: matterport's TRAIN_BN (None: BatchNorm uses batch statistics in training)
_THREE_STATE = ("TRAIN_BN",)


def config_keys(config_class) -> list[str]:
    """The settable attributes of ``config_class``: UPPER_CASE, not derived."""
    return sorted(name for name in dir(config_class) if name.isupper() and not name.startswith("_")
                  and name not in DERIVED)


def parse_config_overrides(pairs: Sequence[str], config_class) -> dict[str, Any]:
    """``["IMAGES_PER_GPU=2", ...]`` -> ``{"IMAGES_PER_GPU": 2, ...}``, each value typed like ``config_class``'s
    default (see the module docstring). Later pairs win."""
    known = config_keys(config_class)
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: write KEY=VALUE, e.g. --set IMAGES_PER_GPU=2")
        if key in DERIVED:
            raise ConfigError(f"--set {key}: it is computed from {_DERIVED_FROM[key]}; set those instead")
        if key not in known:
            close = difflib.get_close_matches(key.upper(), known, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else " (see the Config attributes in the README)"
            raise ConfigError(f"--set {key}: no such config value{hint}")
        values[key] = typed_value(key, text.strip(), getattr(config_class, key))
    return values


def typed_value(key: str, text: str, default: Any) -> Any:
    """``text`` as a value of the type of ``default`` (see the module docstring)."""
    if isinstance(default, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        if key in _THREE_STATE:
            if text.lower() in _NONE:
                return None
            raise ConfigError(f"--set {key}={text}: expected true, false or none")
        raise ConfigError(f"--set {key}={text}: expected true or false")
    if isinstance(default, (int, np.integer)):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"--set {key}={text}: expected an integer (default {default})") from None
    if isinstance(default, (float, np.floating)):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"--set {key}={text}: expected a number (default {default})") from None
    if isinstance(default, str):
        return text
    if isinstance(default, dict):
        given = _json(key, text, "a JSON object, e.g. '{\"mrcnn_mask_loss\": 2}'")
        if not isinstance(given, dict):
            raise ConfigError(f"--set {key}={text}: expected a JSON object")
        unknown = sorted(set(given) - set(default))
        if unknown:
            raise ConfigError(f"--set {key}: unknown key(s) {', '.join(unknown)}; known: {', '.join(default)}")
        return {**default, **{name: _entry(key, name, value, type(default[name])) for name, value in given.items()}}
    if isinstance(default, (list, tuple, np.ndarray)):
        return _sequence(key, text, default)
    if default is None:
        if text.lower() in (*_NONE, ""):
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    raise ConfigError(f"--set {key}: values of type {type(default).__name__} cannot be set from the command line")


def _entry(key: str, name: str, value, kind: type):
    """Entry ``name`` of a dict setting, converted to the type of its default (a number from JSON text or a
    number; JSON true/false/null, lists and objects are refused)."""
    try:
        if isinstance(value, (bool, dict, list)) or value is None:
            raise TypeError(value)
        return kind(value)
    except (TypeError, ValueError):
        expected = {int: "an integer", float: "a number"}.get(kind, kind.__name__)
        raise ConfigError(f"--set {key}: {name}={json.dumps(value)}, expected {expected}") from None


def _json(key: str, text: str, expected: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"--set {key}={text}: expected {expected}") from None


def _sequence(key: str, text: str, default) -> list:
    items = _json(key, text, "a JSON list") if text.startswith("[") else [t for t in text.split(",") if t.strip()]
    if not isinstance(items, list):
        raise ConfigError(f"--set {key}={text}: expected a list")
    floats = any(isinstance(v, (float, np.floating)) for v in np.asarray(default).ravel().tolist())
    try:
        values = [float(v) if floats else _integer(v) for v in items]
    except (TypeError, ValueError):
        kind = "numbers" if floats else "integers"
        raise ConfigError(f"--set {key}={text}: expected comma-separated {kind}, e.g. "
                          f"{','.join(str(v) for v in np.asarray(default).ravel().tolist())}") from None
    return values


def _integer(value) -> int:
    number = float(value)
    if number != int(number):
        raise ValueError(value)
    return int(number)
