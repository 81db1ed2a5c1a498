"""Post-processing: thresholds, class-aware NMS, pasting at the submission size, same-class overlap suppression,
minimum area, class filters, presets."""

import json

import numpy as np
import pytest

from fashion_seg.data import rle
from fashion_seg.data.mask_geometry import hard_overlap_suppression
from fashion_seg.prediction.detections import Detections
from fashion_seg.errors import ConfigError
from fashion_seg.mrcnn.masks import bilinear_weights, paste_masks, resize_probabilities
from fashion_seg.prediction.postprocess import class_aware_nms, grid_boxes, paste_crops, postprocess
from fashion_seg.prediction.settings import PRESETS, PostProcessing, format_categories, load_preset, parse_categories

KEEP_ALL = PostProcessing(min_score=0.0, nms_iou=1.0, max_detections=100, mask_threshold=0.5, min_area=0)


def detections(boxes, class_ids, scores, masks=None, image_shape=(100, 100)) -> Detections:
    boxes = np.asarray(boxes, dtype=np.float64)
    masks = np.ones((len(boxes), 28, 28), np.float32) if masks is None else np.asarray(masks, np.float32)
    return Detections(boxes, np.asarray(class_ids, np.int32), np.asarray(scores, np.float32), masks, image_shape)


def smooth_masks(rng, count):
    """Blob-like probabilities (what a mask head gives), not noise."""
    yy, xx = np.mgrid[0:28, 0:28] / 13.5 - 1
    out = []
    for _ in range(count):
        radius = np.hypot(yy / rng.uniform(0.5, 1), (xx - rng.uniform(-0.3, 0.3)) / rng.uniform(0.5, 1))
        out.append(1 / (1 + np.exp((radius - 0.8) * 8)))
    return np.array(out, np.float32)


def test_overlap_suppression_removes_exactly_the_lower_scored_masks_overlapping_pixels():
    masks = np.zeros((6, 6, 3), bool)
    masks[0:4, 0:4, 0] = True   # class "1", score 0.6
    masks[2:6, 2:6, 1] = True   # class "1", score 0.9: wins the overlap [2:4, 2:4]
    masks[0:6, 0:6, 2] = True   # class "2": overlaps both, other class, untouched
    result = hard_overlap_suppression(masks, ["1", "1", "2"], [0.6, 0.9, 0.5])
    expected_low = masks[:, :, 0].copy()
    expected_low[2:4, 2:4] = False
    np.testing.assert_array_equal(result[:, :, 0], expected_low)
    np.testing.assert_array_equal(result[:, :, 1], masks[:, :, 1])
    np.testing.assert_array_equal(result[:, :, 2], masks[:, :, 2])


def test_postprocess_suppresses_same_class_overlap_on_crops_as_on_full_masks():
    rng = np.random.default_rng(3)
    boxes = np.array([[10, 10, 60, 60], [30, 30, 90, 80], [20, 5, 70, 50], [0, 0, 100, 100]], np.float64)
    found = detections(boxes, [1, 1, 1, 2], [0.7, 0.9, 0.8, 0.6], smooth_masks(rng, 4))
    instances = postprocess(found, KEEP_ALL, size=None)
    assert instances.class_ids == ["0", "0", "0", "1"]
    assert list(instances.scores) == pytest.approx([0.9, 0.8, 0.7, 0.6])
    full = paste_masks(found.masks, grid_boxes(found, (100, 100)), (100, 100), 0.5)
    expected = hard_overlap_suppression(full, [0, 0, 0, 1], found.scores)
    np.testing.assert_array_equal(instances.masks(), expected[:, :, [1, 2, 0, 3]])
    same_class = instances.masks()[:, :, :3]
    assert same_class.sum(axis=2).max() == 1  # no pixel twice within class 0
    assert (instances.masks()[:, :, 3] & same_class.any(axis=2)).any()  # across classes overlap stays


