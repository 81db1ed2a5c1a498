"""Backbone, FPN and RPN graphs: shapes, strides, names, BatchNorm modes, TimeDistributed (small, random weights).

Their numbers against matterport's are checked in test_reference_model.py.
"""

import keras
import numpy as np
import pytest

from fashion_seg.mrcnn.anchors import get_anchors
from fashion_seg.mrcnn.backbone import RESNET_LAYOUTS, build_resnet_model
from fashion_seg.mrcnn.batch_norm import BatchNorm
from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.fpn import build_backbone_and_fpn
from fashion_seg.mrcnn.rpn import build_config_rpn_model, rpn_graph
from fashion_seg.mrcnn.time_distributed import TimeDistributed


def tiny_config(**overrides):
    values = dict(NAME="tiny", BACKBONE="resnet_tiny", NUM_CLASSES=3, IMAGE_MIN_DIM=128, IMAGE_MAX_DIM=128,
                  TOP_DOWN_PYRAMID_SIZE=32, RPN_CONV_FILTERS=32, IMAGES_PER_GPU=1)
    values.update(overrides)
    return Config(**values)


@pytest.mark.jax
def test_tiny_resnet_has_resnet_strides_channels_and_names():
    model = build_resnet_model("resnet_tiny")
    c2, c3, c4, c5 = model(np.zeros((2, 128, 192, 3), np.float32))
    assert [tuple(c.shape) for c in (c2, c3, c4, c5)] == [(2, 32, 48, 32), (2, 16, 24, 64), (2, 8, 12, 128),
                                                          (2, 4, 6, 256)]
    names = {layer.name for layer in model.layers}
    assert {"conv1", "bn_conv1", "res2a_branch1", "bn2a_branch1", "res2b_out", "res5b_branch2c", "res5b_out"} <= names
    assert "res2c_out" not in names  # two blocks per stage
    assert RESNET_LAYOUTS["resnet_tiny"].output_channels() == [32, 64, 128, 256]


def test_resnet101_stage4_runs_to_block_w():
    assert RESNET_LAYOUTS["resnet101"].block_names(4)[-1] == "w"
    assert RESNET_LAYOUTS["resnet50"].block_names(4) == list("abcdef")


@pytest.mark.jax
def test_frozen_batch_norm_ignores_the_training_flag():
    frozen, following = BatchNorm(False), BatchNorm(None)
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(8, 4)).astype("float32")
    for layer in (frozen, following):
        layer.build(x.shape)
        layer.moving_mean.assign(np.full(4, 1.0, "float32"))
        layer.moving_variance.assign(np.full(4, 4.0, "float32"))
    inference = (x - 1.0) / np.sqrt(4.0 + 1e-3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(frozen(x, training=True)), inference, rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(frozen.moving_mean), 1.0)  # statistics untouched
    batch = keras.ops.convert_to_numpy(following(x, training=True))
    np.testing.assert_allclose(batch.mean(axis=0), 0.0, atol=1e-5)  # batch statistics
    assert frozen.epsilon == 1e-3
    assert BatchNorm.from_config(frozen.get_config()).train_bn is False


@pytest.mark.jax
def test_time_distributed_equals_the_layer_applied_to_each_roi():
    keras.utils.set_random_seed(1)
    conv = keras.layers.Conv2D(5, 3, padding="same")
    wrapped = TimeDistributed(conv, name="mrcnn_mask_conv1")
    rois = np.random.default_rng(1).normal(size=(2, 7, 6, 6, 4)).astype("float32")
    out = keras.ops.convert_to_numpy(wrapped(rois))
    assert out.shape == (2, 7, 6, 6, 5)
    for b in range(2):
        for r in (0, 3, 6):
            np.testing.assert_allclose(out[b, r], keras.ops.convert_to_numpy(conv(rois[b, r][None]))[0], atol=1e-5)
    assert [w.path.split("/")[0] for w in wrapped.weights] == ["mrcnn_mask_conv1", "mrcnn_mask_conv1"]


@pytest.mark.jax
def test_rpn_outputs_follow_the_anchor_order():
    """Per-level RPN outputs are concatenated P2..P6, positions row-major, ratios innermost: one row per anchor."""
    config = tiny_config()
    image = keras.Input((None, None, 3))
    rpn_maps, mrcnn_maps = build_backbone_and_fpn(image, config)
    rpn_model = build_config_rpn_model(config)
    logits, probs, bbox = rpn_graph(rpn_model, rpn_maps)
    model = keras.Model(image, [logits, probs, bbox, *rpn_maps])
    shape = (128, 192, 3)
    outputs = [keras.ops.convert_to_numpy(o) for o in model(np.ones((1, *shape), np.float32))]
    logits, probs, bbox, p2, *_ = outputs
    anchors = get_anchors(config, shape)
    assert logits.shape == probs.shape == (1, len(anchors), 2) and bbox.shape == (1, len(anchors), 4)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    assert len(mrcnn_maps) == 4 and p2.shape == (1, 32, 48, 32)
    # The rows of the first P2 position are the 3 ratios at anchor centre (0, 0); the first row of P3 follows P2's.
    level2 = keras.ops.convert_to_numpy(rpn_model(p2)[2])
    np.testing.assert_allclose(bbox[:, :level2.shape[1]], level2, atol=1e-6)
    assert level2.shape[1] == 32 * 48 * 3
