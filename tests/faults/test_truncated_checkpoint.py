"""A newest checkpoint cut short (a copy that stopped, a disk that filled up, a machine that went down while it was
written) is passed over by ``--weights last`` with a warning naming it, and the one before it is used: in training
(where the run resumes) and in prediction (which checkpoint is loaded). Nothing is deleted."""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import pytest

from fashion_seg.checkpoints import checkpoint_problem, first_complete
from fashion_seg.errors import WeightsError
from fashion_seg.mrcnn.weights import save_weights
from fashion_seg.trainer.runs import newest_resume_point

from .conftest import truncate


def small_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, name="head")(keras.layers.Dense(8, name="hidden")(inputs))
    return keras.Model(inputs, outputs)


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """``logs/tiny20260101T120000/`` with checkpoints of epochs 1 and 2 and a stop checkpoint of epoch 3."""
    folder = tmp_path / "logs" / "tiny20260101T120000"
    for seed, name in enumerate(["mask_rcnn_tiny_0001.h5", "mask_rcnn_tiny_0002.h5",
                                 "mask_rcnn_tiny_0002_interrupted.h5"]):
        save_weights(small_model(seed), folder / name)
    return folder


def test_a_complete_checkpoint_reads_and_a_cut_one_does_not(run_dir):
    checkpoint = run_dir / "mask_rcnn_tiny_0002.h5"
    assert checkpoint_problem(checkpoint) is None
    for fraction in (0.0, 0.3, 0.9, 0.99):
        data = checkpoint.read_bytes()
        truncate(checkpoint, fraction)
        problem = checkpoint_problem(checkpoint)
        assert problem is not None and str(checkpoint) in problem, fraction
        checkpoint.write_bytes(data)


@pytest.mark.parametrize("cut", [["mask_rcnn_tiny_0002_interrupted.h5"],
                                 ["mask_rcnn_tiny_0002_interrupted.h5", "mask_rcnn_tiny_0002.h5"]],
                         ids=["stop-checkpoint-cut", "stop-and-epoch-2-cut"])
def test_training_resumes_from_the_newest_checkpoint_that_reads(run_dir, cut, caplog):
    sizes = {}
    for name in cut:
        truncate(run_dir / name)
        sizes[name] = (run_dir / name).stat().st_size
    with caplog.at_level(logging.WARNING):
        point = newest_resume_point(run_dir.parent, "tiny")
    expected = {1: "mask_rcnn_tiny_0002.h5", 2: "mask_rcnn_tiny_0001.h5"}[len(cut)]
    assert point.path == run_dir / expected and point.reason is None
    assert point.epoch == int(expected[-7:-3])
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == len(cut)
    for name, warning in zip(cut, warnings):
        assert warning.startswith(f"passing over checkpoint {run_dir / name}: ") and "truncated or corrupt" in warning
        assert (run_dir / name).stat().st_size == sizes[name]  # kept as it was, for the user to look at


def test_no_checkpoint_that_reads_is_a_clear_error(run_dir):
    for path in run_dir.iterdir():
        truncate(path)
    assert first_complete(sorted(run_dir.iterdir())) is None
    with pytest.raises(WeightsError, match="--weights last: no checkpoint of 'tiny'"):
        newest_resume_point(run_dir.parent, "tiny")


@pytest.mark.slow
def test_prediction_loads_the_newest_checkpoint_that_reads(tmp_path, caplog):
    from fashion_seg.checkpoints import load_inference_model
    from fashion_seg.mrcnn.config import Config
    from fashion_seg.mrcnn.model import MaskRCNN

    config = Config(NAME="demo", NUM_CLASSES=47, BACKBONE="resnet_tiny", IMAGE_MIN_DIM=128, IMAGE_MAX_DIM=128)
    run_dir = tmp_path / "logs" / "demo20260101T120000"
    model = MaskRCNN("inference", config, str(tmp_path / "logs"))
    model.save_weights(run_dir / "mask_rcnn_demo_0001.h5")
    config.save_json(run_dir / "config.json")
    first = model.keras_model.get_layer("mrcnn_class_logits").get_weights()[0]
    model.keras_model.get_layer("mrcnn_class_logits").set_weights(
        [w + 1 for w in model.keras_model.get_layer("mrcnn_class_logits").get_weights()])
    model.save_weights(run_dir / "mask_rcnn_demo_0002.h5")
    truncate(run_dir / "mask_rcnn_demo_0002.h5", 0.8)

    with caplog.at_level(logging.WARNING):
        loaded, path, _ = load_inference_model("last", tmp_path / "logs")
    assert path == run_dir / "mask_rcnn_demo_0001.h5"
    assert any(f"passing over checkpoint {run_dir / 'mask_rcnn_demo_0002.h5'}" in record.getMessage()
               for record in caplog.records)
    np.testing.assert_array_equal(loaded.keras_model.get_layer("mrcnn_class_logits").get_weights()[0], first)
