"""Raw detections, test-time augmentation and the merging of sources (augmentations x checkpoints)."""

import cv2
import numpy as np
import pytest

from fashion_seg.prediction.detections import DetectionStore, Detections, concatenate
from fashion_seg.errors import ConfigError, DataError
from fashion_seg.prediction.inference import Predictor
from fashion_seg.mrcnn.molding import detections_to_pixel_boxes
from fashion_seg.prediction.postprocess import class_aware_nms
from fashion_seg.prediction.tta import Augmentation, _resample_mask, merge_detections, parse_tta

from .conftest import PALETTE, ColourBlobModel, blob_config, draw_blob_image


def random_detections(rng, count, image_shape=(200, 300), classes=4):
    height, width = image_shape
    y1, x1 = rng.uniform(0, height * 0.6, count), rng.uniform(0, width * 0.6, count)
    boxes = np.column_stack([y1, x1, y1 + rng.uniform(5, height * 0.4, count), x1 + rng.uniform(5, width * 0.4, count)])
    return Detections(boxes, rng.integers(1, classes, count).astype(np.int32),
                      rng.uniform(0.05, 1, count).astype(np.float32),
                      rng.uniform(0, 1, (count, 28, 28)).astype(np.float32), image_shape)


def test_parse_tta():
    assert parse_tta(None) == [Augmentation()]
    assert parse_tta("flip") == [Augmentation(False), Augmentation(True)]
    assert parse_tta("flip,scales=0.8,1,1.2") == [
        Augmentation(False, 1.0), Augmentation(True, 1.0), Augmentation(False, 0.8), Augmentation(True, 0.8),
        Augmentation(False, 1.2), Augmentation(True, 1.2)]
    assert [a.name for a in parse_tta("scales=1.5")] == ["orig@1.5"]
    with pytest.raises(ConfigError, match="unknown part 'rotate'"):
        parse_tta("rotate")
    with pytest.raises(ConfigError, match="scales must be numbers"):
        parse_tta("scales=big")


def test_scaled_molding_sizes():
    config = blob_config(IMAGE_MIN_DIM=800, IMAGE_MAX_DIM=1024)
    scaled = Augmentation(scale=1.25).config(config)
    assert (scaled.IMAGE_MAX_DIM, scaled.IMAGE_MIN_DIM) == (1280, 1000)
    assert Augmentation(scale=0.8).config(config).IMAGE_MAX_DIM == 832  # 819.2 -> the nearest multiple of 64
    assert config.IMAGE_MAX_DIM == 1024 and Augmentation().config(config) is config
    with pytest.raises(ConfigError, match="scale TTA needs"):
        Augmentation(scale=2).config(blob_config(IMAGE_RESIZE_MODE="none"))
    with pytest.raises(ConfigError, match="'crop' is for training"):
        Augmentation().config(blob_config(IMAGE_RESIZE_MODE="crop"))


def test_network_rows_become_boxes_that_round_to_matterports():
    rng = np.random.default_rng(0)
    rows = np.zeros((10, 6), np.float32)
    rows[:7, :2] = rng.uniform(0.2, 0.5, (7, 2))
    rows[:7, 2:4] = rows[:7, :2] + rng.uniform(0.01, 0.3, (7, 2))
    rows[:7, 4] = rng.integers(1, 5, 7)
    rows[:7, 5] = rng.uniform(0.1, 1, 7)
    masks = rng.uniform(0, 1, (10, 28, 28)).astype(np.float32)
    window, molded, original = (64, 0, 192, 256), (256, 256), (300, 600)
    found = Detections.from_network(rows, masks, molded, window, original)
    kept, boxes, class_ids, scores = detections_to_pixel_boxes(rows, original, molded, window)
    np.testing.assert_array_equal(np.around(found.boxes).astype(np.int32), boxes)
    np.testing.assert_array_equal(found.class_ids, class_ids)
    np.testing.assert_array_equal(found.masks, masks[kept])
    assert found.image_shape == original and len(found) == 7


