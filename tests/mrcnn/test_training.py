"""Training mode end to end, on one synthetic image: the loss falls, detect() then finds the object, checkpoints are
matterport's files and training resumes from them at the right epoch.

The model is tiny (resnet_tiny, 128x128, narrow heads) so that a few dozen steps suffice. The same run is the JAX
pass's test (``make test`` runs ``-m jax`` on the JAX backend).
"""

import json
import os
import re

import keras
import numpy as np
import pytest

from fashion_seg.errors import ConfigError
from fashion_seg.mrcnn.dataset import Dataset
from fashion_seg.mrcnn.model import MaskRCNN
from fashion_seg.mrcnn.weights import WeightFile
from tiny_network import TinyNetworkConfig


class TinyConfig(TinyNetworkConfig):
    NAME = "overfit"
    NUM_CLASSES = 2
    IMAGES_PER_GPU = 1
    MAX_GT_INSTANCES = 4
    MINI_MASK_SHAPE = (28, 28)
    DETECTION_MIN_CONFIDENCE = 0.5
    STEPS_PER_EPOCH = 30
    VALIDATION_STEPS = 1


class ToyDataset(Dataset):
    """In-memory images: one orange ellipse ("blob", class 1) on dark noise, or noise alone (no instances)."""

    def __init__(self, with_object=True):
        super().__init__()
        self.add_class("toy", 1, "blob")
        rng = np.random.default_rng(0)
        self.image = rng.uniform(0, 60, (112, 128, 3)).astype(np.uint8)
        rows, cols = np.mgrid[:112, :128]
        self.mask = ((rows - 50) / 28) ** 2 + ((cols - 70) / 36) ** 2 <= 1
        if with_object:
            self.image[self.mask] = [200, 120, 40]
        else:
            self.mask[:] = False
        self.add_image("toy", "only", None)
        self.prepare()

    def load_image(self, image_id):
        return self.image

    def load_mask(self, image_id):
        if not self.mask.any():
            return np.zeros((112, 128, 0), bool), np.zeros(0, np.int32)
        return self.mask[..., None], np.array([1], np.int32)


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    """Five epochs of 30 steps on the object image, validated on an image without instances."""
    keras.utils.set_random_seed(0)
    model_dir = tmp_path_factory.mktemp("logs")
    model = MaskRCNN("training", TinyConfig(), model_dir)
    history = model.train(ToyDataset(), ToyDataset(with_object=False), learning_rate=0.02, epochs=5, layers="all",
                          verbose=0)
    return model, history.history, model_dir


@pytest.mark.jax
def test_loss_falls_and_detect_finds_the_object(overfit):
    model, logs, model_dir = overfit
    assert logs["loss"][0] / logs["loss"][-1] >= 5, logs["loss"]
    inference = MaskRCNN("inference", TinyConfig(), model_dir)
    inference.load_weights(model.find_last(), by_name=True)
    data = ToyDataset()
    result = inference.detect([data.image])[0]
    assert len(result["class_ids"]) >= 1 and result["class_ids"][0] == 1
    found = result["masks"][..., 0]
    assert (found & data.mask).sum() / (found | data.mask).sum() > 0.7


@pytest.mark.jax
def test_logs_hold_every_loss_and_validation_of_an_image_without_instances_is_finite(overfit):
    _, logs, _ = overfit
    names = ["rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss", "mrcnn_mask_loss"]
    assert set(logs) == {"loss", "val_loss", *names, *(f"val_{name}" for name in names)}
    assert all(len(values) == 5 for values in logs.values())
    assert np.isfinite([logs[f"val_{name}"] for name in ["loss", *names]]).all()
    # no instance: nothing to regress, only background to classify
    assert logs["val_rpn_bbox_loss"] == [0.0] * 5 and logs["val_mrcnn_mask_loss"] == [0.0] * 5


def test_checkpoints_are_matterport_files_and_training_resumes_from_them(overfit):
    model, _, model_dir = overfit
    run = os.path.basename(model.log_dir)
    assert re.fullmatch(r"overfit\d{8}T\d{6}", run), run  # overfitYYYYMMDDTHHMMSS, stamped to the second
    assert sorted(f for f in os.listdir(model.log_dir) if f.endswith(".h5")) == [
        "mask_rcnn_overfit_0001.h5", "mask_rcnn_overfit_0002.h5", "mask_rcnn_overfit_0003.h5",
        "mask_rcnn_overfit_0004.h5", "mask_rcnn_overfit_0005.h5"]
    assert json.loads((model_dir / run / "config.json").read_text())["NAME"] == "overfit"
    assert any(name.startswith("events") for _, _, files in os.walk(model.log_dir) for name in files)
    with WeightFile(model.find_last()) as weights:
        assert "rpn_model" in weights.weighted_layer_names and "mrcnn_mask" in weights.weighted_layer_names

    # resumed under float16 mixed precision: the float32 checkpoint loads, and the loss is scaled
    resumed = MaskRCNN("training", TinyConfig(STEPS_PER_EPOCH=2, PRECISION="mixed_float16"), model_dir)
    assert resumed.epoch == 0
    resumed.load_weights(resumed.find_last(), by_name=True)
    assert resumed.epoch == 5 and resumed.log_dir == model.log_dir
    for a, b in zip(resumed.keras_model.get_layer("mrcnn_mask").get_weights(),
                    model.keras_model.get_layer("mrcnn_mask").get_weights()):
        np.testing.assert_array_equal(a, b)
    data = ToyDataset()
    assert resumed.train(data, None, 0.01, epochs=5, layers="heads", verbose=0).epoch == []  # already there
    history = resumed.train(data, None, 0.01, epochs=6, layers="heads", verbose=0)
    assert history.epoch == [5] and resumed.epoch == 6
    assert isinstance(resumed.keras_model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(history.history["loss"]).all()
    assert resumed.find_last() == os.path.join(model.log_dir, "mask_rcnn_overfit_0006.h5")


def test_training_refuses_the_wrong_mode_layers_or_replica_count(tmp_path):
    inference = MaskRCNN("inference", TinyConfig(), tmp_path)
    with pytest.raises(ConfigError, match="mode='training'"):
        inference.train(ToyDataset(), None, 0.01, epochs=1, layers="heads")
    training = MaskRCNN("training", TinyConfig(), tmp_path)
    with pytest.raises(ConfigError, match="regular expression"):
        training.train(ToyDataset(), None, 0.01, epochs=1, layers="res(")
    two_gpus = MaskRCNN("training", TinyConfig(GPU_COUNT=2), tmp_path)  # built without a 2-replica strategy
    with pytest.raises(ConfigError, match="built for 1 replicas but GPU_COUNT=2"):
        two_gpus.train(ToyDataset(), None, 0.01, epochs=1, layers="heads")
