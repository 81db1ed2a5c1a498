"""DetectionLayer: matterport's final detections, checked by hand and against matterport's own detections."""

import keras
import numpy as np
import pytest
from keras import ops

from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.detection import DetectionLayer, refine_detections
from fashion_seg.mrcnn.molding import compose_image_meta

pytestmark = pytest.mark.jax

NUM_CLASSES = 4


def image_meta(window=(0, 0, 100, 100), shape=(100, 100, 3)):
    return compose_image_meta(0, shape, shape, window, 1.0, np.zeros(NUM_CLASSES))[None]


def one_hot_probs(class_ids, scores):
    """[1, N, NUM_CLASSES] probabilities with the given argmax classes and max scores."""
    probs = np.zeros((1, len(class_ids), NUM_CLASSES), dtype=np.float32)
    for row, (class_id, score) in enumerate(zip(class_ids, scores)):
        probs[0, row] = (1 - score) / (NUM_CLASSES - 1)
        probs[0, row, class_id] = score
    return probs


def detect(rois, probs, deltas=None, meta=None, **settings):
    rois = np.asarray(rois, dtype=np.float32)[None]
    if deltas is None:
        deltas = np.zeros(probs.shape + (4,), dtype=np.float32)
    settings = {"max_instances": 5, "min_confidence": 0.0, "nms_threshold": 0.3, "bbox_std_dev": [0.1, 0.1, 0.2, 0.2],
                **settings}
    detections, roi_indices = refine_detections(rois, probs, deltas, image_meta() if meta is None else meta,
                                                **settings)
    return ops.convert_to_numpy(detections)[0], ops.convert_to_numpy(roi_indices)[0].tolist()


def test_background_is_dropped_nms_is_per_class_and_rows_are_sorted_and_padded():
    rois = [[0.1, 0.1, 0.5, 0.5], [0.1, 0.1, 0.5, 0.5], [0.11, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]]
    probs = one_hot_probs([1, 2, 1, 0], [0.6, 0.7, 0.9, 0.99])
    detections, roi_indices = detect(rois, probs)
    # ROI 2 suppresses ROI 0 (same class, IoU 0.97); ROI 1 overlaps as much but is another class; ROI 3 is background
    assert roi_indices == [2, 1, -1, -1, -1]
    np.testing.assert_allclose(detections[:2], [[0.11, 0.1, 0.5, 0.5, 1, 0.9], [0.1, 0.1, 0.5, 0.5, 2, 0.7]],
                               atol=1e-6)
    assert not detections[2:].any()


def test_min_confidence_filters_only_when_set_like_matterport():
    rois = [[0.1, 0.1, 0.2, 0.2], [0.5, 0.5, 0.6, 0.6]]
    probs = one_hot_probs([1, 3], [0.8, 0.4])
    assert detect(rois, probs, min_confidence=0.5)[1] == [0, -1, -1, -1, -1]
    assert detect(rois, probs, min_confidence=0.0)[1] == [0, 1, -1, -1, -1]


def test_class_specific_deltas_refine_and_the_window_clips():
    rois = [[0.2, 0.2, 0.4, 0.4]]
    probs = one_hot_probs([2], [0.9])
    deltas = np.zeros((1, 1, NUM_CLASSES, 4), dtype=np.float32)
    deltas[0, 0, 1] = [5.0, 5.0, 0.0, 0.0]  # another class's deltas: ignored
    deltas[0, 0, 2] = [-10.0, 0.0, 0.0, np.log(2.0) / 0.2]  # up by one box (std 0.1), twice as wide (std 0.2)
    meta = image_meta(window=(16, 0, 85, 100))  # normalised (16/99, 0, 84/99, 1)
    detections, _ = detect(rois, probs, deltas, meta)
    np.testing.assert_allclose(detections[0, :4], [16 / 99, 0.1, 0.2, 0.5], atol=1e-6)


