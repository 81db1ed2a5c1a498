"""DetectionTargetLayer against a per-image numpy transcription of matterport's rules (with our documented fixes).

Candidates are taken in the order of ``random_keys``; with ``arange`` keys that is proposal order, which the numpy
reference follows, so the two must agree exactly: rows, classes, deltas and mask targets.
"""

import keras
import numpy as np
import pytest

from fashion_seg.mrcnn.detection_targets import DetectionTargetLayer, detection_targets, positive_capacity

pytestmark = pytest.mark.jax

STD = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
MASK_SHAPE = (6, 6)


# ------------------------------------------------------------------------------------------------ numpy reference
def _iou(a, b):
    a, b = a[:, None].astype(np.float32), b[None].astype(np.float32)
    h = np.maximum(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0)
    w = np.maximum(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0)
    inter = h * w
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    union = area_a + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0).astype(np.float32)


def _crop_and_resize(image, box, size):
    """tf.image.crop_and_resize of one ``[h, w]`` image and one normalised box (bilinear, 0 outside)."""
    h, w = image.shape
    out = np.zeros(size, np.float32)
    ys = box[0] * (h - 1) + np.arange(size[0]) * (box[2] - box[0]) * (h - 1) / (size[0] - 1)
    xs = box[1] * (w - 1) + np.arange(size[1]) * (box[3] - box[1]) * (w - 1) / (size[1] - 1)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            if 0 <= y <= h - 1 and 0 <= x <= w - 1:
                y0, x0, y1, x1 = int(np.floor(y)), int(np.floor(x)), int(np.ceil(y)), int(np.ceil(x))
                top = image[y0, x0] + (image[y0, x1] - image[y0, x0]) * (x - x0)
                bottom = image[y1, x0] + (image[y1, x1] - image[y1, x0]) * (x - x0)
                out[i, j] = top + (bottom - top) * (y - y0)
    return out


def _refine(box, gt):
    h, w = box[2] - box[0], box[3] - box[1]
    gh, gw = gt[2] - gt[0], gt[3] - gt[1]
    return np.array([(gt[0] + 0.5 * gh - box[0] - 0.5 * h) / h, (gt[1] + 0.5 * gw - box[1] - 0.5 * w) / w,
                     np.log(gh / h), np.log(gw / w)], np.float32)


def reference_targets(proposals, class_ids, boxes, masks, rois_per_image, ratio, mini):
    """One image, matterport's detection_targets_graph with candidates in index order and our no-positive fix."""
    real = np.flatnonzero(np.abs(proposals).sum(1) > 0)
    gt = np.flatnonzero(np.abs(boxes).sum(1) > 0)
    instances = gt[class_ids[gt] > 0]
    crowds = gt[class_ids[gt] < 0]
    overlaps = _iou(proposals[real], boxes[instances]) if len(instances) else np.zeros((len(real), 0), np.float32)
    best = overlaps.max(1) if len(instances) else np.full(len(real), -1.0)
    near_crowd = _iou(proposals[real], boxes[crowds]).max(1) >= 0.001 if len(crowds) else np.zeros(len(real), bool)
    positives = real[best >= 0.5][:int(rois_per_image * ratio)]
    count = len(positives)
    negatives_wanted = int(count * np.float32(1.0 / ratio)) - count if count else rois_per_image
    negatives = real[(best < 0.5) & ~near_crowd][:negatives_wanted]
    rows = np.zeros((rois_per_image, 4), np.float32)
    ids = np.zeros(rois_per_image, np.int32)
    deltas = np.zeros((rois_per_image, 4), np.float32)
    target_masks = np.zeros((int(rois_per_image * ratio),) + MASK_SHAPE, np.float32)
    for slot, index in enumerate(positives):
        matched = instances[np.argmax(overlaps[np.searchsorted(real, index)])]
        rows[slot] = proposals[index]
        ids[slot] = class_ids[matched]
        deltas[slot] = _refine(proposals[index], boxes[matched]) / STD
        box = proposals[index]
        if mini:
            g = boxes[matched]
            box = np.array([(box[0] - g[0]) / (g[2] - g[0]), (box[1] - g[1]) / (g[3] - g[1]),
                            (box[2] - g[0]) / (g[2] - g[0]), (box[3] - g[1]) / (g[3] - g[1])], np.float32)
        target_masks[slot] = np.round(_crop_and_resize(masks[..., matched].astype(np.float32), box, MASK_SHAPE))
    rows[count:count + len(negatives)] = proposals[negatives]
    valid = np.zeros(rois_per_image, np.float32)
    valid[:count + len(negatives)] = 1
    return rows, ids, deltas, target_masks, valid