def test_paste_at_native_size_is_matterports_unmold():
    rng = np.random.default_rng(0)
    boxes = np.column_stack([rng.uniform(-5, 60, 12), rng.uniform(-5, 40, 12), rng.uniform(70, 130, 12),
                             rng.uniform(50, 95, 12)])
    masks = np.concatenate([smooth_masks(rng, 10), np.zeros((1, 28, 28)), np.full((1, 28, 28), 0.3)])
    found = detections(boxes, np.ones(12), np.ones(12), masks, image_shape=(120, 90))
    for threshold in (0.0, 0.3, 0.45, 0.5, 0.95):
        visible, crops = paste_crops(found, (120, 90), threshold)
        full = paste_masks(masks, grid_boxes(found, (120, 90)), (120, 90), threshold)
        for i, ((y1, x1, y2, x2), crop) in enumerate(zip(visible, crops)):
            canvas = np.zeros((120, 90), bool)
            canvas[y1:y2, x1:x2] = crop
            np.testing.assert_array_equal(canvas, full[:, :, i], err_msg=f"mask {i} at threshold {threshold}")


def test_binarised_crops_equal_thresholded_probabilities_for_masks_without_zero():
    # sigmoid outputs never reach 0: the clipping to the mask's range keeps exact zeros apart
    mask = np.full((28, 28), 0.2, np.float32)
    mask[5:20, 8:22] = 0.8
    found = detections([[3, 4, 53, 40]], [1], [1.0], mask[None], image_shape=(60, 60))
    for threshold in (0.1, 0.2, 0.5, 0.8, 0.9):
        _, (crop,) = paste_crops(found, (60, 60), threshold)
        expected = resize_probabilities(mask, (50, 36)) >= threshold
        np.testing.assert_array_equal(crop, expected)


def test_masks_are_pasted_straight_at_the_submission_size():
    mask = np.zeros((28, 28), np.float32)
    mask[:, :14] = 1.0  # the left half of the box
    found = detections([[100, 200, 300, 600]], [5], [0.9], mask[None], image_shape=(400, 800))
    instances = postprocess(found, KEEP_ALL, size=512)
    assert instances.shape == (512, 512)
    (y1, x1, y2, x2), = instances.boxes
    assert (y1, x1, y2, x2) == (128, 128, 384, 384)  # the box squashed onto 512x512
    rows, cols = np.nonzero(instances.masks()[:, :, 0])
    assert rows.min() == 128 and rows.max() == 383
    assert cols.min() == 128 and abs(cols.max() - 255) <= 1


def test_crop_runs_equal_the_full_masks_encoding():
    rng = np.random.default_rng(1)
    found = detections(np.array([[0, 0, 50, 30], [10, 70, 64, 100], [30, 20, 64, 75]]), [1, 2, 3], [0.9, 0.8, 0.7],
                       smooth_masks(rng, 3), image_shape=(64, 100))
    instances = postprocess(found, KEEP_ALL, size=None)
    for i, (image_id, encoded, class_id, score) in enumerate(instances.rows("a.jpg")):
        assert encoded == rle.encode(instances.masks()[:, :, i])
        assert (image_id, class_id) == ("a.jpg", instances.class_ids[i])


def test_runs_from_crop_merge_runs_across_column_boundaries():
    crop = np.ones((4, 3), bool)  # touches the top and bottom of a 4-row image: one run over three columns
    runs = rle.runs_from_crop(crop, 0, 2, 4)
    assert rle.format_runs(runs) == "9 12"
    full = np.zeros((4, 6), bool)
    full[:, 2:5] = True
    assert rle.encode(full) == "9 12"


def test_score_threshold_class_aware_nms_and_max_detections():
    boxes = [[0, 0, 50, 50], [2, 2, 50, 50], [0, 0, 50, 50], [60, 60, 90, 90], [60, 0, 90, 30]]
    found = detections(boxes, [1, 1, 2, 1, 1], [0.9, 0.8, 0.7, 0.6, 0.4])
    settings = PostProcessing(min_score=0.5, nms_iou=0.3, max_detections=100, mask_threshold=0.5, min_area=0)
    kept = postprocess(found, settings, size=None)
    # box 1 is suppressed by box 0 (same class, IoU 0.92); box 2 has another class; box 4 is below 0.5
    assert list(kept.scores) == pytest.approx([0.9, 0.7, 0.6])
    assert kept.class_ids == ["0", "1", "0"]
    assert len(postprocess(found, settings.replace(max_detections=2), size=None)) == 2
    np.testing.assert_array_equal(class_aware_nms(np.array(boxes, float), found.scores, found.class_ids, 0.3),
                                  [0, 2, 3, 4])


