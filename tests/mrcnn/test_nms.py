"""Blocked batched NMS against the plain greedy numpy reference, on both backends, compiled with XLA."""

import numpy as np
import pytest
from keras import ops

from fashion_seg.mrcnn.boxes import box_areas, compute_overlaps, non_max_suppression
from fashion_seg.mrcnn.nms import non_max_suppression_padded

def integer_boxes(rng, count, extent=20):
    """Boxes on an integer grid: IoUs are small-denominator fractions, so float32 and float64 agree on `> threshold`
    (ties at exactly the threshold included), and duplicates and nested boxes are frequent."""
    corners = rng.integers(0, extent, (count, 2))
    sizes = rng.integers(1, extent // 2, (count, 2))
    return np.concatenate([corners, corners + sizes], axis=1).astype(np.float32)


def hard_batch(rng, count):
    """Five images of `count` boxes, each a different trap for a blocked NMS."""
    images = []
    # 0: random boxes, scores on 5 levels (many ties: lower index must win)
    images.append((integer_boxes(rng, count), rng.integers(0, 5, count) / 5))
    # 1: every box a duplicate of one of four boxes, distinct scores
    four = integer_boxes(rng, 4)
    images.append((four[rng.integers(0, 4, count)], rng.permutation(count) / count))
    # 2: all boxes identical and tied: only box 0 survives
    images.append((np.repeat(integer_boxes(rng, 1), count, axis=0), np.full(count, 0.5)))
    # 3: zero-area boxes mixed in: they overlap nothing, so they are all kept
    boxes = integer_boxes(rng, count)
    boxes[::3, 2] = boxes[::3, 0]
    images.append((boxes, rng.uniform(size=count)))
    # 4: chains of shifted boxes, where each box's fate depends on the one before it
    start = np.arange(count, dtype=np.float32)[:, None]
    images.append((np.concatenate([start, np.zeros_like(start), start + 3, np.full_like(start, 3)], axis=1),
                   1.0 - np.arange(count) / count))
    boxes = np.stack([b for b, _ in images]).astype(np.float32)
    scores = np.stack([s for _, s in images]).astype(np.float32)
    return boxes, scores


def assert_matches_reference(indices, valid, boxes, scores, threshold, max_output, score_threshold=None):
    indices, valid = ops.convert_to_numpy(indices), ops.convert_to_numpy(valid)
    assert indices.shape == (len(boxes), max_output) and indices.dtype == np.int32
    for image, (image_boxes, image_scores) in enumerate(zip(boxes, scores)):
        candidates = np.arange(len(image_boxes))
        if score_threshold is not None:
            candidates = candidates[image_scores > score_threshold]
        expected = candidates[non_max_suppression(image_boxes[candidates], image_scores[candidates], threshold,
                                                  max_output)]
        assert valid[image] == len(expected), f"image {image}"
        np.testing.assert_array_equal(indices[image, :valid[image]], expected, err_msg=f"image {image}")
        assert np.all(indices[image, valid[image]:] == 0), "padding must be index 0"


@pytest.mark.jax
@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_equals_greedy_reference_on_hard_cases_under_jit(jit_compile, threshold):
    boxes, scores = hard_batch(np.random.default_rng(0), 200)
    # tiles of 32: suppression crosses tile borders and the in-tile fixed point needs several rounds
    nms = jit_compile(lambda b, s: non_max_suppression_padded(b, s, 60, threshold, tile_size=32))
    indices, valid = nms(boxes, scores)
    assert_matches_reference(indices, valid, boxes, scores, threshold, 60)
    assert ops.convert_to_numpy(valid)[2] == 1  # identical tied boxes: only the first survives
    assert ops.convert_to_numpy(indices)[2, 0] == 0


@pytest.mark.jax
def test_result_does_not_depend_on_tile_size():
    boxes, scores = hard_batch(np.random.default_rng(1), 100)
    results = [tuple(map(ops.convert_to_numpy, non_max_suppression_padded(boxes, scores, 100, 0.5, tile_size=tile)))
               for tile in (7, 64, 100, 512)]
    for indices, valid in results[1:]:
        np.testing.assert_array_equal(indices, results[0][0])
        np.testing.assert_array_equal(valid, results[0][1])
    assert_matches_reference(*results[0], boxes, scores, 0.5, 100)


@pytest.mark.jax
def test_fewer_survivors_than_max_output_are_padded_with_zero():
    boxes = np.array([[[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]], dtype=np.float32)
    scores = np.array([[0.6, 0.9, 0.1]], dtype=np.float32)
    indices, valid = non_max_suppression_padded(boxes, scores, max_output_size=5, iou_threshold=0.5)
    assert ops.convert_to_numpy(valid).tolist() == [2]
    assert ops.convert_to_numpy(indices).tolist() == [[1, 2, 0, 0, 0]]


@pytest.mark.jax
def test_score_threshold_drops_low_scores_like_tensorflow():
    boxes, scores = hard_batch(np.random.default_rng(2), 64)
    indices, valid = non_max_suppression_padded(boxes, scores, 20, 0.5, score_threshold=0.4, tile_size=16)
    assert_matches_reference(indices, valid, boxes, scores, 0.5, 20, score_threshold=0.4)
    everything_excluded = np.full_like(scores, -np.inf)
    _, valid = non_max_suppression_padded(boxes, everything_excluded, 20, 0.5, score_threshold=-np.inf)
    assert ops.convert_to_numpy(valid).tolist() == [0] * len(boxes)


def per_class_reference(boxes, scores, class_ids, threshold, empty_box_suppresses_class):
    """Greedy NMS class by class, optionally ending a class at its first kept empty box; merged by descending score
    (ties lower index first)."""
    kept = []
    for class_id in np.unique(class_ids):
        members = np.flatnonzero(class_ids == class_id)
        if not empty_box_suppresses_class:
            kept.extend(members[non_max_suppression(boxes[members], scores[members], threshold)])
            continue
        class_kept = []
        for index in members[np.argsort(-scores[members].astype(np.float64), kind="stable")]:
            if class_kept and box_areas(boxes[class_kept[-1:]])[0] == 0:
                break
            if not class_kept or compute_overlaps(boxes[[index]], boxes[class_kept]).max() <= threshold:
                class_kept.append(index)
        kept.extend(class_kept)
    kept = np.array(kept)
    return kept[np.lexsort((kept, -scores[kept].astype(np.float64)))]


@pytest.mark.jax
@pytest.mark.parametrize("empty_box_suppresses_class", [False, True])
def test_class_aware_nms_equals_per_class_nms_merged_by_score(jit_compile, empty_box_suppresses_class):
    rng = np.random.default_rng(3)
    boxes, scores = hard_batch(rng, 120)
    class_ids = rng.integers(1, 4, scores.shape).astype(np.int32)
    max_output = 50
    nms = jit_compile(lambda b, s, c: non_max_suppression_padded(
        b, s, max_output, 0.5, class_ids=c, empty_box_suppresses_class=empty_box_suppresses_class, tile_size=32))
    indices, valid = map(ops.convert_to_numpy, nms(boxes, scores, class_ids))
    for image in range(len(boxes)):
        expected = per_class_reference(boxes[image], scores[image], class_ids[image], 0.5,
                                       empty_box_suppresses_class)[:max_output]
        assert valid[image] == len(expected)
        np.testing.assert_array_equal(indices[image, :valid[image]], expected, err_msg=f"image {image}")


@pytest.mark.jax
def test_empty_box_quirk_stops_a_class_at_its_first_kept_empty_box():
    """TensorFlow 1.15's kernel (matterport's) re-selects a kept empty box until its output is full."""
    boxes = np.array([[
        [0, 0, 10, 10],  # class 1, kept
        [5, 5, 5, 9],  # class 1, empty: kept, and the end of class 1
        [20, 20, 30, 30],  # class 1, overlaps nothing, but comes after the empty box: dropped
        [40, 40, 50, 50],  # class 2, kept
        [60, 60, 60, 60],  # class 2, empty: kept, the end of class 2
        [70, 70, 80, 80],  # class 3: not affected by other classes' empty boxes
    ]], dtype=np.float32)
    scores = np.array([[0.9, 0.8, 0.7, 0.95, 0.5, 0.1]], dtype=np.float32)
    class_ids = np.array([[1, 1, 1, 2, 2, 3]], dtype=np.int32)
    indices, valid = non_max_suppression_padded(boxes, scores, 6, 0.5, class_ids=class_ids,
                                                empty_box_suppresses_class=True)
    assert ops.convert_to_numpy(indices)[0, :ops.convert_to_numpy(valid)[0]].tolist() == [3, 0, 1, 4, 5]
    indices, valid = non_max_suppression_padded(boxes, scores, 6, 0.5, class_ids=class_ids)
    assert ops.convert_to_numpy(indices)[0, :ops.convert_to_numpy(valid)[0]].tolist() == [3, 0, 1, 2, 4, 5]


def test_agrees_with_tensorflow_on_float_boxes():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(4)
    centres = rng.uniform(0, 1, (3, 1500, 2))
    sizes = np.exp(rng.uniform(np.log(0.02), np.log(0.4), (3, 1500, 2)))
    boxes = np.clip(np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=-1), 0, 1).astype(np.float32)
    scores = rng.uniform(size=(3, 1500)).astype(np.float32)
    indices, valid = map(ops.convert_to_numpy, non_max_suppression_padded(boxes, scores, 300, 0.7))
    for image in range(3):
        expected = tf.image.non_max_suppression(boxes[image], scores[image], 300, 0.7).numpy()
        np.testing.assert_array_equal(indices[image, :valid[image]], expected)
