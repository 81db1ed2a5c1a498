"""ImageNet starting weights: Keras Applications' ResNet50/101 (no top) under matterport's layer names.

Keras Applications names a ResNet's layers ``conv{stage}_block{n}_{k}_conv`` / ``..._bn`` (k = 0 for the projection
shortcut, 1..3 along the main branch) and ``conv1_conv`` / ``conv1_bn``; matterport's are ``res{stage}{letter}_branch
{1|2a|2b|2c}`` / ``bn{stage}{letter}_branch...`` and ``conv1`` / ``bn_conv1``, block n being letter ``a`` + n - 1.
Both are Caffe-style ResNets (stride 2 in the first 1x1 conv of a stage, biases on every conv), so every weight
maps one to one; shapes are checked layer by layer.

Two differences between the architectures, and what the mapping does about them:

- BatchNorm epsilon: Keras Applications uses 1.001e-5, matterport's layers 1e-3. The mapped ``moving_variance`` is
  shifted by ``1.001e-5 - 1e-3`` so our layers compute exactly Keras's normalisation, ``(x - mean) /
  sqrt(variance + 1.001e-5)``. (matterport loaded its ImageNet file into epsilon-1e-3 layers unchanged, which
  changes the normalisation of low-variance channels.) A few shifted variances are negative; that is harmless while
  BatchNorm runs frozen (``TRAIN_BN = False``, matterport's default), the setting these weights are meant for.
- The stem's max-pool: Keras pads by 1 on every side and pools 'valid'; matterport pools 'same', which pads only at
  the bottom and right. The pooled grid is shifted by one pixel, so C2..C5 of an image differ from Keras's; on the
  same pooled input the four stages agree exactly (see the tests).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import keras
import numpy as np

from ..errors import WeightsError
from .backbone import build_resnet_model, resnet_layout
from .batch_norm import BatchNorm
from .weights import default_cache_dir, save_weights

log = logging.getLogger(__name__)

KERAS_APPLICATIONS = {"resnet50": "ResNet50", "resnet101": "ResNet101"}
KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
MATTERPORT_EPSILON = 1e-3
_BRANCHES = {"0": "1", "1": "2a", "2": "2b", "3": "2c"}


def matterport_layer_name(keras_name: str) -> str | None:
    """The matterport name of a weighted Keras Applications ResNet layer (None for layers without one)."""
    if keras_name == "conv1_conv":
        return "conv1"
    if keras_name == "conv1_bn":
        return "bn_conv1"
    parts = keras_name.split("_")  # conv{s}, block{n}, {k}, conv|bn
    if len(parts) != 4 or not parts[0].startswith("conv") or not parts[1].startswith("block") \
            or parts[2] not in _BRANCHES or parts[3] not in ("conv", "bn"):
        return None
    stage, block = parts[0][4:], chr(ord("a") + int(parts[1][5:]) - 1)
    prefix = "res" if parts[3] == "conv" else "bn"
    return f"{prefix}{stage}{block}_branch{_BRANCHES[parts[2]]}"


def keras_resnet(architecture: str, weights="imagenet") -> keras.Model:
    """Keras Applications' no-top ResNet for ``architecture`` with ``weights`` ("imagenet": downloaded and cached by
    Keras; or a path to a weights file of that model)."""
    if architecture not in KERAS_APPLICATIONS:
        raise WeightsError(f"there are no ImageNet weights for backbone {architecture!r}; only for "
                           f"{', '.join(KERAS_APPLICATIONS)}")
    if weights not in ("imagenet", None) and not Path(weights).exists():
        raise WeightsError(f"weights file {weights} does not exist")
    application = getattr(keras.applications, KERAS_APPLICATIONS[architecture])
    try:
        return application(include_top=False, weights=weights, input_shape=(None, None, 3))
    except Exception as error:  # Keras's download raises a bare Exception for network failures
        if weights != "imagenet":
            raise WeightsError(f"cannot load {weights} into Keras's {KERAS_APPLICATIONS[architecture]}: {error}") \
                from None
        filename = f"{architecture}_weights_tf_dim_ordering_tf_kernels_notop.h5"
        cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / filename
        raise WeightsError(
            f"cannot get Keras's ImageNet weights for {KERAS_APPLICATIONS[architecture]} ({error}). Without network "
            f"access, download {KERAS_WEIGHTS_URL}{filename} elsewhere and place it at {cache}"
        ) from None


def convert_keras_resnet(source: keras.Model, architecture: str) -> keras.Model:
    """Our backbone model (:func:`fashion_seg.mrcnn.backbone.build_resnet_model`) with the weights of the Keras
    Applications ResNet ``source``, mapped by name and checked by shape; BatchNorm variances adjusted for the
    epsilon (see the module docstring)."""
    target = build_resnet_model(architecture)
    ours = {layer.name: layer for layer in target.layers if layer.weights}
    mapped = set()
    for layer in source.layers:
        if not layer.weights:
            continue
        name = matterport_layer_name(layer.name)
        if name not in ours:
            raise WeightsError(f"Keras layer {layer.name} has no counterpart {name!r} in our {architecture}")
        arrays = [keras.ops.convert_to_numpy(w) for w in layer.weights]
        destination = ours[name]
        shapes = [tuple(w.shape) for w in destination.weights]
        if [a.shape for a in arrays] != shapes:
            raise WeightsError(f"Keras layer {layer.name} has weights {[a.shape for a in arrays]}, our {name} "
                               f"{shapes}")
        if isinstance(destination, BatchNorm):
            gamma, beta, mean, variance = arrays
            variance = variance + np.float32(layer.epsilon - destination.epsilon)
            arrays = [gamma, beta, mean, variance]
        destination.set_weights(arrays)
        mapped.add(name)
    missing = sorted(set(ours) - mapped)
    if missing:
        raise WeightsError(f"the Keras {architecture} leaves {len(missing)} of our layers without weights: "
                           f"{', '.join(missing[:5])}...")
    return target


def imagenet_weights_path(architecture: str, cache_dir: str | os.PathLike | None = None,
                          source="imagenet") -> Path:
    """Path of an h5 file (matterport's layout and layer names) holding ImageNet weights for ``architecture``'s
    backbone: made from Keras Applications' weights on first use and cached in ``cache_dir`` (default:
    :func:`fashion_seg.mrcnn.weights.default_cache_dir`). ``source``: "imagenet" (Keras downloads and caches its
    file) or the path of a weights file of the Keras Applications model (then the result is not cached: it is
    rebuilt on every call)."""
    if callable(architecture):
        raise WeightsError("ImageNet weights exist for the resnet50 and resnet101 backbones, not a callable BACKBONE")
    resnet_layout(architecture)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = directory / f"{architecture}_imagenet_matterport_layout.h5"
    if source == "imagenet" and target.exists():
        return target
    converted = convert_keras_resnet(keras_resnet(architecture, source), architecture)
    directory.mkdir(parents=True, exist_ok=True)
    log.info("writing %s ImageNet weights with matterport's layer names to %s", architecture, target)
    return save_weights(converted, target)
