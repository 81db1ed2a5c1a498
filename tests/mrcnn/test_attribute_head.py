"""The attribute head (``ATTRIBUTE_HEAD``): its loss and masking, its targets through batches and the detection target
layer, that off is today's model bit for bit, that on it leaves every other output as it was, h5 loading by name,
and the ``heads`` layer set.

Models are the tiny ones of ``test_training.py`` (resnet_tiny, 128x128, narrow heads).
"""

import keras
import numpy as np
import pytest

from fashion_seg.data.attributes import AttributeTargets
from fashion_seg.data.labels import LabelDescriptions
from fashion_seg.errors import ConfigError
from fashion_seg.mrcnn import losses
from fashion_seg.mrcnn.batches import INPUT_NAMES, build_batch, input_names
from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.dataset import Dataset
from fashion_seg.mrcnn.detection_targets import detection_targets
from fashion_seg.mrcnn.model import MaskRCNN
from fashion_seg.mrcnn.training import LAYER_REGEX
from fashion_seg.mrcnn.weights import load_weights, save_weights, weight_layers
from tiny_network import TinyNetworkConfig


class TinyConfig(TinyNetworkConfig):
    NAME = "attributes"
    NUM_CLASSES = 3
    IMAGES_PER_GPU = 1
    MAX_GT_INSTANCES = 4
    MINI_MASK_SHAPE = (28, 28)
    DETECTION_MIN_CONFIDENCE = 0.0
    NUM_ATTRIBUTES = 5


def numpy_bce(logits, targets):
    probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
    return -(targets * np.log(probs) + (1 - targets) * np.log(1 - probs))


@pytest.mark.jax
def test_the_loss_averages_bce_over_known_positive_rois_and_attributes():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, (2, 4, 3)).astype(np.float32)
    targets = rng.integers(0, 2, (2, 4, 3)).astype(np.float32)
    # image 0: rows 0, 1 positive and known, row 2 positive but unknown (masked), row 3 negative
    # image 1: row 0 known; rows 1-3 negatives or padding
    known = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], np.float32)
    expected = (numpy_bce(logits[0, :2], targets[0, :2]).sum() + numpy_bce(logits[1, :1], targets[1, :1]).sum()) / 9
    value = float(keras.ops.convert_to_numpy(losses.mrcnn_attr_loss(targets, known, logits)))
    assert value == pytest.approx(expected, rel=1e-5)
    terms = losses.mrcnn_attr_loss_terms(targets, known, logits)
    assert float(keras.ops.convert_to_numpy(terms.count)) == 9.0
    # nothing known: zero, whatever the logits
    assert float(keras.ops.convert_to_numpy(losses.mrcnn_attr_loss(targets, np.zeros_like(known), logits))) == 0.0


@pytest.mark.jax
def test_large_logits_give_a_finite_loss():
    logits = np.array([[[80.0, -80.0]]], np.float32)
    value = float(keras.ops.convert_to_numpy(losses.mrcnn_attr_loss(np.array([[[0.0, 1.0]]]), np.ones((1, 1)),
                                                                    logits)))
    assert value == pytest.approx(80.0, rel=1e-6)


@pytest.mark.jax
def test_each_positive_roi_takes_its_matched_gts_attributes_and_known_flag():
    proposals = np.zeros((1, 6, 4), np.float32)
    proposals[0, :4] = [[0.1, 0.1, 0.4, 0.4], [0.6, 0.6, 0.9, 0.9], [0.11, 0.1, 0.4, 0.41], [0.0, 0.5, 0.05, 0.55]]
    gt_boxes = np.array([[[0.1, 0.1, 0.4, 0.4], [0.6, 0.6, 0.9, 0.9], [0, 0, 0, 0]]], np.float32)
    gt_class_ids = np.array([[1, 2, 0]], np.int32)
    gt_masks = np.ones((1, 28, 28, 3), bool)
    gt_attributes = np.array([[[1, 0, 1], [0, 1, 0], [0, 0, 0]]], np.float32)
    gt_known = np.array([[True, False, False]])
    outputs = detection_targets(proposals, gt_class_ids, gt_boxes, gt_masks, np.arange(6)[None] / 6.0,
                                train_rois_per_image=6, positive_ratio=0.5, bbox_std_dev=[0.1, 0.1, 0.2, 0.2],
                                mask_shape=(28, 28), use_mini_mask=True, gt_attributes=gt_attributes,
                                gt_attributes_known=gt_known)
    assert len(outputs) == 7
    class_ids, attributes, known = (np.asarray(keras.ops.convert_to_numpy(outputs[i])) for i in (1, 5, 6))
    # positives in proposal order: proposals 0, 1, 2 (GTs 0, 1, 0); then the negative, then padding
    assert class_ids[0].tolist() == [1, 2, 1, 0, 0, 0]
    assert attributes[0].tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert known[0].tolist() == [1, 0, 1, 0, 0, 0]


