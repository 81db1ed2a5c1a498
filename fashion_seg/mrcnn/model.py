"""``MaskRCNN``: matterport's model class for Keras 3 (inference mode here; training mode's methods are in
:mod:`fashion_seg.mrcnn.training`).

Usage, as with matterport::

    model = MaskRCNN(mode="inference", config=config, model_dir="logs")
    model.load_weights(coco_weights_path(), by_name=True, exclude=CLASS_SPECIFIC_LAYERS)
    results = model.detect([image1, image2, image3])   # any number of images, any sizes, RGB or grayscale
    r = results[0]   # {"rois": int32 [N, (y1, x1, y2, x2)], "class_ids": int32 [N], "scores": float32 [N],
                     #  "masks": bool [H, W, N]} in the original image's pixels
                     # with ATTRIBUTE_HEAD also "attributes": float32 [N, NUM_ATTRIBUTES] probabilities

The forward pass is compiled once per input shape (:class:`~fashion_seg.mrcnn.predictor.CompiledPredictor`), under
the config's dtype policy (``PRECISION``) and jit switch (``JIT_COMPILE``). Checkpoints use matterport's names,
``<model_dir>/<name><YYYYMMDDTHHMMSS>/mask_rcnn_<name>_<epoch:04d>.h5``, and its h5 layout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from ..errors import ConfigError, DataError, WeightsError
from . import weights as weight_io
from .anchors import get_anchors as compute_anchors
from .inference_graph import build_inference_graph, inference_output_names
from .molding import detections_to_pixel_boxes
from .molding import mold_inputs as mold_images
from .molding import unmold_detections as unmold_image_detections
from .predictor import CompiledPredictor
from .run_names import CHECKPOINT, RUN_DIR, run_stamp, stamp_order
from .training import TrainingMethods
from .training_graph import build_training_graph

log = logging.getLogger(__name__)

# Graph builders by mode. Each returns an object with a ``model`` attribute (the Keras model of that mode).
BUILDERS = {"inference": build_inference_graph, "training": build_training_graph}



@contextlib.contextmanager
def dtype_policy(name: str):
    """Build layers under Keras dtype policy ``name`` and restore the previous global policy afterwards."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


class RawDetections(NamedTuple):
    """Network outputs of one batch, before unmolding.

    detections: float32 ``[batch, DETECTION_MAX_INSTANCES, (y1, x1, y2, x2, class_id, score)]``, boxes normalized in
    the molded image, zero rows after the last detection. masks: float32 ``[batch, DETECTION_MAX_INSTANCES, 28, 28]``,
    each detection's mask probabilities for its own class (zero on padding rows beyond those the mask head ran on).
    """

    detections: np.ndarray
    masks: np.ndarray


class AttributedDetections(NamedTuple):
    """:class:`RawDetections` plus ``attributes`` float32 ``[batch, DETECTION_MAX_INSTANCES, NUM_ATTRIBUTES]``: each
    detection row's attribute probabilities (sigmoid; zero on padding rows), from a model with ``ATTRIBUTE_HEAD``
    (None inside a model without it)."""

    detections: np.ndarray
    masks: np.ndarray
    attributes: np.ndarray | None


def mask_rows(count: int, maximum: int) -> int:
    """Detection rows to run the mask head on for ``count`` real detections: the next power of two, at least 4 and at
    most ``maximum`` (0 when there is nothing to mask)."""
    if count == 0:
        return 0
    return min(maximum, max(4, 1 << (count - 1).bit_length()))