# ------------------------------------------------------------------------------------------------ fixtures
def _jitter(box, rng, amount):
    return np.clip(box + rng.uniform(-amount, amount, 4), 0, 1).astype(np.float32)


def make_batch(mini=True, seed=0):
    """Two images: image 0 has three instances (one crowd), many proposals on them (more positives than fit) and
    background proposals; image 1 has one instance that no proposal hits (a no-positive image) and zero padding."""
    rng = np.random.default_rng(seed)
    num_proposals, num_gt, rois = 48, 5, 20
    proposals = np.zeros((2, num_proposals, 4), np.float32)
    class_ids = np.zeros((2, num_gt), np.int32)
    boxes = np.zeros((2, num_gt, 4), np.float32)
    boxes[0, :3] = [[0.1, 0.1, 0.45, 0.5], [0.5, 0.55, 0.9, 0.95], [0.6, 0.05, 0.95, 0.4]]
    class_ids[0, :3] = [1, 2, -1]  # the third is a crowd
    boxes[1, 0] = [0.7, 0.7, 0.9, 0.9]
    class_ids[1, 0] = 2
    for n in range(num_proposals):
        if n % 3 == 0:
            proposals[0, n] = _jitter(boxes[0, n % 2 * 1], rng, 0.04)
        elif n % 3 == 1:
            proposals[0, n] = _jitter(boxes[0, 2], rng, 0.05)  # on the crowd: neither positive nor negative
        else:
            y, x = rng.uniform(0, 0.4, 2)
            proposals[0, n] = [y, x + 0.5, y + 0.1, x + 0.6]
    proposals[1, :30] = [[y, x, y + 0.2, x + 0.2] for y, x in rng.uniform(0, 0.3, (30, 2))]
    mini_shape = (14, 14) if mini else (32, 32)
    masks = np.zeros((2,) + mini_shape + (num_gt,), bool)
    for b in range(2):
        for g in range(num_gt):
            if mini:
                masks[b, 2:12, 3:11, g] = True
                masks[b, 4 + g:6 + g, :, g] = False
            else:
                y1, x1, y2, x2 = (boxes[b, g] * 31).round().astype(int)
                masks[b, y1:y2 + 1, x1:x2 + 1, g] = True
    return proposals, class_ids, boxes, masks, rois


def _run(proposals, class_ids, boxes, masks, rois, keys, mini=True, ratio=0.33):
    outputs = detection_targets(proposals, class_ids, boxes, masks, keys, train_rois_per_image=rois,
                                positive_ratio=ratio, bbox_std_dev=STD, mask_shape=MASK_SHAPE, use_mini_mask=mini)
    return [keras.ops.convert_to_numpy(x) for x in outputs]


@pytest.mark.parametrize("mini", [True, False])
def test_targets_equal_matterports_rules_in_proposal_order(mini):
    proposals, class_ids, boxes, masks, rois = make_batch(mini)
    keys = np.tile(np.arange(proposals.shape[1], dtype=np.float32) / 100, (2, 1))
    got = _run(proposals, class_ids, boxes, masks, rois, keys, mini)
    for b in range(2):
        expected = reference_targets(proposals[b], class_ids[b], boxes[b], masks[b], rois, 0.33, mini)
        np.testing.assert_allclose(got[0][b], expected[0], atol=1e-6)
        np.testing.assert_array_equal(got[1][b], expected[1])
        np.testing.assert_allclose(got[2][b], expected[2], atol=1e-4)
        np.testing.assert_array_equal(got[3][b], expected[3])
        np.testing.assert_array_equal(got[4][b], expected[4])