def _image(seed):
    return np.random.default_rng(seed).integers(0, 255, (100, 120, 3), dtype=np.uint8)


def _output_layers(model):
    return [tensor._keras_history.operation.name for tensor in model.outputs]


def _inference(config, seed=0):
    """An untrained inference model that detects: RPN and box deltas zeroed (proposals are anchors, detections their
    proposals), class logits small and leaning away from the background."""
    keras.utils.set_random_seed(seed)
    model = MaskRCNN("inference", config, "unused_logs")
    for layer, scale, shift in ((model.keras_model.get_layer("rpn_model").get_layer("rpn_bbox_pred"), 0.0, 0.0),
                                (model.keras_model.get_layer("mrcnn_bbox_fc"), 0.0, 0.0),
                                (model.keras_model.get_layer("mrcnn_class_logits"), 1e-3, np.array([-5.0, 0, 0]))):
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * scale, (bias * 0 + shift).astype(np.float32)])
    return model


def test_off_is_todays_model_and_on_changes_no_other_output(tmp_path):
    today = _inference(TinyConfig())
    off = _inference(TinyConfig(ATTRIBUTE_HEAD=False))
    assert [e.name for e in weight_layers(off.keras_model)] == [e.name for e in weight_layers(today.keras_model)]
    assert _output_layers(off.keras_model) == _output_layers(today.keras_model)
    assert len(off.keras_model.outputs) == 7 and len(off.graph.features_model.outputs) == 5
    images = [_image(1), _image(2)[:80]]
    expected = today.detect(images)
    for got, want in zip(off.detect(images), expected):
        assert set(got) == {"rois", "class_ids", "scores", "masks"}
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], key)

    on = _inference(TinyConfig(ATTRIBUTE_HEAD=True), seed=1)
    path = save_weights(today.keras_model, tmp_path / "today.h5")
    report = load_weights(on.keras_model, path, by_name=True)
    assert report.missing_in_file == ["mrcnn_attr_logits"] and not report.unused_in_file
    results = on.detect(images)
    for got, want in zip(results, expected):
        assert len(want["class_ids"]) > 0
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], key)
        probs = got["attributes"]
        assert probs.shape == (len(want["class_ids"]), 5) and probs.dtype == np.float32
        assert ((probs >= 0) & (probs <= 1)).all() and probs.std() > 0

    # row i of "attributes" is the attribute head's output on the proposal that detection i came from
    molded, metas, _ = on.mold_inputs(images[:1])
    graph = on.run_graph(molded, metas)
    assert sorted(graph) == sorted(["mrcnn_detection", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask", "ROI", "rpn_class",
                                    "rpn_bbox", "mrcnn_attributes"])
    count = len(results[0]["class_ids"])
    np.testing.assert_allclose(graph["mrcnn_attributes"][0, :count], results[0]["attributes"], rtol=1e-6)
    assert not graph["mrcnn_attributes"][0, count:].any()
    raw = on.raw_detections_with_attributes(molded, metas)
    assert raw.attributes.shape == (1, on.config.DETECTION_MAX_INSTANCES, 5)
    with pytest.raises(ConfigError, match="no attribute head"):
        off.raw_detections_with_attributes(molded, metas)