class MaskRCNN(TrainingMethods):
    """Mask R-CNN with matterport's interface. ``mode``: "inference" or "training" (see ``BUILDERS``)."""

    def __init__(self, mode: str, config, model_dir: str | os.PathLike):
        if mode not in BUILDERS:
            raise ConfigError(f"mode={mode!r}; MaskRCNN supports {', '.join(repr(m) for m in BUILDERS)}")
        if not config.NAME:
            raise ConfigError("config.NAME is not set: it names the run directory and checkpoints (e.g. NAME = "
                              "'fashion')")
        self.mode = mode
        self.config = config
        self.model_dir = str(model_dir)
        self.set_log_dir()
        with dtype_policy(config.PRECISION):
            self.graph = BUILDERS[mode](config)
        self.keras_model = self.graph.model
        self._predictors: dict[str, CompiledPredictor] = {}

    # ------------------------------------------------------------------------------------------- weights and runs
    def load_weights(self, filepath, by_name: bool = False, exclude=None) -> weight_io.LoadReport:
        """Load a matterport-layout h5 file (matterport's, COCO's, or ours); see
        :func:`fashion_seg.mrcnn.weights.load_weights`. Like matterport, a checkpoint path in this project's naming
        also sets the log directory and the epoch to resume from."""
        report = weight_io.load_weights(self.keras_model, filepath, by_name=by_name, exclude=exclude)
        self.set_log_dir(filepath)
        return report

    def save_weights(self, filepath) -> Path:
        """Write the weights in matterport's h5 layout, atomically."""
        return weight_io.save_weights(self.keras_model, filepath)

    def set_log_dir(self, model_path=None) -> None:
        """Set ``log_dir``, ``checkpoint_path`` and ``epoch``: a new run directory named after now, or, given a
        checkpoint ``.../<name><YYYYMMDDTHHMMSS>/mask_rcnn_<name>_<epoch>.h5`` (:mod:`.run_names`), that run's
        directory and its epoch (the epoch to resume from is the one after it; Keras counts epochs from 0, checkpoint
        names from 1)."""
        self.epoch = 0
        stamp = run_stamp()
        if model_path:
            match = CHECKPOINT.match(str(model_path))
            if match:
                stamp = match["stamp"]
                self.epoch = int(match["epoch"])
        name = self.config.NAME.lower()
        self.log_dir = os.path.join(self.model_dir, f"{name}{stamp}")
        self.checkpoint_path = os.path.join(self.log_dir, f"mask_rcnn_{name}_{{epoch:04d}}.h5")

    def find_last(self) -> str:
        """The last checkpoint of the newest run of this config's NAME under ``model_dir``.

        Unlike matterport, a newest run directory without checkpoints (a run that stopped before its first epoch
        ended) does not hide the runs before it, and temporary files of unfinished writes are ignored.
        """
        name = self.config.NAME.lower()
        runs = sorted(
            (entry for entry in (os.listdir(self.model_dir) if os.path.isdir(self.model_dir) else [])
             if (match := RUN_DIR.match(entry)) and match["name"] == name
             and os.path.isdir(os.path.join(self.model_dir, entry))),
            key=lambda entry: stamp_order(RUN_DIR.match(entry)["stamp"]),
        )
        pattern = re.compile(rf"^mask_rcnn_{re.escape(name)}_(\d{{4}})\.h5$")
        for run in reversed(runs):
            checkpoints = sorted(f for f in os.listdir(os.path.join(self.model_dir, run)) if pattern.match(f))
            if checkpoints:
                return os.path.join(self.model_dir, run, checkpoints[-1])
        raise WeightsError(f"no checkpoint of {name!r} under {self.model_dir} (looked for "
                           f"{name}YYYYMMDDTHHMMSS/mask_rcnn_{name}_NNNN.h5)")

    # ------------------------------------------------------------------------------------------- inputs
    def mold_inputs(self, images):
        """``(molded_images [B, H, W, 3] float32, image_metas [B, IMAGE_META_SIZE], windows [B, 4] int32)``."""
        return mold_images(images, self.config)

    def get_anchors(self, image_shape) -> np.ndarray:
        """Normalized anchors ``[anchors, (y1, x1, y2, x2)]`` for a molded image of ``image_shape``."""
        return compute_anchors(self.config, image_shape)

    def unmold_detections(self, detections, mrcnn_mask, original_image_shape, image_shape, window):
        """One image's outputs -> ``(rois, class_ids, scores, masks)`` in the original image (matterport's)."""
        return unmold_image_detections(detections, mrcnn_mask, original_image_shape, image_shape, window)

    # ------------------------------------------------------------------------------------------- running
    def _predictor(self, which: str) -> CompiledPredictor:
        if which not in self._predictors:
            model = {"features": self.graph.features_model, "mask_head": self.graph.mask_head_model,
                     "masks": self.graph.mask_model, "full": self.keras_model}[which]
            self._predictors[which] = CompiledPredictor(model, self.config.JIT_COMPILE)
        return self._predictors[which]

    def _check_batch(self, molded_images, image_metas) -> tuple[np.ndarray, np.ndarray]:
        molded_images = np.asarray(molded_images, dtype=np.float32)
        image_metas = np.asarray(image_metas, dtype=np.float32)
        if molded_images.ndim != 4 or molded_images.shape[-1] != self.config.IMAGE_SHAPE[2]:
            raise DataError(f"molded images must be [batch, H, W, {self.config.IMAGE_SHAPE[2]}], got "
                            f"{molded_images.shape}")
        if molded_images.shape[1] % 64 or molded_images.shape[2] % 64:
            raise DataError(f"molded images of {molded_images.shape[1]}x{molded_images.shape[2]}: both sides must be "
                            "multiples of 64 (use mold_inputs)")
        if image_metas.shape != (len(molded_images), self.config.IMAGE_META_SIZE):
            raise DataError(f"image_metas must be [{len(molded_images)}, {self.config.IMAGE_META_SIZE}], got "
                            f"{image_metas.shape}")
        return molded_images, image_metas

    def _batch_anchors(self, molded_images: np.ndarray) -> np.ndarray:
        anchors = self.get_anchors(molded_images.shape[1:])
        return np.broadcast_to(anchors, (len(molded_images),) + anchors.shape)

    def raw_detections(self, molded_images, image_metas) -> RawDetections:
        """Run the network on one batch of molded images: detections and own-class mask probabilities (see
        :class:`RawDetections`). Any batch size works; each new input shape is compiled once.

        The mask head runs on the first ``n`` detection rows only, ``n`` the batch's largest real detection count
        rounded up to a power of two (few compiled sizes); the masks of the padding rows beyond are zero."""
        raw = self._detect_batch(molded_images, image_metas)
        return RawDetections(raw.detections, raw.masks)

    def raw_detections_with_attributes(self, molded_images, image_metas) -> AttributedDetections:
        """:meth:`raw_detections` and each detection's attribute probabilities (a config with ``ATTRIBUTE_HEAD``)."""
        if not self.config.ATTRIBUTE_HEAD:
            raise ConfigError("this model has no attribute head (ATTRIBUTE_HEAD=False): use raw_detections")
        return self._detect_batch(molded_images, image_metas)

    def _detect_batch(self, molded_images, image_metas) -> AttributedDetections:
        """One batch through the features model and the mask head; ``attributes`` is None without the head."""
        molded_images, image_metas = self._check_batch(molded_images, image_metas)
        outputs = self._predictor("features").run(molded_images, image_metas, self._batch_anchors(molded_images))
        levels = len(self.graph.feature_maps)
        detections, feature_maps = outputs[0], outputs[1:1 + levels]
        attributes = np.asarray(keras.ops.convert_to_numpy(outputs[-1])) if self.config.ATTRIBUTE_HEAD else None
        detections = np.asarray(keras.ops.convert_to_numpy(detections))
        masks = np.zeros(detections.shape[:2] + tuple(self.config.MASK_SHAPE), dtype=np.float32)
        rows = mask_rows(int((detections[..., 4] > 0).sum(axis=1).max()), detections.shape[1])
        if rows:
            masks[:, :rows] = self._predictor("mask_head")(image_metas, detections[:, :rows, :4],
                                                           detections[:, :rows, 4], *feature_maps)[0]
        return AttributedDetections(detections, masks, attributes)

    def run_graph(self, molded_images, image_metas) -> dict[str, np.ndarray]:
        """matterport's seven inference outputs for one batch of molded images, by name
        (``mrcnn_detection``, ``mrcnn_class``, ``mrcnn_bbox``, ``mrcnn_mask``, ``ROI``, ``rpn_class``, ``rpn_bbox``;
        with ``ATTRIBUTE_HEAD`` also ``mrcnn_attributes``)."""
        molded_images, image_metas = self._check_batch(molded_images, image_metas)
        outputs = self._predictor("full")(molded_images, image_metas, self._batch_anchors(molded_images))
        return dict(zip(inference_output_names(self.config), outputs))

    def predict_masks(self, molded_images, image_metas, boxes, class_ids) -> np.ndarray:
        """Mask probabilities ``[batch, n, 28, 28]`` of given ``boxes`` ``[batch, n, (y1, x1, y2, x2)]`` (normalized
        in the molded image) for ``class_ids`` ``[batch, n]``: the mask head on boxes of your choice (e.g. boxes
        merged across test-time augmentations)."""
        molded_images, image_metas = self._check_batch(molded_images, image_metas)
        boxes = np.asarray(boxes, dtype=np.float32)
        class_ids = np.asarray(class_ids, dtype=np.float32)
        if boxes.shape[:1] != (len(molded_images),) or boxes.ndim != 3 or boxes.shape[2] != 4 \
                or class_ids.shape != boxes.shape[:2]:
            raise DataError(f"boxes must be [batch, n, 4] and class_ids [batch, n] for a batch of "
                            f"{len(molded_images)}; got {boxes.shape} and {class_ids.shape}")
        return self._predictor("masks")(molded_images, image_metas, boxes, class_ids)[0]

    def _in_batches(self, molded_images: np.ndarray, image_metas: np.ndarray, verbose: int) -> AttributedDetections:
        """Run any number of molded images of one shape in batches of ``BATCH_SIZE`` (the last one padded by
        repeating its last image), so that one compiled graph serves every batch."""
        size = self.config.BATCH_SIZE
        detections, masks, attributes = [], [], []
        for start in range(0, len(molded_images), size):
            images = molded_images[start:start + size]
            metas = image_metas[start:start + size]
            count = len(images)
            if count < size:
                images = np.concatenate([images, np.repeat(images[-1:], size - count, axis=0)])
                metas = np.concatenate([metas, np.repeat(metas[-1:], size - count, axis=0)])
            if verbose:
                log.info("running batch of %d images (%d real), molded shape %s", size, count, images.shape[1:])
            raw = self._detect_batch(images, metas)
            detections.append(raw.detections[:count])
            masks.append(raw.masks[:count])
            if raw.attributes is not None:
                attributes.append(raw.attributes[:count])
        return AttributedDetections(np.concatenate(detections), np.concatenate(masks),
                                    np.concatenate(attributes) if attributes else None)

    def detect(self, images, verbose: int = 0) -> list[dict]:
        """Detect instances in ``images`` (a list of ``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or ``[H, W, 4]``
        arrays of any sizes). Returns one dict per image, in order: ``rois`` int32 ``[N, (y1, x1, y2, x2)]`` pixels
        (y2, x2 exclusive), ``class_ids`` int32 ``[N]``, ``scores`` float32 ``[N]``, ``masks`` bool ``[H, W, N]``, all
        in the original image; with ``ATTRIBUTE_HEAD`` also ``attributes`` float32 ``[N, NUM_ATTRIBUTES]``, the
        sigmoid probabilities of each attribute column (row ``i`` belongs to ``rois[i]``)."""
        images = list(images)
        if verbose:
            log.info("processing %d images", len(images))
        if not images:
            return []
        molded = [self.mold_inputs([image]) for image in images]
        by_shape: dict[tuple, list[int]] = {}
        for index, (molded_image, _, _) in enumerate(molded):
            by_shape.setdefault(molded_image.shape[1:], []).append(index)
        results: list[dict | None] = [None] * len(images)
        for indices in by_shape.values():
            raw = self._in_batches(np.concatenate([molded[i][0] for i in indices]),
                                   np.concatenate([molded[i][1] for i in indices]), verbose)
            for row, index in enumerate(indices):
                molded_image, _, windows = molded[index]
                results[index] = self._result(raw.detections[row], raw.masks[row], np.shape(images[index]),
                                              molded_image.shape[1:], windows[0],
                                              None if raw.attributes is None else raw.attributes[row])
        return results

    def detect_molded(self, molded_images, image_metas, verbose: int = 0) -> list[dict]:
        """Detect on images already molded (e.g. by a data pipeline). As in matterport, results are in the molded
        images' pixel frame (the whole molded image counts as the window)."""
        molded_images, image_metas = self._check_batch(molded_images, image_metas)
        raw = self._in_batches(molded_images, image_metas, verbose)
        height, width = molded_images.shape[1:3]
        return [self._result(raw.detections[i], raw.masks[i], molded_images.shape[1:], molded_images.shape[1:],
                             (0, 0, height, width), None if raw.attributes is None else raw.attributes[i])
                for i in range(len(molded_images))]

    def _result(self, detections, masks, original_shape, molded_shape, window, attributes=None) -> dict:
        original_shape = tuple(original_shape[:2]) + (3,)
        rois, class_ids, scores, full_masks = self.unmold_detections(detections, masks, original_shape,
                                                                     molded_shape, window)
        result = {"rois": rois, "class_ids": class_ids, "scores": scores, "masks": full_masks}
        if attributes is not None:
            rows = detections_to_pixel_boxes(detections, original_shape, molded_shape, window)[0]
            result["attributes"] = np.asarray(attributes[rows], dtype=np.float32)
        return result
