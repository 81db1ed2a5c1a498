"""ROIAlign: crop_and_resize reproduces tf.image.crop_and_resize (values and border zeros), PyramidROIAlign picks
matterport's levels and crops each box from its level, on both backends and under jit."""

import keras
import numpy as np
import pytest
from keras import ops

from fashion_seg.mrcnn.molding import compose_image_meta
from fashion_seg.mrcnn.roi_align import PyramidROIAlign, crop_and_resize, roi_pyramid_levels

tf = pytest.importorskip("tensorflow")  # the reference the ops are held to, on either backend


def edge_boxes(rng, count):
    """Normalised boxes: inside, past the borders, flipped, degenerate, and many with y2 = 1 or x2 = 1 exactly (the
    float32 knife edge where TensorFlow zeroes the last sample row/column or not)."""
    y1, x1 = rng.uniform(-0.2, 0.95, count), rng.uniform(-0.2, 0.95, count)
    boxes = np.stack([y1, x1, y1 + rng.uniform(-0.1, 0.6, count), x1 + rng.uniform(0, 0.6, count)], axis=1)
    boxes[0::3, 2] = 1.0
    boxes[1::3, 3] = 1.0
    boxes[2::5, 0] = 0.0
    boxes[3::7, 0] = boxes[3::7, 2]  # zero height
    return boxes.astype(np.float32)


def zeroed_samples(crops):
    """[K, h, w] bool: samples that are 0 in every channel (only extrapolated samples are, for normal features)."""
    return np.all(crops == 0, axis=-1)


def image_gradient(function, image, *args):
    """d sum(function(image, *args)) / d image, with the active backend's autodiff (compiled on JAX). The other
    arguments are passed at run time: XLA would constant-fold arithmetic on closed-over constants with its own
    rounding."""
    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.jit(jax.grad(lambda x, *a: function(x, *a).sum()))(image, *args))
    variable = tf.constant(image)
    with tf.GradientTape() as tape:
        tape.watch(variable)
        total = tf.reduce_sum(function(variable, *args))
    return tape.gradient(total, variable).numpy()


@pytest.mark.jax
def test_crop_and_resize_equals_tensorflow_including_which_border_samples_are_zero(jit_compile):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(3, 37, 53, 4)).astype(np.float32)
    boxes = edge_boxes(rng, 1500)
    box_indices = rng.integers(0, 3, len(boxes)).astype(np.int32)
    crop_sizes = [(7, 7), (14, 14), (1, 1), (3, 1)]

    def crop_all(image, boxes, box_indices):
        return [crop_and_resize(image, boxes, box_indices, size) for size in crop_sizes]

    eager, compiled = crop_all(image, boxes, box_indices), jit_compile(crop_all)(image, boxes, box_indices)
    for crop_size, *results in zip(crop_sizes, eager, compiled):
        expected = tf.image.crop_and_resize(image, boxes, box_indices, crop_size).numpy()
        for crops in map(ops.convert_to_numpy, results):
            assert crops.shape == (1500, *crop_size, 4)
            np.testing.assert_allclose(crops, expected, atol=1e-5)
            np.testing.assert_array_equal(zeroed_samples(crops), zeroed_samples(expected))
        if crop_size == (7, 7):
            # the knife edge is really exercised: among boxes ending exactly at y2 = 1, TensorFlow zeroes the last
            # sample row of some and not of others
            last_row_zeroed = zeroed_samples(expected)[boxes[:, 2] == 1.0, -1, :].all(axis=-1)
            assert 0 < last_row_zeroed.sum() < len(last_row_zeroed)


@pytest.mark.jax
def test_gradients_reach_the_features_as_in_tensorflow_and_not_the_boxes():
    rng = np.random.default_rng(1)
    image = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
    boxes = edge_boxes(rng, 40)
    box_indices = rng.integers(0, 2, 40).astype(np.int32)
    weights = rng.normal(size=(40, 5, 4, 3)).astype(np.float32)
    ours = image_gradient(lambda x, b, n: crop_and_resize(x, b, n, (5, 4)) * weights, image, boxes, box_indices)
    variable = tf.constant(image)
    with tf.GradientTape() as tape:
        tape.watch(variable)
        total = tf.reduce_sum(tf.image.crop_and_resize(variable, boxes, box_indices, (5, 4)) * weights)
    np.testing.assert_allclose(ours, tape.gradient(total, variable).numpy(), atol=1e-5)
    assert np.abs(ours).sum() > 0

    if keras.backend.backend() == "jax":
        import jax

        box_gradient = jax.grad(lambda b: crop_and_resize(image, b, box_indices, (5, 4)).sum())(boxes)
        assert not np.any(np.asarray(box_gradient))
    else:
        box_variable = tf.constant(boxes)
        with tf.GradientTape() as tape:
            tape.watch(box_variable)
            total = tf.reduce_sum(crop_and_resize(image, box_variable, box_indices, (5, 4)))
        assert tape.gradient(total, box_variable) is None


