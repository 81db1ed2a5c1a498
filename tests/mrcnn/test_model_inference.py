"""MaskRCNN in inference mode on a tiny configuration: detect() contract, batching, checkpoints, precision.

Random weights, with the confidence filter off, so that every image yields DETECTION_MAX_INSTANCES detections.
"""

import os

import keras
import numpy as np
import pytest

from fashion_seg.errors import ConfigError, DataError, WeightsError
from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.model import MaskRCNN


class TinyConfig(Config):
    NAME = "Tiny"
    BACKBONE = "resnet_tiny"
    NUM_CLASSES = 4
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 128
    IMAGES_PER_GPU = 2
    TOP_DOWN_PYRAMID_SIZE = 32
    RPN_CONV_FILTERS = 32
    FPN_CLASSIF_FC_LAYERS_SIZE = 64
    MASK_HEAD_FILTERS = 16
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    PRE_NMS_LIMIT = 500
    POST_NMS_ROIS_TRAINING = 200
    POST_NMS_ROIS_INFERENCE = 100
    DETECTION_MAX_INSTANCES = 10
    DETECTION_MIN_CONFIDENCE = 0.0


def random_images(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=shape, dtype=np.uint8) for shape in shapes]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    keras.utils.set_random_seed(0)
    return MaskRCNN("inference", TinyConfig(), tmp_path_factory.mktemp("logs"))


@pytest.mark.jax
def test_detect_returns_matterports_dicts_at_each_images_own_size(model):
    images = random_images([(90, 120, 3), (200, 64), (128, 128, 1)])  # RGB, grayscale, single channel
    results = model.detect(images)
    assert len(results) == 3
    for image, result in zip(images, results):
        height, width = image.shape[:2]
        count = len(result["rois"])
        assert 0 < count <= 10
        assert result["rois"].dtype == np.int32 and result["rois"].shape == (count, 4)
        assert result["class_ids"].dtype == np.int32 and np.all((result["class_ids"] >= 1) & (result["class_ids"] < 4))
        assert result["scores"].dtype == np.float32 and np.all(np.diff(result["scores"]) <= 0)
        assert result["masks"].dtype == bool and result["masks"].shape == (height, width, count)
        assert np.all(result["rois"][:, :2] >= 0) and np.all(result["rois"][:, 2] <= height)
        assert np.all(result["rois"][:, 3] <= width)
        for (y1, x1, y2, x2), mask in zip(result["rois"], np.moveaxis(result["masks"], -1, 0)):
            outside = mask.copy()
            outside[y1:y2, x1:x2] = False
            assert not outside.any()  # every mask lies inside its box


@pytest.mark.jax
def test_results_do_not_depend_on_the_batch_an_image_is_in(model):
    """Three images run as a batch of 2 plus a padded batch; each equals the image run alone."""
    images = random_images([(100, 100, 3), (60, 128, 3), (128, 70, 3)], seed=1)
    together = model.detect(images)
    for image, result in zip(images, together):
        alone = model.detect([image])[0]
        np.testing.assert_array_equal(result["rois"], alone["rois"])
        np.testing.assert_array_equal(result["class_ids"], alone["class_ids"])
        np.testing.assert_allclose(result["scores"], alone["scores"], atol=1e-5)
        assert (result["masks"] != alone["masks"]).sum() <= 2


def test_raw_outputs_and_the_mask_model_agree(model):
    molded, metas, _ = model.mold_inputs(random_images([(128, 128, 3), (128, 96, 3)], seed=2))
    raw = model.raw_detections(molded, metas)
    assert raw.detections.shape == (2, 10, 6) and raw.masks.shape == (2, 10, 28, 28)
    outputs = model.run_graph(molded, metas)
    assert list(outputs) == ["mrcnn_detection", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask", "ROI", "rpn_class",
                             "rpn_bbox"]
    assert outputs["mrcnn_mask"].shape == (2, 10, 28, 28, 4) and outputs["ROI"].shape == (2, 100, 4)
    np.testing.assert_allclose(outputs["mrcnn_detection"], raw.detections, atol=1e-6)
    class_ids = raw.detections[..., 4].astype(int)
    own_class = np.take_along_axis(outputs["mrcnn_mask"], class_ids[:, :, None, None, None], axis=-1)[..., 0]
    np.testing.assert_allclose(raw.masks, own_class, atol=1e-6)
    # The mask head on given boxes (test-time augmentation) reuses the same weights.
    masks = model.predict_masks(molded, metas, raw.detections[..., :4], class_ids)
    np.testing.assert_allclose(masks, raw.masks, atol=1e-5)


def test_detect_molded_reports_boxes_in_the_molded_frame(model):
    molded, metas, windows = model.mold_inputs(random_images([(64, 128, 3), (128, 128, 3)], seed=3))
    results = model.detect_molded(molded, metas)
    assert [r["masks"].shape[:2] for r in results] == [(128, 128), (128, 128)]
    with pytest.raises(DataError, match="multiples of 64"):
        model.detect_molded(molded[:, :100], metas)
    with pytest.raises(DataError, match="image_metas"):
        model.detect_molded(molded, metas[:1])


def test_checkpoint_names_find_last_and_resume_epoch(model, tmp_path):
    model.model_dir = str(tmp_path)
    model.set_log_dir()
    assert os.path.basename(model.log_dir).startswith("tiny") and model.epoch == 0
    run = tmp_path / "tiny20240102T0304"
    later_empty_run = tmp_path / "tiny20240105T0000"
    later_empty_run.mkdir(parents=True)
    checkpoint = model.save_weights(run / "mask_rcnn_tiny_0007.h5")
    model.save_weights(run / "mask_rcnn_tiny_0003.h5")
    (run / ".mask_rcnn_tiny_0009.h5.tmp.h5").write_bytes(b"partial")  # an unfinished atomic write
    assert model.find_last() == str(checkpoint)
    model.load_weights(model.find_last(), by_name=True)
    assert model.epoch == 7 and model.log_dir == str(run)
    assert model.checkpoint_path.format(epoch=8) == str(run / "mask_rcnn_tiny_0008.h5")
    model.model_dir = str(tmp_path / "empty")
    with pytest.raises(WeightsError, match="no checkpoint of 'tiny'"):
        model.find_last()


def test_mode_and_name_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="mode='train'"):
        MaskRCNN("train", TinyConfig(), tmp_path)
    with pytest.raises(ConfigError, match="NAME"):
        MaskRCNN("inference", TinyConfig(NAME=None), tmp_path)


def test_mixed_precision_policy_keeps_outputs_float32(tmp_path):
    keras.utils.set_random_seed(0)
    model = MaskRCNN("inference", TinyConfig(PRECISION="mixed_bfloat16", IMAGES_PER_GPU=1), tmp_path)
    assert model.keras_model.get_layer("res2a_branch2a").compute_dtype == "bfloat16"
    assert model.keras_model.get_layer("mrcnn_mask").compute_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    result = model.detect(random_images([(100, 120, 3)]))[0]
    assert result["scores"].dtype == np.float32 and np.all(np.isfinite(result["scores"]))
    assert result["masks"].shape[:2] == (100, 120)