def test_flip_is_its_own_inverse_and_mirrors_boxes():
    found = random_detections(np.random.default_rng(1), 5)
    mirrored = found.flip_horizontal()
    np.testing.assert_array_equal(mirrored.boxes[:, [0, 2]], found.boxes[:, [0, 2]])
    np.testing.assert_allclose(mirrored.boxes[:, [1, 3]], 300 - found.boxes[:, [3, 1]])
    np.testing.assert_array_equal(mirrored.masks, found.masks[:, :, ::-1])
    back = mirrored.flip_horizontal()
    np.testing.assert_allclose(back.boxes, found.boxes)
    np.testing.assert_array_equal(back.masks, found.masks)


def _detect(predictor, image):
    from fashion_seg.prediction.inference import LoadedImage

    batch = predictor.mold([LoadedImage("x.png", image, image.shape[:2])])
    return predictor.detect(batch)[0]


@pytest.mark.parametrize("shape", [(128, 128), (96, 120)])
def test_a_flipped_images_detections_unflip_onto_the_original(shape):
    image, _ = draw_blob_image(np.random.default_rng(5), *shape)
    model = ColourBlobModel(blob_config())
    plain = _detect(Predictor([model]), image)
    unflipped = _detect(Predictor([model], [Augmentation(flip=True)]), image)
    assert len(plain) == len(unflipped) >= 3
    np.testing.assert_array_equal(plain.class_ids, unflipped.class_ids)
    if shape == (128, 128):  # molded as it is: mirroring commutes with molding, so the un-flip is exact
        np.testing.assert_allclose(unflipped.boxes, plain.boxes, atol=1e-4)
        np.testing.assert_allclose(unflipped.masks, plain.masks, atol=1e-5)
    else:  # resized and padded by an odd amount: the blobs' edges move by up to a pixel
        np.testing.assert_allclose(unflipped.boxes, plain.boxes, atol=1.5)


def test_scaled_inputs_give_boxes_in_original_pixels():
    image, instances = draw_blob_image(np.random.default_rng(6), 90, 120)
    model = ColourBlobModel(blob_config())
    for scale in (0.5, 1.0, 2.0):
        found = _detect(Predictor([model], [Augmentation(scale=scale)]), image)
        blobs = found.select(found.scores > 0.5)
        truth = sorted(cv2.boundingRect(mask.astype(np.uint8)) for mask, _ in instances)
        got = sorted((round(x1), round(y1), round(x2 - x1), round(y2 - y1)) for y1, x1, y2, x2 in blobs.boxes)
        assert len(got) == len(truth)
        np.testing.assert_allclose(got, truth, atol=2.5 / min(scale, 1))


def test_merging_a_source_with_an_identical_copy_gives_it_back_exactly():
    rng = np.random.default_rng(2)
    plain, flipped = random_detections(rng, 30), random_detections(rng, 25)
    single = merge_detections([plain, flipped])
    double = merge_detections([plain, flipped, plain, flipped])
    np.testing.assert_array_equal(double.boxes, single.boxes)
    np.testing.assert_array_equal(double.class_ids, single.class_ids)
    np.testing.assert_array_equal(double.scores, single.scores)
    np.testing.assert_array_equal(double.masks, single.masks)


def test_a_single_source_merges_to_class_aware_nms():
    found = random_detections(np.random.default_rng(3), 40)
    merged = merge_detections([found], iou=0.4)
    kept = class_aware_nms(found.boxes, found.scores, found.class_ids, 0.4)
    np.testing.assert_array_equal(merged.boxes, found.boxes[kept])
    np.testing.assert_array_equal(merged.scores, found.scores[kept])
    np.testing.assert_array_equal(merged.masks, found.masks[kept])


