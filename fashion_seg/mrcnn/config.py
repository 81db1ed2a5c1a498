"""Mask R-CNN configuration: matterport's ``Config`` with the same attribute names and defaults.

Subclass it and override class attributes, as with matterport::

    class FashionConfig(Config):
        NAME = "fashion"
        NUM_CLASSES = 1 + 46

or pass overrides to the constructor (``Config(NUM_CLASSES=47, IMAGES_PER_GPU=1)``). Derived values
(``BATCH_SIZE``, ``IMAGE_SHAPE``, ``IMAGE_META_SIZE``) are computed in ``__init__``, and impossible settings raise
:class:`~fashion_seg.errors.ConfigError` there, before any model is built. ``to_dict()`` / ``from_dict()`` round-trip
through JSON; every run saves its config beside its checkpoints.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..errors import ConfigError
from ..json_files import read_json

BACKBONES = ("resnet50", "resnet101", "resnet_tiny")
RESIZE_MODES = ("none", "square", "pad64", "crop")
PRECISION_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
DERIVED = ("BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE")


class Config:
    """Base configuration. Attribute names, defaults and meanings are matterport's unless marked *added*."""

    NAME = None  # Override in sub-classes; used (lower-cased) in log directory and checkpoint names.
    GPU_COUNT = 1  # Replicas for multi-device training (tf.distribute / keras.distribution).
    IMAGES_PER_GPU = 2
    STEPS_PER_EPOCH = 1000
    VALIDATION_STEPS = 50

    # "resnet50", "resnet101", *added* "resnet_tiny" (a narrow ResNet for CPU tests and the demo),
    # or a callable ``f(input_image, stage5=True, train_bn=...) -> [C1, C2, C3, C4, C5]``.
    BACKBONE = "resnet101"
    COMPUTE_BACKBONE_SHAPE = None  # Required when BACKBONE is a callable: f(image_shape) -> [[h, w] per level].
    BACKBONE_STRIDES = [4, 8, 16, 32, 64]
    FPN_CLASSIF_FC_LAYERS_SIZE = 1024
    TOP_DOWN_PYRAMID_SIZE = 256
    RPN_CONV_FILTERS = 512  # *added*: width of the RPN's shared 3x3 conv (matterport: fixed 512)
    MASK_HEAD_FILTERS = 256  # *added*: width of the mask head's convs and deconv (matterport: fixed 256)
    NUM_CLASSES = 1  # Including background. Override it.

    RPN_ANCHOR_SCALES = (32, 64, 128, 256, 512)  # Side of the square anchor in pixels, one per pyramid level.
    RPN_ANCHOR_RATIOS = [0.5, 1, 2]  # width / height
    RPN_ANCHOR_STRIDE = 1
    RPN_NMS_THRESHOLD = 0.7
    RPN_TRAIN_ANCHORS_PER_IMAGE = 256
    PRE_NMS_LIMIT = 6000
    POST_NMS_ROIS_TRAINING = 2000
    POST_NMS_ROIS_INFERENCE = 1000

    USE_MINI_MASK = True
    MINI_MASK_SHAPE = (56, 56)  # (height, width)

    IMAGE_RESIZE_MODE = "square"  # "none", "square", "pad64" or "crop"
    IMAGE_MIN_DIM = 800
    IMAGE_MAX_DIM = 1024
    IMAGE_MIN_SCALE = 0
    IMAGE_CHANNEL_COUNT = 3
    MEAN_PIXEL = np.array([123.7, 116.8, 103.9])  # RGB; subtracted only, no division by a std.

    TRAIN_ROIS_PER_IMAGE = 200
    ROI_POSITIVE_RATIO = 0.33
    POOL_SIZE = 7
    MASK_POOL_SIZE = 14
    MASK_SHAPE = [28, 28]
    MAX_GT_INSTANCES = 100

    RPN_BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])
    BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])

    DETECTION_MAX_INSTANCES = 100
    DETECTION_MIN_CONFIDENCE = 0.7
    DETECTION_NMS_THRESHOLD = 0.3

    LEARNING_RATE = 0.001
    LEARNING_MOMENTUM = 0.9
    WEIGHT_DECAY = 0.0001
    LOSS_WEIGHTS = {
        "rpn_class_loss": 1.0,
        "rpn_bbox_loss": 1.0,
        "mrcnn_class_loss": 1.0,
        "mrcnn_bbox_loss": 1.0,
        "mrcnn_mask_loss": 1.0,
    }
    # *added*: a multi-label attribute head beside the class head (layers mrcnn_attr_*, loss mrcnn_attr_loss;
    # fashion_seg.mrcnn.heads). Off, the graphs, inputs and outputs are matterport's.
    ATTRIBUTE_HEAD = False
    NUM_ATTRIBUTES = 92  # *added*: attributes the head predicts (the label file's attribute count; 2019: 92)
    ATTRIBUTE_LOSS_WEIGHT = 1.0  # *added*: weight of mrcnn_attr_loss in the total loss
    USE_RPN_ROIS = True
    TRAIN_BN = False  # False: BatchNorm always in inference mode (frozen statistics), as matterport recommends.
    GRADIENT_CLIP_NORM = 5.0

    # *added*: Keras dtype policy for the whole model ("float32", "mixed_bfloat16", "mixed_float16").
    PRECISION = "float32"
    # *added*: compile train/predict steps with XLA (TensorFlow) / jax.jit. None lets Keras decide ("auto").
    JIT_COMPILE = None

    def __init__(self, **overrides: Any) -> None:
        for key, value in overrides.items():
            if key in DERIVED:
                continue  # recomputed below; present when loading a saved to_dict()
            if not key.isupper() or not hasattr(type(self), key):
                raise ConfigError(f"unknown config attribute {key!r} (attributes are UPPER_CASE, see Config.display())")
            setattr(self, key, _coerce_like(getattr(type(self), key), value, key))
        self.BATCH_SIZE = self.IMAGES_PER_GPU * self.GPU_COUNT
        side = self.IMAGE_MIN_DIM if self.IMAGE_RESIZE_MODE == "crop" else self.IMAGE_MAX_DIM
        self.IMAGE_SHAPE = np.array([side, side, self.IMAGE_CHANNEL_COUNT])
        # image_id (1) + original_image_shape (3) + image_shape (3) + window (4) + scale (1) + active_class_ids
        self.IMAGE_META_SIZE = 1 + 3 + 3 + 4 + 1 + self.NUM_CLASSES
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for settings the model cannot be built or trained with."""
        if not isinstance(self.NUM_CLASSES, (int, np.integer)) or self.NUM_CLASSES < 2:
            raise ConfigError(
                f"NUM_CLASSES={self.NUM_CLASSES!r}: it counts the background too, so it must be >= 2 (1 + your classes)"
            )
        for key in ("GPU_COUNT", "IMAGES_PER_GPU", "FPN_CLASSIF_FC_LAYERS_SIZE", "TOP_DOWN_PYRAMID_SIZE",
                    "RPN_CONV_FILTERS", "MASK_HEAD_FILTERS", "STEPS_PER_EPOCH", "VALIDATION_STEPS",
                    "MAX_GT_INSTANCES", "TRAIN_ROIS_PER_IMAGE", "DETECTION_MAX_INSTANCES", "PRE_NMS_LIMIT",
                    "POST_NMS_ROIS_TRAINING", "POST_NMS_ROIS_INFERENCE", "RPN_TRAIN_ANCHORS_PER_IMAGE"):
            value = getattr(self, key)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{key}={value!r} must be a positive integer")
        if self.IMAGE_RESIZE_MODE not in RESIZE_MODES:
            raise ConfigError(f"IMAGE_RESIZE_MODE={self.IMAGE_RESIZE_MODE!r}; choose one of {', '.join(RESIZE_MODES)}")
        if self.IMAGE_RESIZE_MODE in ("square", "none"):
            self._require_multiple_of_64("IMAGE_MAX_DIM")
        else:  # "crop" trains on IMAGE_MIN_DIM squares; "pad64" pads to multiples of 64 and needs IMAGE_MIN_DIM too
            self._require_multiple_of_64("IMAGE_MIN_DIM")
        if self.IMAGE_MIN_DIM and self.IMAGE_MAX_DIM and self.IMAGE_MIN_DIM > self.IMAGE_MAX_DIM \
                and self.IMAGE_RESIZE_MODE == "square":
            raise ConfigError(f"IMAGE_MIN_DIM={self.IMAGE_MIN_DIM} is larger than IMAGE_MAX_DIM={self.IMAGE_MAX_DIM}")
        if not callable(self.BACKBONE) and self.BACKBONE not in BACKBONES:
            raise ConfigError(f"BACKBONE={self.BACKBONE!r}; choose one of {', '.join(BACKBONES)} or pass a callable")
        if callable(self.BACKBONE) and not callable(self.COMPUTE_BACKBONE_SHAPE):
            raise ConfigError("a callable BACKBONE needs COMPUTE_BACKBONE_SHAPE (image_shape -> feature map sizes)")
        levels = len(self.BACKBONE_STRIDES)
        if len(self.RPN_ANCHOR_SCALES) != levels:
            raise ConfigError(
                f"RPN_ANCHOR_SCALES has {len(self.RPN_ANCHOR_SCALES)} scales but there are {levels} pyramid levels "
                f"(BACKBONE_STRIDES={list(self.BACKBONE_STRIDES)}): give one scale per level"
            )
        if list(self.MASK_SHAPE) != [2 * self.MASK_POOL_SIZE, 2 * self.MASK_POOL_SIZE]:
            raise ConfigError(
                f"MASK_SHAPE={list(self.MASK_SHAPE)} must be twice MASK_POOL_SIZE={self.MASK_POOL_SIZE} in each "
                "dimension: the mask head upsamples its pooled features exactly once by 2"
            )
        if self.USE_MINI_MASK and (self.MINI_MASK_SHAPE[0] < self.MASK_SHAPE[0]
                                   or self.MINI_MASK_SHAPE[1] < self.MASK_SHAPE[1]):
            raise ConfigError(
                f"MINI_MASK_SHAPE={tuple(self.MINI_MASK_SHAPE)} is smaller than MASK_SHAPE={list(self.MASK_SHAPE)}: "
                "mask targets would be upsampled from a coarser mini-mask; make MINI_MASK_SHAPE >= MASK_SHAPE"
            )
        if not 0 < self.ROI_POSITIVE_RATIO <= 1:
            raise ConfigError(f"ROI_POSITIVE_RATIO={self.ROI_POSITIVE_RATIO} must be in (0, 1]")
        if int(self.TRAIN_ROIS_PER_IMAGE * self.ROI_POSITIVE_RATIO) < 1:
            raise ConfigError(
                f"TRAIN_ROIS_PER_IMAGE={self.TRAIN_ROIS_PER_IMAGE} x ROI_POSITIVE_RATIO={self.ROI_POSITIVE_RATIO} "
                "leaves no room for a positive ROI"
            )
        if self.PRE_NMS_LIMIT < self.POST_NMS_ROIS_INFERENCE or self.PRE_NMS_LIMIT < self.POST_NMS_ROIS_TRAINING:
            raise ConfigError(
                f"PRE_NMS_LIMIT={self.PRE_NMS_LIMIT} is smaller than the ROIs kept after NMS "
                f"({self.POST_NMS_ROIS_TRAINING} training, {self.POST_NMS_ROIS_INFERENCE} inference)"
            )
        if len(np.asarray(self.MEAN_PIXEL)) != self.IMAGE_CHANNEL_COUNT:
            raise ConfigError(
                f"MEAN_PIXEL has {len(np.asarray(self.MEAN_PIXEL))} values for IMAGE_CHANNEL_COUNT={self.IMAGE_CHANNEL_COUNT}"
            )
        if self.PRECISION not in PRECISION_POLICIES:
            raise ConfigError(f"PRECISION={self.PRECISION!r}; choose one of {', '.join(PRECISION_POLICIES)}")
        missing = set(Config.LOSS_WEIGHTS) - set(self.LOSS_WEIGHTS)
        if missing:
            raise ConfigError(f"LOSS_WEIGHTS lacks {sorted(missing)}")
        if "mrcnn_attr_loss" in self.LOSS_WEIGHTS:
            raise ConfigError("LOSS_WEIGHTS has mrcnn_attr_loss: set the attribute loss's weight with "
                              "ATTRIBUTE_LOSS_WEIGHT")
        if not isinstance(self.ATTRIBUTE_HEAD, (bool, np.bool_)):
            raise ConfigError(f"ATTRIBUTE_HEAD={self.ATTRIBUTE_HEAD!r} must be true or false")
        if not isinstance(self.NUM_ATTRIBUTES, (int, np.integer)) or self.NUM_ATTRIBUTES < 1:
            raise ConfigError(f"NUM_ATTRIBUTES={self.NUM_ATTRIBUTES!r} must be a positive integer (the label "
                              "file's attribute count)")
        if not self.ATTRIBUTE_LOSS_WEIGHT >= 0:
            raise ConfigError(f"ATTRIBUTE_LOSS_WEIGHT={self.ATTRIBUTE_LOSS_WEIGHT} must be >= 0")
        if not 0 <= self.DETECTION_MIN_CONFIDENCE <= 1:
            raise ConfigError(f"DETECTION_MIN_CONFIDENCE={self.DETECTION_MIN_CONFIDENCE} must be in [0, 1]")

    def _require_multiple_of_64(self, key: str) -> None:
        value = getattr(self, key)
        if not isinstance(value, (int, np.integer)) or value <= 0 or value % 64:
            raise ConfigError(
                f"{key}={value!r} with IMAGE_RESIZE_MODE={self.IMAGE_RESIZE_MODE!r}: the image side must be a positive "
                "multiple of 64 (the backbone halves it 6 times), e.g. 256, 512, 768, 1024"
            )

    # ------------------------------------------------------------------ inspection and (de)serialisation
    def attributes(self) -> dict[str, Any]:
        """All configuration values (UPPER_CASE, not callable methods), in alphabetical order."""
        names = sorted(a for a in dir(self) if a.isupper() and not a.startswith("__"))
        return {name: getattr(self, name) for name in names if not callable(getattr(self, name)) or name == "BACKBONE"}

    def display(self) -> None:
        """Print every configuration value, as matterport does."""
        print("\nConfigurations:")
        for name, value in self.attributes().items():
            print(f"{name:30} {value}")
        print("\n")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (arrays and tuples become lists). A callable BACKBONE cannot be serialised."""
        if callable(self.BACKBONE) or callable(self.COMPUTE_BACKBONE_SHAPE):
            raise ConfigError("a config with a callable BACKBONE / COMPUTE_BACKBONE_SHAPE cannot be saved as JSON")
        return {name: _jsonable(value) for name, value in self.attributes().items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Config":
        """Rebuild a config saved by :meth:`to_dict`; derived values are recomputed, unknown keys are refused."""
        return cls(**values)

    def save_json(self, path: str | os.PathLike) -> None:
        with atomic_write(path) as handle:
            json.dump(self.to_dict(), handle, indent=2, sort_keys=True)
            handle.write("\n")

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> "Config":
        return cls.from_dict(read_json(path, "config file", ConfigError))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _coerce_like(default: Any, value: Any, key: str) -> Any:
    """Give a JSON / command-line value the type of the attribute's default (arrays stay arrays, tuples tuples)."""
    if isinstance(default, np.ndarray):
        array = np.asarray(value, dtype=default.dtype)
        if array.shape != default.shape:
            raise ConfigError(f"{key} needs {default.shape[0]} values, got {value!r}")
        return array
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
