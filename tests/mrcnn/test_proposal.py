"""ProposalLayer: matterport's proposals from RPN outputs, checked by hand and against matterport's own ROIs."""

import keras
import numpy as np
import pytest
from keras import ops

from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.proposal import ProposalLayer, generate_proposals

pytestmark = pytest.mark.jax


def rpn_outputs(foreground, deltas):
    foreground = np.asarray(foreground, dtype=np.float32)
    return np.stack([1 - foreground, foreground], axis=-1), np.asarray(deltas, dtype=np.float32)


def test_proposals_by_hand():
    anchors = np.array([[[0.1, 0.1, 0.3, 0.3],  # refined, then clipped to the image
                         [0.0, 0.0, 0.1, 0.4],  # the refined anchor 0 exactly, with a lower score: suppressed
                         [0.5, 0.5, 0.7, 0.7],
                         [0.8, 0.8, 0.9, 0.9]]], dtype=np.float32)  # lowest score: cut by pre_nms_limit=3
    probs, deltas = rpn_outputs([[0.9, 0.8, 0.7, 0.6]], np.zeros((1, 4, 4)))
    # up by one box height (std 0.1), twice as wide (std 0.2): y in [-0.1, 0.1] -> clipped to [0, 0.1], x in [0, 0.4]
    deltas[0, 0] = [-10.0, 0.0, 0.0, np.log(2.0) / 0.2]
    proposals, anchor_indices, count = generate_proposals(probs, deltas, anchors, proposal_count=4, nms_threshold=0.7,
                                                          pre_nms_limit=3, bbox_std_dev=[0.1, 0.1, 0.2, 0.2])
    np.testing.assert_allclose(ops.convert_to_numpy(proposals)[0],
                               [[0.0, 0.0, 0.1, 0.4], [0.5, 0.5, 0.7, 0.7], [0, 0, 0, 0], [0, 0, 0, 0]], atol=1e-6)
    assert ops.convert_to_numpy(anchor_indices).tolist() == [[0, 2, -1, -1]]
    assert ops.convert_to_numpy(count).tolist() == [2]


def test_layer_builds_symbolically_serialises_and_computes_in_float32():
    layer = ProposalLayer(20, 0.7, pre_nms_limit=50, bbox_std_dev=Config.RPN_BBOX_STD_DEV, return_anchor_indices=True,
                          name="ROI")
    clone = ProposalLayer.from_config(layer.get_config())
    assert (clone.pre_nms_limit, clone.bbox_std_dev, clone.name) == (50, [0.1, 0.1, 0.2, 0.2], "ROI")
    inputs = [keras.Input((300, 2)), keras.Input((300, 4)), keras.Input((300, 4))]
    rois, anchor_indices = clone(inputs)
    assert rois.shape == (None, 20, 4) and anchor_indices.shape == (None, 20) and anchor_indices.dtype == "int32"

    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 1, (2, 300, 2))
    anchors = np.concatenate([centres - 0.05, centres + 0.05], axis=-1).astype(np.float32)
    probs, deltas = rpn_outputs(rng.uniform(size=(2, 300)), rng.normal(size=(2, 300, 4)))
    model = keras.Model(inputs, [rois, anchor_indices])
    rois, anchor_indices = map(ops.convert_to_numpy, model.predict_on_batch(
        [ops.cast(probs, "bfloat16"), ops.cast(deltas, "bfloat16"), anchors]))
    assert rois.dtype == np.float32 and rois.shape == (2, 20, 4)
    assert np.all((rois >= 0) & (rois <= 1))
    for image in range(2):  # drawn from the top 50 anchors, best first
        top = np.argsort(-ops.convert_to_numpy(ops.cast(ops.cast(probs, "bfloat16"), "float32"))[image, :, 1],
                         kind="stable")[:50]
        assert set(anchor_indices[image]) <= set(top)


def test_reference_proposals_are_matterports(reference_outputs, reference_config_class, jit_compile):
    """matterport's 1000 ROIs of both reference images, in one batch, compiled: the same anchors, the same boxes,
    and all rows in place except image 1's tied pair that TensorFlow's heap emitted higher index first."""
    config = reference_config_class()
    probs, deltas, anchors = (np.concatenate([ref[key] for ref in reference_outputs])
                              for key in ("rpn_class", "rpn_bbox", "anchors"))
    layer = ProposalLayer(config.POST_NMS_ROIS_INFERENCE, config.RPN_NMS_THRESHOLD, config,
                          return_anchor_indices=True)
    rois, anchor_indices = map(ops.convert_to_numpy, jit_compile(lambda *x: layer(list(x)))(probs, deltas, anchors))
    for image, ref in enumerate(reference_outputs):
        expected_anchors = ref["roi_anchor_ix"]
        assert set(anchor_indices[image]) == set(expected_anchors)
        moved = np.flatnonzero(anchor_indices[image] != expected_anchors)
        assert len(moved) <= 20
        row_of_anchor = {anchor: row for row, anchor in enumerate(anchor_indices[image])}
        matched = rois[image, [row_of_anchor[anchor] for anchor in expected_anchors]]
        np.testing.assert_allclose(matched, ref["ROI"][0], atol=1e-5)
    assert [len(np.flatnonzero(anchor_indices[i] != ref["roi_anchor_ix"])) for i, ref in
            enumerate(reference_outputs)] == [0, 2]