def test_h5_files_load_by_name_with_the_head_on_and_the_head_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    off = MaskRCNN("training", TinyConfig(), tmp_path)
    keras.utils.set_random_seed(1)
    on = MaskRCNN("training", TinyConfig(ATTRIBUTE_HEAD=True), tmp_path)
    fresh = [np.array(w) for w in on.keras_model.get_layer("mrcnn_attr_logits").get_weights()]
    report = on.load_weights(save_weights(off.keras_model, tmp_path / "coco_like.h5"), by_name=True)
    assert report.missing_in_file == ["mrcnn_attr_logits"]
    for a, b in zip(on.keras_model.get_layer("mrcnn_class_logits").get_weights(),
                    off.keras_model.get_layer("mrcnn_class_logits").get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(on.keras_model.get_layer("mrcnn_attr_logits").get_weights(), fresh):
        np.testing.assert_array_equal(a, b)  # a new layer starts from its own initial weights

    inference = MaskRCNN("inference", TinyConfig(ATTRIBUTE_HEAD=True), tmp_path)
    report = inference.load_weights(save_weights(on.keras_model, tmp_path / "with_head.h5"), by_name=True)
    assert not report.missing_in_file and "mrcnn_attr_logits" in report.loaded
    for a, b in zip(inference.keras_model.get_layer("mrcnn_attr_logits").get_weights(), fresh):
        np.testing.assert_array_equal(a, b)

    # the heads stage (and every later one) trains the attribute head
    for layers in ("heads", "3+", "all"):
        assert "mrcnn_attr_logits" in on.set_trainable(LAYER_REGEX[layers], verbose=0)
    names = {w.path.split("/")[-2] for w in on.keras_model.trainable_weights}
    assert "mrcnn_attr_logits" in names


def test_the_training_model_has_attribute_inputs_outputs_and_loss_only_when_on(tmp_path):
    off = MaskRCNN("training", TinyConfig(), tmp_path).keras_model
    on = MaskRCNN("training", TinyConfig(ATTRIBUTE_HEAD=True, ATTRIBUTE_LOSS_WEIGHT=0.5), tmp_path).keras_model
    assert set(on.input) - set(off.input) == {"input_gt_attributes", "input_gt_attributes_known"}
    assert set(on.output) - set(off.output) == {"mrcnn_attr_logits", "target_attributes", "target_attributes_known"}
    assert [t.name for t in off.loss_trackers] == list(losses.LOSS_NAMES)
    assert [t.name for t in on.loss_trackers] == [*losses.LOSS_NAMES, "mrcnn_attr_loss"]
    assert on.loss_weights["mrcnn_attr_loss"] == 0.5
    with pytest.raises(ConfigError, match="ATTRIBUTE_LOSS_WEIGHT"):
        TinyConfig(LOSS_WEIGHTS={**Config.LOSS_WEIGHTS, "mrcnn_attr_loss": 2.0})


class ThreeShapes(Dataset):
    """One 64x64 image: a square (category 0, attributes 1 and 3), a one-pixel dot (category 1, attribute 0) and a
    bar (category 1, no attributes: known none, since the others have some)."""

    def __init__(self):
        super().__init__()
        self.labels = LabelDescriptions(
            categories=tuple({"id": i, "name": f"c{i}"} for i in range(2)),
            attributes=tuple({"id": i, "name": f"a{i}"} for i in range(5)))
        self.add_class("shapes", 1, "c0")
        self.add_class("shapes", 2, "c1")
        self.add_image("shapes", 0, None, category_ids=np.array([0, 1, 1]), attribute_ids=((1, 3), (0,), ()))
        self.prepare()

    def attribute_targets(self):
        return AttributeTargets(self)  # the competition's rule, from the labels and per-instance ids above

    def load_image(self, image_id):
        return np.full((64, 64, 3), 90, np.uint8)

    def load_mask(self, image_id):
        masks = np.zeros((64, 64, 3), bool)
        masks[5:30, 5:30, 0] = True
        masks[40, 40, 1] = True
        masks[35:60, 10:20, 2] = True
        return masks, np.array([1, 2, 2], np.int32)


def test_batches_carry_each_kept_instances_attributes():
    config = TinyConfig(ATTRIBUTE_HEAD=True, IMAGE_MIN_DIM=64, IMAGE_MAX_DIM=64, IMAGE_RESIZE_MODE="none")
    batch = build_batch(ThreeShapes(), [0], config, min_area=4)  # the dot is dropped
    assert set(batch) == set(input_names(config))
    assert batch["input_gt_class_ids"][0].tolist() == [1, 2, 0, 0]
    assert batch["input_gt_attributes"].shape == (1, 4, 5)
    assert batch["input_gt_attributes"][0].tolist() == [[0, 1, 0, 1, 0], [0] * 5, [0] * 5, [0] * 5]
    assert batch["input_gt_attributes_known"][0].tolist() == [True, True, False, False]
    assert set(build_batch(ThreeShapes(), [0], TinyConfig(IMAGE_MIN_DIM=64, IMAGE_MAX_DIM=64))) == set(INPUT_NAMES)
    with pytest.raises(ConfigError, match="NUM_ATTRIBUTES=92 but the attribute vocabulary has 5"):
        build_batch(ThreeShapes(), [0], TinyConfig(ATTRIBUTE_HEAD=True, NUM_ATTRIBUTES=92, IMAGE_MIN_DIM=64,
                                                    IMAGE_MAX_DIM=64))