def test_tensorflow_implementation_is_selectable_and_agrees():
    if keras.backend.backend() != "tensorflow":
        with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow"):
            crop_and_resize(np.zeros((1, 4, 4, 1)), np.zeros((1, 4)), np.zeros(1), (2, 2), implementation="tensorflow")
        return
    rng = np.random.default_rng(2)
    image = rng.normal(size=(2, 16, 16, 8)).astype(np.float32)
    boxes, box_indices = edge_boxes(rng, 200), rng.integers(0, 2, 200).astype(np.int32)
    fast = crop_and_resize(image, boxes, box_indices, (7, 7), implementation="tensorflow")
    reference = crop_and_resize(image, boxes, box_indices, (7, 7), implementation="keras")
    np.testing.assert_array_equal(ops.convert_to_numpy(fast), ops.convert_to_numpy(reference))
    with pytest.raises(ValueError, match="implementation="):
        crop_and_resize(image, boxes, box_indices, (7, 7), implementation="cuda")


def pyramid(rng, image_size=128, channels=3, batch=2):
    return [rng.normal(size=(batch, image_size // stride, image_size // stride, channels)).astype(np.float32)
            for stride in (4, 8, 16, 32)]


def metas(image_size, batch=2):
    return np.stack([compose_image_meta(i, (300, 200, 3), (image_size, image_size, 3), (0, 20, image_size, 108),
                                        0.4, np.zeros(5)) for i in range(batch)])


@pytest.mark.jax
def test_levels_follow_matterports_rule():
    # 224 px boxes go to P4 in a 1024 image; each halving of the side is one level down, clamped to P2..P5
    sides = np.array([28, 56, 112, 224, 448, 896, 1023, 0]) / 1023
    boxes = np.stack([np.zeros_like(sides), np.zeros_like(sides), sides, sides], axis=-1)[None].astype(np.float32)
    levels = ops.convert_to_numpy(roi_pyramid_levels(boxes, metas(1024, batch=1)))
    assert levels.tolist() == [[2, 2, 3, 4, 5, 5, 5, 2]]  # a zero box (padding) goes to P2


@pytest.mark.jax
def test_pyramid_roi_align_crops_each_box_from_its_level_in_input_order(jit_compile):
    rng = np.random.default_rng(3)
    maps = pyramid(rng, image_size=512, channels=2)
    boxes = edge_boxes(rng, 2 * 60).reshape(2, 60, 4)
    boxes[:, :12] = [0.0, 0.0, 1.0, 1.0]  # the whole image: P5
    boxes[:, 12:24] = [0.25, 0.25, 0.75, 0.75]  # a 256 px box: P4
    image_meta = metas(512)
    layer = PyramidROIAlign((7, 5))
    crops = ops.convert_to_numpy(jit_compile(lambda *inputs: layer(list(inputs)))(boxes, image_meta, *maps))
    assert crops.shape == (2, 60, 7, 5, 2)
    levels = ops.convert_to_numpy(roi_pyramid_levels(boxes, image_meta))
    assert set(np.unique(levels)) == {2, 3, 4, 5}
    for image in range(2):
        for level, feature_map in zip((2, 3, 4, 5), maps):
            rows = np.flatnonzero(levels[image] == level)
            expected = tf.image.crop_and_resize(feature_map, boxes[image, rows], np.full(len(rows), image), (7, 5))
            np.testing.assert_allclose(crops[image, rows], expected.numpy(), atol=1e-5)
            np.testing.assert_array_equal(zeroed_samples(crops[image, rows]), zeroed_samples(expected.numpy()))


@pytest.mark.jax
def test_pyramid_roi_align_is_a_serialisable_layer():
    layer = PyramidROIAlign([7, 7], name="roi_align_classifier")
    clone = PyramidROIAlign.from_config(layer.get_config())
    assert clone.pool_shape == (7, 7) and clone.name == "roi_align_classifier"
    inputs = [keras.Input((1000, 4)), keras.Input((59,))] + [keras.Input((None, None, 256)) for _ in range(4)]
    assert clone(inputs).shape == (None, 1000, 7, 7, 256)


@pytest.mark.jax
def test_reference_rois_levels_and_border_zeros(reference_outputs, jit_compile):
    """On matterport's own FPN maps and proposals: the level counts of the README and the two classifier crops
    (rows 840 and 851 of image 0) that TensorFlow's kernel zeroed at the bottom border, and no others."""
    boxes = np.concatenate([ref["ROI"] for ref in reference_outputs])
    image_meta = np.concatenate([ref["image_meta"] for ref in reference_outputs]).astype(np.float32)
    levels = ops.convert_to_numpy(roi_pyramid_levels(boxes, image_meta))
    assert [np.bincount(row, minlength=6)[2:].tolist() for row in levels] == [[969, 20, 11, 0], [963, 24, 13, 0]]

    maps = [np.concatenate([ref[f"fpn_p{level}"] for ref in reference_outputs]) for level in (2, 3, 4, 5)]
    layer = PyramidROIAlign((7, 7))
    crops = ops.convert_to_numpy(jit_compile(lambda *inputs: layer(list(inputs)))(boxes, image_meta, *maps))
    zeroed = zeroed_samples(crops)  # [2, 1000, 7, 7]
    edge_rows = [np.flatnonzero(zeroed[i].any(axis=(1, 2))).tolist() for i in range(2)]
    assert edge_rows == [[840, 851], []]
    for image in range(2):
        for level, feature_map in zip((2, 3, 4), maps):
            rows = np.flatnonzero(levels[image] == level)
            expected = tf.image.crop_and_resize(feature_map, boxes[image, rows], np.full(len(rows), image), (7, 7))
            np.testing.assert_allclose(crops[image, rows], expected.numpy(), atol=1e-5)