def test_positive_cap_negative_ratio_and_crowds():
    proposals, class_ids, boxes, masks, rois = make_batch()
    keys = np.tile(np.arange(proposals.shape[1], dtype=np.float32) / 100, (2, 1))
    roi_rows, ids, _, target_masks, valid = _run(proposals, class_ids, boxes, masks, rois, keys)
    capacity = positive_capacity(rois, 0.33)
    assert capacity == 6 and target_masks.shape == (2, capacity) + MASK_SHAPE
    # image 0: 16 proposals are positives, capped at 6; int(6 / 0.33) - 6 = 12 negatives; the rest is padding
    assert (ids[0] > 0).sum() == 6 and set(ids[0][:6]) <= {1, 2}
    assert valid[0].sum() == 18 and not roi_rows[0, 18:].any()
    crowd_box = boxes[0, 2]
    assert (_iou(roi_rows[0, 6:18], crowd_box[None]) < 0.001).all(), "a proposal on a crowd became a negative"
    assert target_masks[0].any(axis=(1, 2)).all(), "every positive has a mask target"


def test_image_without_positives_gets_a_full_budget_of_negatives():
    proposals, class_ids, boxes, masks, rois = make_batch()
    keys = np.tile(np.arange(proposals.shape[1], dtype=np.float32) / 100, (2, 1))
    roi_rows, ids, deltas, target_masks, valid = _run(proposals, class_ids, boxes, masks, rois, keys)
    # image 1: 30 real proposals, none near its GT: matterport gave it 0 ROIs, we give it TRAIN_ROIS_PER_IMAGE
    assert valid[1].sum() == rois and (ids[1] == 0).all()
    np.testing.assert_array_equal(roi_rows[1], proposals[1, :rois])
    assert not deltas[1].any() and not target_masks[1].any()


def test_image_without_instances_and_without_proposals():
    proposals, class_ids, boxes, masks, rois = make_batch()
    class_ids[1] = 0
    boxes[1] = 0
    proposals[0] = 0
    keys = np.tile(np.arange(proposals.shape[1], dtype=np.float32) / 100, (2, 1))
    roi_rows, ids, deltas, target_masks, valid = _run(proposals, class_ids, boxes, masks, rois, keys)
    assert valid[0].sum() == 0 and not roi_rows[0].any()  # nothing to sample from: all padding
    assert valid[1].sum() == rois and (ids[1] == 0).all()  # negatives only
    assert np.isfinite(deltas).all() and np.isfinite(target_masks).all()


def test_layer_samples_at_random_with_a_seed_and_keeps_the_counts():
    proposals, class_ids, boxes, masks, rois = make_batch()
    norm_layer = dict(train_rois_per_image=rois, positive_ratio=0.33, bbox_std_dev=STD, mask_shape=MASK_SHAPE,
                      use_mini_mask=True)
    first = [keras.ops.convert_to_numpy(x)
             for x in DetectionTargetLayer(seed=3, **norm_layer)([proposals, class_ids, boxes, masks])]
    again = [keras.ops.convert_to_numpy(x)
             for x in DetectionTargetLayer(seed=3, **norm_layer)([proposals, class_ids, boxes, masks])]
    other = [keras.ops.convert_to_numpy(x)
             for x in DetectionTargetLayer(seed=4, **norm_layer)([proposals, class_ids, boxes, masks])]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    keys = np.tile(np.arange(proposals.shape[1], dtype=np.float32) / 100, (2, 1))
    ordered = _run(proposals, class_ids, boxes, masks, rois, keys)
    np.testing.assert_array_equal(first[4], ordered[4])  # the same numbers of positives and negatives
    np.testing.assert_array_equal(first[1] > 0, ordered[1] > 0)
    proposal_rows = {tuple(row) for row in proposals[0]}
    assert {tuple(row) for row in first[0][0][first[4][0] > 0]} <= proposal_rows
