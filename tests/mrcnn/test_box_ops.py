"""The keras.ops box helpers agree with the numpy box math of fashion_seg.mrcnn.boxes."""

import numpy as np
import pytest
from keras import ops

from fashion_seg.mrcnn import boxes as np_boxes
from fashion_seg.mrcnn.box_ops import (apply_box_deltas, box_iou, box_refinement, clip_boxes, divide_exactly,
                                       image_shape_from_meta, norm_boxes, normalized_window_from_meta)
from fashion_seg.mrcnn.molding import compose_image_meta

pytestmark = pytest.mark.jax


def random_boxes(rng, count, scale=100.0):
    corners = rng.uniform(0, scale, (count, 2))
    return np.concatenate([corners, corners + rng.uniform(1, scale / 2, (count, 2))], axis=1).astype(np.float32)


def test_box_deltas_round_trip_and_match_numpy():
    rng = np.random.default_rng(0)
    boxes, targets = random_boxes(rng, 64), random_boxes(rng, 64)
    deltas = ops.convert_to_numpy(box_refinement(boxes, targets))
    np.testing.assert_allclose(deltas, np_boxes.box_refinement(boxes, targets), rtol=1e-5, atol=1e-6)
    refined = ops.convert_to_numpy(apply_box_deltas(boxes, deltas))
    np.testing.assert_allclose(refined, np_boxes.apply_box_deltas(boxes, deltas), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(refined, targets, atol=1e-3)


def test_apply_box_deltas_broadcasts_over_a_batch():
    boxes = np.array([[[0.0, 0.0, 10.0, 20.0]], [[10.0, 10.0, 20.0, 20.0]]], dtype=np.float32)  # [2, 1, 4]
    deltas = np.array([[[0.5, 0.5, 0.0, np.log(2.0)]], [[0.0, 0.0, np.log(0.5), 0.0]]], dtype=np.float32)
    refined = ops.convert_to_numpy(apply_box_deltas(boxes, deltas))
    # centre x 10 + 0.5 * 20 = 20, width 20 * 2 = 40; height 10 * 0.5 = 5 around centre 15
    np.testing.assert_allclose(refined, [[[5, 0, 15, 40]], [[12.5, 10, 17.5, 20]]], atol=1e-5)


def test_clip_boxes_collapses_outside_boxes_onto_the_window_edge():
    boxes = np.array([[-0.5, 0.2, 0.5, 1.5], [0.9, 0.9, 1.2, 1.3], [0.1, -0.4, 0.3, -0.1]], dtype=np.float32)
    window = np.array([0.0, 0.0, 1.0, 1.0], dtype=np.float32)
    clipped = ops.convert_to_numpy(clip_boxes(boxes, window))
    expected = np.array([[0, 0.2, 0.5, 1], [0.9, 0.9, 1, 1], [0.1, 0, 0.3, 0]], dtype=np.float32)
    np.testing.assert_array_equal(clipped, expected)
    per_image = np.array([[[0.2, 0.0, 0.8, 1.0]], [[0.0, 0.3, 1.0, 0.7]]], dtype=np.float32)  # [2, 1, 4]
    clipped = ops.convert_to_numpy(clip_boxes(np.stack([boxes, boxes]), per_image))
    assert clipped[0, 0].tolist() == pytest.approx([0.2, 0.2, 0.5, 1.0])
    assert clipped[1, 0].tolist() == pytest.approx([0.0, 0.3, 0.5, 0.7])


def test_box_iou_matches_numpy_including_empty_and_identical_boxes():
    rng = np.random.default_rng(1)
    boxes1 = np.concatenate([random_boxes(rng, 20), [[5, 5, 5, 9], [3, 3, 3, 3]]]).astype(np.float32)
    boxes2 = np.concatenate([random_boxes(rng, 30), boxes1[:3], [[3, 3, 3, 3]]]).astype(np.float32)
    iou = ops.convert_to_numpy(box_iou(boxes1, boxes2))
    np.testing.assert_allclose(iou, np_boxes.compute_overlaps(boxes1, boxes2), atol=1e-6)
    assert iou[:3, 30:33].diagonal().tolist() == [1.0, 1.0, 1.0]
    assert iou[-1, -1] == 0.0  # two empty boxes: IoU 0, not NaN
    batched = ops.convert_to_numpy(box_iou(np.stack([boxes1, boxes1]), np.stack([boxes2, boxes2])))
    assert batched.shape == (2, 22, 34)
    np.testing.assert_array_equal(batched[1], iou)


def test_norm_boxes_and_window_from_meta_follow_matterport():
    pixel = np.array([[45, 0, 211, 256], [0, 0, 256, 256]], dtype=np.float32)
    np.testing.assert_allclose(ops.convert_to_numpy(norm_boxes(pixel, (256, 256))),
                               np_boxes.norm_boxes(pixel, (256, 256)), atol=0)
    metas = np.stack([
        compose_image_meta(0, (535, 825, 3), (256, 256, 3), (45, 0, 211, 256), 0.31, np.zeros(47)),
        compose_image_meta(1, (1017, 738, 3), (256, 256, 3), (0, 35, 256, 221), 0.25, np.zeros(47)),
    ])
    assert ops.convert_to_numpy(image_shape_from_meta(metas)).tolist() == [[256, 256, 3], [256, 256, 3]]
    window = ops.convert_to_numpy(normalized_window_from_meta(metas))
    # float32 arithmetic, as matterport's graph does it (the numpy helper divides in float64: 1 ulp apart)
    expected = (metas[:, 7:11] - np.float32([0, 0, 1, 1])) / np.float32(255)
    np.testing.assert_array_equal(window, expected.astype(np.float32))
    np.testing.assert_allclose(window, np_boxes.norm_boxes(metas[:, 7:11], (256, 256)), atol=1e-7)
    assert window[0].tolist() == pytest.approx([45 / 255, 0, 210 / 255, 1])


def test_divide_exactly_rounds_like_numpy_under_jit(jit_compile):
    # XLA would turn `x / broadcast(255)` into `x * (1 / 255)`: 210 / 255 then comes out 1 ulp high.
    numerators = np.arange(256, dtype=np.float32).reshape(64, 4)
    denominators = np.float32([255, 255, 255, 255])
    quotients = ops.convert_to_numpy(jit_compile(divide_exactly)(numerators, denominators))
    np.testing.assert_array_equal(quotients, numerators / denominators)
    assert np.isnan(ops.convert_to_numpy(divide_exactly(np.float32([np.nan, 1.0]), np.float32(2.0)))[0])