def test_minimum_area_is_counted_at_the_submission_size():
    # a 40x40 box in a 2000x2000 image covers 10x10 = 100 pixels at 512x512
    found = detections([[0, 0, 40, 40], [1000, 1000, 1400, 1400]], [1, 1], [0.9, 0.8], image_shape=(2000, 2000))
    kept = postprocess(found, KEEP_ALL.replace(min_area=101), size=512)
    assert len(kept) == 1 and kept.boxes[0].tolist() == [256, 256, 358, 358]
    assert len(postprocess(found, KEEP_ALL.replace(min_area=100), size=512)) == 2


def test_dropped_categories_are_filtered_before_nms():
    # class id 2 = category 1 is dropped, so it cannot suppress the class-1 box under it either
    found = detections([[0, 0, 50, 50], [60, 60, 90, 90], [0, 0, 50, 50]], [2, 1, 14], [0.9, 0.8, 0.7])
    kept = postprocess(found, KEEP_ALL.replace(drop_categories=(1, 13)), size=None)
    assert kept.class_ids == ["0"]


def test_an_image_without_detections_gives_no_rows():
    empty = Detections.empty((30, 40))
    instances = postprocess(empty, PRESETS["first_place"])
    assert len(instances) == 0 and instances.rows("x.jpg") == [] and instances.masks().shape == (512, 512, 0)


def test_presets_and_preset_files(tmp_path):
    assert PRESETS["matterport"] == PostProcessing(0.7, 0.3, 100, 0.5, 0)
    assert PRESETS["first_place"] == PostProcessing(0.5, 0.3, 100, 0.45, 20)
    tuned = PRESETS["first_place"].replace(min_score=0.35, drop_categories=(12, 0, 1))
    path = tuned.save_json(tmp_path / "tuned.json", score=0.31)
    assert json.loads(path.read_text())["score"] == 0.31
    assert load_preset(path) == tuned and load_preset(path).drop_categories == (0, 1, 12)
    assert load_preset("matterport") is PRESETS["matterport"]
    with pytest.raises(ConfigError, match="no preset 'nope'"):
        load_preset("nope")
    path.write_text('{"post_processing": {"min_score": 2}}')
    with pytest.raises(ConfigError, match=r"min_score=2 must be a number in \[0, 1\]"):
        load_preset(path)
    path.write_text('{"post_processing": {"min_scor": 0.2}}')
    with pytest.raises(ConfigError, match="unknown key"):
        load_preset(path)


def test_category_lists():
    assert parse_categories("0-3,12, 27") == (0, 1, 2, 3, 12, 27)
    assert parse_categories("none") == ()
    assert format_categories(parse_categories("0-12,27,28,33")) == "0-12,27-28,33"
    with pytest.raises(ConfigError, match="'5-2'"):
        parse_categories("5-2")


def test_bilinear_weights_are_pixel_centre_aligned_and_sum_to_one_inside_the_source():
    for output in (1, 2, 13, 28, 29, 300, 700):
        weights = bilinear_weights(28, output)
        position = (np.arange(output) + 0.5) * 28 / output - 0.5
        inside = (position >= 0) & (position <= 27)
        np.testing.assert_allclose(weights[inside].sum(axis=1), 1.0)
        np.testing.assert_allclose(weights[inside] @ np.arange(28.0), position[inside])  # interpolates a ramp exactly