def test_merged_scores_are_means_over_sources_and_masks_are_averaged_in_the_merged_box():
    mask_a = np.zeros((28, 28), np.float32)
    mask_a[:, :14] = 1.0
    a = Detections(np.array([[0.0, 0.0, 28.0, 28.0]]), np.array([1], np.int32), np.array([0.9], np.float32),
                   mask_a[None], (100, 100))
    # source b saw the same object 2 px lower (IoU 0.87) with a full mask, and something else nobody else saw
    b = Detections(np.array([[2.0, 0.0, 30.0, 28.0], [60.0, 60.0, 90.0, 90.0]]), np.array([1, 3], np.int32),
                   np.array([0.7, 0.8], np.float32), np.ones((2, 28, 28), np.float32), (100, 100))
    merged = merge_detections([a, b], iou=0.5)
    np.testing.assert_allclose(merged.scores, [0.8, 0.4])  # (0.9 + 0.7) / 2, and (0 + 0.8) / 2
    np.testing.assert_array_equal(merged.boxes[0], a.boxes[0])  # the best detection's box
    # b's mask seen in a's box: ones, except the top two rows, whose centres lie above b's box
    b_in_a = np.ones((28, 28))
    b_in_a[:2] = 0.0
    np.testing.assert_allclose(merged.masks[0], (mask_a + b_in_a) / 2, atol=1e-6)
    np.testing.assert_array_equal(merged.masks[1], np.ones((28, 28)))


def test_resampling_a_mask_into_its_own_box_is_exact_and_shifts_follow_the_box():
    mask = np.random.default_rng(4).uniform(0, 1, (28, 28)).astype(np.float32)
    box = np.array([13.3, 7.1, 140.9, 99.7])
    np.testing.assert_array_equal(_resample_mask(mask, box, box), mask)
    # a target box shifted right by one source cell reads the source one column further, zero beyond its edge
    cell = (box[3] - box[1]) / 28
    shifted = _resample_mask(mask, box, box + np.array([0, cell, 0, cell]))
    np.testing.assert_allclose(shifted[:, :-1], mask[:, 1:], atol=1e-5)
    np.testing.assert_allclose(shifted[:, -1], 0, atol=1e-6)
    # by half a cell: the mean of two neighbours, and half the last column at the edge
    shifted = _resample_mask(mask, box, box + np.array([0, cell / 2, 0, cell / 2]))
    np.testing.assert_allclose(shifted[:, :-1], (mask[:, :-1] + mask[:, 1:]) / 2, atol=1e-5)
    np.testing.assert_allclose(shifted[:, -1], mask[:, -1] / 2, atol=1e-5)


def test_detection_store_round_trip_and_identity(tmp_path):
    found = random_detections(np.random.default_rng(7), 6)
    store = DetectionStore(tmp_path / "cache", {"weights": ["a.h5"], "tta": ["orig", "flip"]})
    assert not store.has("img 1.jpg")
    store.save("img 1.jpg", found)
    again = DetectionStore(tmp_path / "cache", {"weights": ["a.h5"], "tta": ("orig", "flip")})
    loaded = again.load("img 1.jpg")
    assert loaded.masks.dtype == np.float16 and loaded.image_shape == (200, 300)
    np.testing.assert_array_equal(loaded.boxes, found.boxes)
    np.testing.assert_allclose(loaded.masks, found.masks, atol=5e-4)
    with pytest.raises(DataError, match="differs in weights"):
        DetectionStore(tmp_path / "cache", {"weights": ["b.h5"], "tta": ["orig", "flip"]})
    with pytest.raises(DataError, match="no cached detections for other.jpg"):
        again.load("other.jpg")


def test_concatenate_refuses_different_images():
    rng = np.random.default_rng(8)
    with pytest.raises(ValueError, match="different image sizes"):
        concatenate([random_detections(rng, 2, (100, 100)), random_detections(rng, 2, (200, 100))])


def test_palette_blobs_are_found(blob_images):
    folder, truth = blob_images
    predictor = Predictor([ColourBlobModel(blob_config())])
    image = predictor.load(folder / "0000.png")
    found = _detect(predictor, image.pixels)
    assert set(found.class_ids.tolist()) <= set(PALETTE)
    assert (found.scores > 0.5).sum() == (truth["ImageId"] == "0000.png").sum()


def with_attributes(found: Detections, rng, width=5) -> Detections:
    attributes = rng.uniform(0, 1, (len(found), width)).astype(np.float32)
    return Detections(found.boxes, found.class_ids, found.scores, found.masks, found.image_shape, attributes)