def test_a_class_ends_at_its_first_empty_box_as_in_matterport():
    rois = [[0.3, 0.3, 0.5, 0.5], [0.0, 0.3, 0.1, 0.5], [0.6, 0.6, 0.8, 0.8], [0.6, 0.1, 0.8, 0.3]]
    probs = one_hot_probs([1, 1, 1, 2], [0.9, 0.8, 0.7, 0.6])
    meta = image_meta(window=(20, 0, 100, 100))  # ROI 1 lies above the window: clipped to zero height
    detections, roi_indices = detect(rois, probs, meta=meta)
    assert roi_indices == [0, 1, 3, -1, -1]  # ROI 2 (class 1, after the empty box) is gone; class 2 is not affected
    assert detections[1, 0] == detections[1, 2]


def test_layer_builds_symbolically_serialises_and_computes_in_float32():
    config = Config(NAME="t", NUM_CLASSES=NUM_CLASSES, DETECTION_MAX_INSTANCES=7, DETECTION_MIN_CONFIDENCE=0.5)
    layer = DetectionLayer(config, return_roi_indices=True, name="mrcnn_detection")
    clone = DetectionLayer.from_config(layer.get_config())
    assert (clone.max_instances, clone.min_confidence, clone.nms_threshold) == (7, 0.5, 0.3)
    inputs = [keras.Input((30, 4)), keras.Input((30, NUM_CLASSES)), keras.Input((30, NUM_CLASSES, 4)),
              keras.Input((config.IMAGE_META_SIZE,))]
    detections, roi_indices = clone(inputs)
    assert detections.shape == (None, 7, 6) and roi_indices.shape == (None, 7)

    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 0.7, (2, 30, 2))
    rois = np.concatenate([corners, corners + 0.3], axis=-1).astype(np.float32)
    probs = rng.dirichlet(np.full(NUM_CLASSES, 0.3), (2, 30)).astype(np.float32)
    deltas = rng.normal(size=(2, 30, NUM_CLASSES, 4)).astype(np.float32)
    metas = np.concatenate([image_meta((0, 0, 64, 64), (64, 64, 3))] * 2)
    metas = np.pad(metas, [(0, 0), (0, config.IMAGE_META_SIZE - metas.shape[1])])
    model = keras.Model(inputs, [detections, roi_indices])
    detections, roi_indices = map(ops.convert_to_numpy, model.predict_on_batch(
        [rois, ops.cast(probs, "bfloat16"), ops.cast(deltas, "bfloat16"), metas]))
    assert detections.dtype == np.float32
    real = roi_indices >= 0
    assert np.all(detections[real][:, 5] >= 0.5) and np.all(detections[real][:, 4] > 0)
    assert np.all(np.diff(detections[0, real[0], 5]) <= 0)


def test_reference_detections_are_matterports(reference_outputs, reference_config_class, jit_compile):
    """matterport's 100 detections of both reference images, from its own ROIs and head outputs, in one compiled
    batch: the same ROIs in the same order with the same classes, scores and boxes."""
    config = reference_config_class()
    inputs = [np.concatenate([ref[key] for ref in reference_outputs]).astype(np.float32)
              for key in ("ROI", "mrcnn_class", "mrcnn_bbox", "image_meta")]
    layer = DetectionLayer(config, return_roi_indices=True)
    detections, roi_indices = map(ops.convert_to_numpy, jit_compile(lambda *x: layer(list(x)))(*inputs))
    for image, ref in enumerate(reference_outputs):
        np.testing.assert_array_equal(roi_indices[image], ref["det_roi_ix"])
        expected = ref["mrcnn_detection"][0]
        np.testing.assert_array_equal(detections[image, :, 4], expected[:, 4])
        np.testing.assert_allclose(detections[image, :, 5], expected[:, 5], atol=1e-6)
        np.testing.assert_allclose(detections[image, :, :4], expected[:, :4], atol=1e-6)