def test_classids_carry_the_attributes_of_their_own_rows_after_filtering_and_nms():
    from fashion_seg.prediction.class_ids import ClassIdComposer
    from fashion_seg.data.labels import read_label_descriptions

    composer = ClassIdComposer.from_table(range(92), {0: [3, 14], 1: [14]}, read_label_descriptions())
    attributes = np.full((5, 92), 0.1, np.float32)
    attributes[0, 3] = 0.9              # shirt, mini length
    attributes[1, [3, 14]] = 0.9        # shirt under shirt 0 (suppressed by NMS)
    attributes[2, [3, 14]] = 0.6        # top: 3 is never seen with tops
    attributes[3, 14] = 0.45            # shirt, zip-up below 0.5
    attributes[4, 14] = 0.9             # score 0.3: below min_score
    found = Detections(np.array([[0, 0, 50, 50], [2, 2, 50, 50], [0, 0, 50, 50], [60, 60, 90, 90], [60, 0, 90, 30]],
                                np.float64), np.array([1, 1, 2, 1, 1], np.int32),
                       np.array([0.9, 0.8, 0.7, 0.6, 0.3], np.float32), np.ones((5, 28, 28), np.float32), (100, 100),
                       attributes)
    settings = KEEP_ALL.replace(min_score=0.5, nms_iou=0.3)
    kept = postprocess(found, settings, size=None, composer=composer)
    assert kept.class_ids == ["0_3", "1_14", "0"]
    assert postprocess(found, settings.replace(attribute_thresholds={"opening type": 0.4}), size=None,
                       composer=composer).class_ids == ["0_3", "1_14", "0_14"]
    assert postprocess(found, settings.replace(category_only=(0,)), size=None,
                       composer=composer).class_ids == ["0", "1_14", "0"]
    # without the table, or without probabilities, the ClassIds are the categories, as before attributes
    plain = Detections(found.boxes, found.class_ids, found.scores, found.masks, found.image_shape)
    assert postprocess(found, settings, size=None).class_ids == ["0", "1", "0"]
    assert postprocess(plain, settings, size=None, composer=composer).class_ids == ["0", "1", "0"]


def test_overlap_suppression_compares_the_full_classids():
    from fashion_seg.prediction.class_ids import ClassIdComposer

    composer = ClassIdComposer.from_table(range(92), {0: [3, 14]})
    attributes = np.zeros((3, 92), np.float32)
    attributes[[0, 2], 3] = 0.9  # "0_3", "0", "0_3": only the two "0_3" masks compete for pixels
    found = Detections(np.array([[0, 0, 60, 60], [20, 20, 80, 80], [40, 0, 100, 60]], np.float64),
                       np.array([1, 1, 1], np.int32), np.array([0.9, 0.8, 0.7], np.float32),
                       np.ones((3, 28, 28), np.float32), (100, 100), attributes)
    kept = postprocess(found, KEEP_ALL, size=None, composer=composer)
    assert kept.class_ids == ["0_3", "0", "0_3"]
    assert [int(crop.sum()) for crop in kept.crops] == [3600, 3600, 2400]  # the third loses rows 40-59 to the first


def test_attribute_settings_round_trip_through_a_preset_file(tmp_path):
    tuned = PRESETS["first_place"].replace(attribute_threshold=0.4, attribute_thresholds={"length": 0.3},
                                           category_only=(27, 1), drop_categories=(2,))
    assert tuned.attribute_thresholds == (("length", 0.3),) and tuned.category_only == (1, 27)
    assert [tuned.category_choice(c) for c in (0, 1, 2)] == ["attributes", "category", "drop"]
    assert tuned.with_category_choice(2, "category").category_choice(2) == "category"
    assert tuned.with_category_choice(1, "drop").drop_categories == (1, 2)
    saved = json.loads(tuned.save_json(tmp_path / "tuned.json").read_text())["post_processing"]
    assert saved["attribute_thresholds"] == {"length": 0.3} and saved["category_only"] == [1, 27]
    assert load_preset(tmp_path / "tuned.json") == tuned
    assert tuned.describe().endswith("drop_categories 2; attributes: threshold 0.4, length 0.3, category_only 1,27")
    assert "attributes" not in PRESETS["first_place"].describe()
    with pytest.raises(ConfigError, match="attribute_threshold=1.5 must be a number"):
        tuned.replace(attribute_threshold=1.5)
    with pytest.raises(ConfigError, match="must map attribute supercategory names to numbers"):
        tuned.replace(attribute_thresholds={"length": -1})
    (tmp_path / "bad.json").write_text('{"post_processing": {"attribute_thresholds": [0.3]}}')
    with pytest.raises(ConfigError, match="attribute_thresholds must be an object"):
        load_preset(tmp_path / "bad.json")