def test_attribute_rows_follow_their_detections_through_selection_flip_and_merging():
    rng = np.random.default_rng(9)
    found = with_attributes(random_detections(rng, 12), rng)
    # tag each row: column 0 holds the detection's score, so a misaligned row shows
    found.attributes[:, 0] = found.scores
    picked = found.select(np.array([5, 2, 7]))
    np.testing.assert_array_equal(picked.attributes, found.attributes[[5, 2, 7]])
    assert found.flip_horizontal().attributes is found.attributes and found.compact().attributes.dtype == np.float32
    merged = merge_detections([found], iou=0.4)  # one source: NMS, each kept row with its own attributes
    np.testing.assert_array_equal(merged.attributes[:, 0], merged.scores)
    kept = class_aware_nms(found.boxes, found.scores, found.class_ids, 0.4)
    np.testing.assert_array_equal(merged.attributes, found.attributes[kept])
    # an ensemble of a source with its copy gives it back exactly, attributes included
    other = with_attributes(random_detections(rng, 9), rng)
    single, double = merge_detections([found, other]), merge_detections([found, other, found, other])
    np.testing.assert_array_equal(double.attributes, single.attributes)
    assert merge_detections([Detections.empty((10, 10), num_attributes=5)]).attributes.shape == (0, 5)


def test_merged_attributes_are_the_mean_of_the_sources_that_saw_the_object():
    a = Detections(np.array([[0.0, 0.0, 28.0, 28.0]]), np.array([1], np.int32), np.array([0.9], np.float32),
                   np.ones((1, 28, 28), np.float32), (100, 100), np.array([[0.8, 0.2]], np.float32))
    b = Detections(np.array([[2.0, 0.0, 30.0, 28.0], [60.0, 60.0, 90.0, 90.0]]), np.array([1, 3], np.int32),
                   np.array([0.7, 0.8], np.float32), np.ones((2, 28, 28), np.float32), (100, 100),
                   np.array([[0.4, 0.6], [0.3, 0.9]], np.float32))
    merged = merge_detections([a, b], iou=0.5)
    np.testing.assert_allclose(merged.scores, [0.8, 0.4])  # scores: over all sources
    np.testing.assert_allclose(merged.attributes, [[0.6, 0.4], [0.3, 0.9]])  # attributes: over those that saw it
    with pytest.raises(ValueError, match="attributes of different widths"):
        merge_detections([a, random_detections(np.random.default_rng(0), 2, (100, 100))])


def test_cached_attributes_round_trip_and_old_caches_have_none(tmp_path):
    rng = np.random.default_rng(10)
    found = with_attributes(random_detections(rng, 4), rng, width=92)
    store = DetectionStore(tmp_path / "cache", {"weights": ["a.h5"]})
    store.save("a.jpg", found)
    store.save("plain.jpg", random_detections(rng, 3))
    np.testing.assert_array_equal(store.load("a.jpg").attributes, found.attributes)
    assert store.load("plain.jpg").attributes is None


def test_network_attribute_rows_are_kept_with_their_detections():
    rows = np.zeros((6, 6), np.float32)
    rows[:4] = [[0.1, 0.1, 0.5, 0.5, 1, 0.9], [0.4, 0.2, 0.2, 0.6, 2, 0.8],  # the second has no area: dropped
                [0.3, 0.3, 0.7, 0.7, 3, 0.7], [0.5, 0.5, 0.9, 0.9, 1, 0.6]]
    attributes = np.arange(6, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    found = Detections.from_network(rows, np.ones((6, 28, 28)), (128, 128), (0, 0, 128, 128), (128, 128),
                                    attributes)
    np.testing.assert_array_equal(found.attributes[:, 0], [0, 2, 3])
    np.testing.assert_array_equal(found.class_ids, [1, 3, 1])


def test_an_ensemble_must_agree_on_the_attribute_head():
    from .conftest import AttributeBlobModel

    with pytest.raises(ConfigError, match="same attributes or none; they predict 92, none"):
        Predictor([AttributeBlobModel(), ColourBlobModel(blob_config())])
