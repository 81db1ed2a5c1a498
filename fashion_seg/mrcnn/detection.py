"""Final detections: matterport's DetectionLayer (``refine_detections_graph``) in ``keras.ops``, whole batch at once."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .box_ops import apply_box_deltas, clip_boxes, normalized_window_from_meta
from .nms import non_max_suppression_padded


def refine_detections(rois, class_probs, class_deltas, image_meta, max_instances, min_confidence, nms_threshold,
                      bbox_std_dev):
    """Turn classified ROIs into at most ``max_instances`` detections per image, as matterport does:

    1. each ROI takes its most probable class and that class's deltas (times ``bbox_std_dev``);
    2. the refined box is clipped to the image window (from ``image_meta``, normalised);
    3. background ROIs are dropped, and those scoring below ``min_confidence`` unless it is 0 (matterport skips the
       filter when the setting is falsy);
    4. per-class greedy NMS at ``nms_threshold``, then the best ``max_instances`` overall by descending score.

    Step 4 runs as one class-aware NMS in global score order that stops at ``max_instances``: that is the same
    result as matterport's per-class NMS (each capped at ``max_instances``) followed by its top-k, because no class
    can have more than ``max_instances`` boxes among the best ``max_instances``.

    Empty boxes: a ROI refined to a box outside the window is clipped to zero height or width. The NMS kernel of
    TensorFlow 1.15, on which matterport runs, stops a class at its first kept empty box (it selects that box over
    and over until its output is full), so a class contributes at most one empty detection, its last. This is kept
    here (``empty_box_suppresses_class`` of :func:`~fashion_seg.mrcnn.nms.non_max_suppression_padded`): it is what
    matterport's models output, and without it empty boxes in the padding, which never overlap anything, crowd out
    real detections (on the reference images over 100 of them would score above the 100th real detection).

    Args:
        rois: ``[batch, num_rois, 4]`` normalised ``(y1, x1, y2, x2)`` (zero rows are padding).
        class_probs: ``[batch, num_rois, num_classes]``. class_deltas: ``[batch, num_rois, num_classes, 4]``.
        image_meta: ``[batch, IMAGE_META_SIZE]``.

    Returns:
        ``(detections, roi_indices)``: detections float32 ``[batch, max_instances, 6]``,
        ``(y1, x1, y2, x2, class_id, score)`` with normalised boxes, sorted by score, zero rows after the real ones;
        roi_indices int32 ``[batch, max_instances]``, the ROI row each detection came from (``-1`` on padding).
    """
    rois = ops.cast(rois, "float32")
    class_probs = ops.cast(class_probs, "float32")
    class_ids = ops.argmax(class_probs, axis=-1)
    class_ids = ops.cast(class_ids, "int32")
    scores = ops.take_along_axis(class_probs, class_ids[..., None], axis=-1)[..., 0]
    deltas = ops.take_along_axis(ops.cast(class_deltas, "float32"), class_ids[..., None, None], axis=2)[:, :, 0]
    std_dev = ops.convert_to_tensor(np.asarray(bbox_std_dev, dtype=np.float32).reshape(4))
    boxes = apply_box_deltas(rois, deltas * std_dev)
    boxes = clip_boxes(boxes, normalized_window_from_meta(image_meta)[:, None, :])

    candidates = class_ids > 0
    if min_confidence:
        candidates = ops.logical_and(candidates, scores >= min_confidence)
    keep, count = non_max_suppression_padded(
        boxes, ops.where(candidates, scores, float("-inf")), max_instances, nms_threshold,
        score_threshold=float("-inf"), class_ids=class_ids, empty_box_suppresses_class=True,
    )
    real = ops.arange(max_instances, dtype="int32")[None, :] < count[:, None]
    detections = ops.concatenate([
        ops.take_along_axis(boxes, keep[..., None], axis=1),
        ops.cast(ops.take_along_axis(class_ids, keep, axis=1), "float32")[..., None],
        ops.take_along_axis(scores, keep, axis=1)[..., None],
    ], axis=-1)
    return ops.where(real[..., None], detections, 0.0), ops.where(real, keep, -1)


class DetectionLayer(keras.layers.Layer):
    """matterport's DetectionLayer: classified, refined ROIs -> final detections.

    Inputs: ``[rois [batch, num_rois, 4], mrcnn_class [batch, num_rois, num_classes],
    mrcnn_bbox [batch, num_rois, num_classes, 4], image_meta [batch, IMAGE_META_SIZE]]`` (rois normalised
    ``(y1, x1, y2, x2)``; mrcnn_bbox before the std dev scaling).
    Output: ``[batch, DETECTION_MAX_INSTANCES, 6]`` float32 rows ``(y1, x1, y2, x2, class_id, score)``, boxes
    normalised and clipped to the image window, sorted by score, zero-padded. With ``return_roi_indices=True`` a
    second output ``[batch, DETECTION_MAX_INSTANCES]`` int32 gives each detection's ROI row (``-1`` on padding).
    See :func:`refine_detections` for the steps.

    Built as matterport's ``DetectionLayer(config)``; ``DETECTION_MAX_INSTANCES``, ``DETECTION_MIN_CONFIDENCE``,
    ``DETECTION_NMS_THRESHOLD`` and ``BBOX_STD_DEV`` come from ``config`` or from the keyword arguments of the same
    meaning. Computes in float32 whatever the dtype policy of the model around it.
    """

    def __init__(self, config=None, *, max_instances=None, min_confidence=None, nms_threshold=None,
                 bbox_std_dev=None, return_roi_indices=False, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.max_instances = int(config.DETECTION_MAX_INSTANCES if max_instances is None else max_instances)
        self.min_confidence = float(config.DETECTION_MIN_CONFIDENCE if min_confidence is None else min_confidence)
        self.nms_threshold = float(config.DETECTION_NMS_THRESHOLD if nms_threshold is None else nms_threshold)
        std_dev = config.BBOX_STD_DEV if bbox_std_dev is None else bbox_std_dev
        self.bbox_std_dev = [float(value) for value in np.asarray(std_dev).reshape(4)]
        self.return_roi_indices = bool(return_roi_indices)

    def call(self, inputs):
        rois, class_probs, class_deltas, image_meta = inputs
        detections, roi_indices = refine_detections(
            rois, class_probs, class_deltas, image_meta, self.max_instances, self.min_confidence,
            self.nms_threshold, self.bbox_std_dev,
        )
        return (detections, roi_indices) if self.return_roi_indices else detections

    def compute_output_shape(self, input_shape):
        batch = input_shape[0][0]
        detections = (batch, self.max_instances, 6)
        return (detections, (batch, self.max_instances)) if self.return_roi_indices else detections

    def compute_output_spec(self, inputs):
        batch = inputs[0].shape[0]
        detections = keras.KerasTensor((batch, self.max_instances, 6), dtype="float32")
        if self.return_roi_indices:
            return detections, keras.KerasTensor((batch, self.max_instances), dtype="int32")
        return detections

    def get_config(self):
        return {
            **super().get_config(),
            "max_instances": self.max_instances,
            "min_confidence": self.min_confidence,
            "nms_threshold": self.nms_threshold,
            "bbox_std_dev": self.bbox_std_dev,
            "return_roi_indices": self.return_roi_indices,
        }
