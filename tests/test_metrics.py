"""The competition metric on cases computed by hand, the CSV entry points, sizes, and COCO mask AP."""

import numpy as np
import pandas as pd
import pytest

from fashion_seg.evaluation import attribute_metrics, metrics
from fashion_seg.data import rle
from fashion_seg.data.labels import read_label_descriptions
from fashion_seg.data.mask_geometry import resize_masks
from fashion_seg.errors import DataError


def box(top, left, bottom, right, shape=(10, 10)):
    mask = np.zeros(shape, bool)
    mask[top:bottom, left:right] = True
    return mask


def instances(*pairs):
    """instances((mask, "23"), ...) -> list of (pycocotools RLE, ClassId)."""
    masks = np.stack([m for m, _ in pairs], axis=-1)
    return metrics.instances_from_masks(masks, [c for _, c in pairs])


def test_a_perfect_prediction_scores_one():
    truth = {"a.jpg": instances((box(0, 0, 4, 4), "23"), (box(5, 5, 9, 9), "10_3_20"))}
    assert metrics.score_instances(truth, truth).score == 1.0


def test_iou_two_thirds_passes_four_of_ten_thresholds():
    true = box(0, 0, 1, 10)  # 10 pixels
    pred = box(0, 2, 1, 10) | box(1, 0, 2, 2)  # 10 pixels, 8 shared: IoU 8/12 = 0.667 > 0.5, 0.55, 0.6, 0.65
    result = metrics.score_instances({"a": instances((true, "6"))}, {"a": instances((pred, "6"))})
    assert result.score == pytest.approx(0.4)


def test_iou_exactly_at_a_threshold_does_not_match():
    true = box(0, 0, 1, 2)
    pred = box(0, 0, 1, 1)  # IoU 1/2: a match needs IoU > 0.5
    assert metrics.score_instances({"a": instances((true, "6"))}, {"a": instances((pred, "6"))}).score == 0.0


def test_a_class_in_only_one_side_scores_zero_and_attributes_must_match_exactly():
    truth = {"a": instances((box(0, 0, 4, 4), "10_3_20"), (box(5, 5, 9, 9), "23"))}
    predictions = {"a": instances((box(0, 0, 4, 4), "10"), (box(5, 5, 9, 9), "23"))}
    result = metrics.score_instances(truth, predictions)
    # classes: "10" (prediction only) 0, "10_3_20" (truth only) 0, "23" 1 -> image 1/3
    assert result.score == pytest.approx(1 / 3)
    assert sorted(result.pairs["ClassId"]) == ["10", "10_3_20", "23"]


def test_a_missed_instance_halves_the_class_score():
    truth = {"a": instances((box(0, 0, 4, 4), "32"), (box(5, 5, 9, 9), "32"))}
    predictions = {"a": instances((box(0, 0, 4, 4), "32"))}
    assert metrics.score_instances(truth, predictions).score == pytest.approx(0.5)  # TP 1, FN 1 at every t


def test_overlapping_predictions_match_one_to_one():
    true = box(0, 0, 4, 4)
    almost = true.copy()
    almost[0, 0] = False
    predictions = {"a": instances((true, "1"), (almost, "1"))}
    result = metrics.score_instances({"a": instances((true, "1"))}, predictions)
    assert result.score == pytest.approx(0.5)  # one TP and one FP at every threshold


def test_image_averaging_and_image_class_averaging_differ_as_expected():
    truth = {"a": instances((box(0, 0, 4, 4), "1")),
             "b": instances((box(0, 0, 4, 4), "1"), (box(5, 5, 9, 9), "2"))}
    predictions = {"a": instances((box(0, 0, 4, 4), "1")),
                   "b": instances((box(0, 0, 4, 4), "1"), (box(5, 5, 9, 9), "3"))}
    by_image = metrics.score_instances(truth, predictions)
    by_pair = metrics.score_instances(truth, predictions, average="image_class")
    assert by_image.score == pytest.approx((1 + 1 / 3) / 2)
    assert by_pair.score == pytest.approx(2 / 4)
    assert by_image.per_image.to_dict() == pytest.approx({"a": 1.0, "b": 1 / 3})


def test_missing_predictions_empty_masks_and_empty_images():
    truth = {"a": instances((box(0, 0, 4, 4), "1")), "empty": []}
    placeholder = instances((np.zeros((10, 10), bool), "23"))  # an empty mask is not an instance
    result = metrics.score_instances(truth, {"empty": placeholder})
    assert result.per_image.to_dict() == {"a": 0.0, "empty": 1.0}
    with pytest.raises(DataError, match="not in the truth"):
        metrics.score_instances(truth, {"zzz": placeholder})
    with pytest.raises(DataError, match="average must be one of"):
        metrics.score_instances(truth, {}, average="class")


def test_masks_of_different_sizes_in_one_image_are_refused():
    truth = {"a": instances((box(0, 0, 4, 4), "1"))}
    predictions = {"a": instances((box(0, 0, 4, 4, shape=(20, 20)), "1"))}
    with pytest.raises(DataError, match="different sizes"):
        metrics.score_instances(truth, predictions)


def test_iou_via_pycocotools_agrees_with_pixels():
    rng = np.random.default_rng(0)
    a, b = rng.random((30, 40)) < 0.5, rng.random((30, 40)) < 0.5
    iou = (a & b).sum() / (a | b).sum()
    true_rle, pred_rle = (i[0] for i in instances((a, "1"), (b, "1")))
    expected = np.mean([1.0 if iou > t else 0.0 for t in metrics.THRESHOLDS])
    assert metrics.class_score([true_rle], [pred_rle]) == pytest.approx(expected)


def frames_at_native_size():
    """Truth at 700x900 and the same masks as a 512x512 submission."""
    a = box(100, 50, 400, 300, shape=(700, 900))
    b = box(300, 500, 650, 880, shape=(700, 900))
    truth = pd.DataFrame({"ImageId": ["x.jpg", "x.jpg"], "EncodedPixels": [rle.encode(a), rle.encode(b)],
                          "Height": ["700", "700"], "Width": ["900", "900"], "ClassId": ["1", "10_3_20"]})
    submission = pd.DataFrame({"ImageId": ["x.jpg", "x.jpg"],
                               "EncodedPixels": [rle.encode(resize_masks(m, 512, 512)) for m in (a, b)],
                               "ClassId": ["1", "10_3_20"]})
    return truth, submission


def test_scoring_frames_at_512_and_native():
    truth, submission = frames_at_native_size()
    assert metrics.score_frames(truth, submission).score == 1.0
    assert metrics.score_frames(truth, truth).score == 1.0  # Height/Width columns give the truth's own grid
    assert metrics.score_frames(truth, truth, size=None).score == 1.0
    native = metrics.score_frames(truth, submission, size=None)
    assert native.score == 1.0  # 512 -> 700x900 by nearest neighbour: large boxes keep IoU ~0.99 > 0.95


def test_a_thin_mask_at_512_loses_what_nearest_neighbour_resizing_loses():
    """A 3-pixel-wide strap scored at native size from a 512x512 submission: the score is the fraction of the IoU
    thresholds that the resized-and-back mask passes, computed here from the masks themselves."""
    strap = box(200, 601, 240, 604, shape=(700, 900))
    back = resize_masks(resize_masks(strap, 512, 512), 700, 900)
    iou = (strap & back).sum() / (strap | back).sum()
    assert 0.5 < iou < 0.95  # the case is worth testing: some thresholds pass, some fail
    truth = pd.DataFrame({"ImageId": ["x.jpg"], "EncodedPixels": [rle.encode(strap)], "Height": ["700"],
                          "Width": ["900"], "ClassId": ["12"]})
    submission = pd.DataFrame({"ImageId": ["x.jpg"], "EncodedPixels": [rle.encode(resize_masks(strap, 512, 512))],
                               "ClassId": ["12"]})
    expected = np.mean([iou > threshold for threshold in metrics.THRESHOLDS])
    assert metrics.score_frames(truth, submission, size=None).score == pytest.approx(expected)
    assert metrics.score_frames(truth, submission).score == 1.0  # scored at 512, nothing was lost
    native_submission = metrics.score_frames(truth, truth.drop(columns=["Height", "Width"]), size=None,
                                             submission_size=None)
    assert native_submission.score == 1.0


def test_scoring_names_a_bad_submission_line():
    truth, submission = frames_at_native_size()
    submission.loc[1, "EncodedPixels"] = "1 2 3"
    with pytest.raises(DataError, match="submission line 3: EncodedPixels for a 512x512 mask: odd number"):
        metrics.score_frames(truth, submission)
    submission.loc[1, "ImageId"] = "other.jpg"
    with pytest.raises(DataError, match="submission line 3: image 'other.jpg' is not in the truth"):
        metrics.score_frames(truth, submission)
    with pytest.raises(DataError, match="submission has no column"):
        metrics.score_frames(truth, submission.drop(columns=["ClassId"]))


def test_per_class_table():
    truth = {"a": instances((box(0, 0, 4, 4), "10_3_20"), (box(5, 5, 9, 9), "23"))}
    predictions = {"a": instances((box(0, 0, 4, 4), "10"), (box(5, 5, 9, 9), "23"))}
    table = metrics.score_instances(truth, predictions).per_class(read_label_descriptions())
    assert list(table["class"]) == [10, 23] and list(table["name"]) == ["dress", "shoe"]
    assert list(table["pairs"]) == [2, 1] and list(table["score"]) == [0.0, 1.0]
    by_string = metrics.score_instances(truth, predictions).per_class(by="class_id")
    assert list(by_string["class"]) == ["10", "10_3_20", "23"]


def test_coco_mask_ap_on_the_same_inputs():
    truth = {"a": instances((box(0, 0, 4, 4), "1"), (box(5, 5, 9, 9), "2")),
             "b": instances((box(2, 2, 8, 8), "1"))}
    assert metrics.coco_mask_ap(truth, truth)["AP"] == pytest.approx(1.0)
    half = {"a": truth["a"][:1], "b": truth["b"]}
    partial = metrics.coco_mask_ap(truth, half)
    # category "1": both instances found, AP 1; category "2": nothing predicted, AP 0; the mean over categories
    assert partial["AP"] == pytest.approx(0.5) and partial["AR100"] == pytest.approx(0.5)
    assert partial["AP_medium"] == -1.0 and set(partial) == set(metrics.COCO_STAT_NAMES)  # no medium masks at 10x10
    assert metrics.coco_mask_ap(truth, {})["AP"] == 0.0


# ------------------------------------------------------------------------------------- attributes: cost and gain


def test_stripping_attributes_scores_masks_and_categories_alone():
    truth = {"a": instances((box(0, 0, 4, 4), "10_3_20"), (box(5, 5, 9, 9), "23"))}
    predictions = {"a": instances((box(0, 0, 4, 4), "10_5_20"), (box(5, 5, 9, 9), "23"))}
    assert metrics.score_instances(truth, predictions).score == pytest.approx(1 / 3)  # 10_3_20 0, 10_5_20 0, 23 1
    stripped = attribute_metrics.strip_attributes(predictions)
    assert [c for _, c in stripped["a"]] == ["10", "23"] and stripped["a"][0][0] == predictions["a"][0][0]
    both = metrics.score_instances(attribute_metrics.strip_attributes(truth), stripped)
    assert both.score == 1.0


def attribute_case():
    """Two 20x20 images; which pairs match (same category, IoU > 0.5, greedy) is written beside each instance."""
    shape = (20, 20)
    truth = {
        "a": instances((box(0, 0, 10, 10, shape), "10_3_14_20"),   # dress: matched (IoU 1)
                       (box(10, 0, 20, 10, shape), "6_33"),        # pants: matched to the IoU 0.8 prediction
                       (box(0, 10, 10, 20, shape), "8_3_20")),     # skirt: its prediction has IoU 0.5, no match
        "b": instances((box(0, 0, 5, 5, shape), "23"),             # shoe: matched, no attributes
                       (box(10, 10, 20, 20, shape), "10_8"),       # dress predicted as a skirt: no match
                       (box(0, 10, 10, 20, shape), "9")),          # coat: matched, predicted with an attribute
    }
    predictions = {
        "a": instances((box(0, 0, 10, 10, shape), "10_5_20_23"),   # length 5 for 3, zip-up missed, 20 right, 23 extra
                       (box(10, 0, 20, 6, shape), "6_37"),         # IoU 0.6: loses to the IoU 0.8 one below
                       (box(10, 0, 20, 8, shape), "6_33"),         # IoU 0.8: silhouette right
                       (box(0, 10, 10, 15, shape), "8_3_20")),     # IoU 50/100 = 0.5 is not > 0.5
        "b": instances((box(0, 0, 5, 5, shape), "23"),
                       (box(10, 10, 20, 20, shape), "8_8"),
                       (box(0, 10, 10, 20, shape), "9_10")),       # single breasted: opening type, not in the truth
    }
    return truth, predictions


def test_instances_match_by_category_and_mask_greedily():
    truth, predictions = attribute_case()
    assert attribute_metrics.matched_class_ids(truth, predictions) == [
        ("6_33", "6_33"), ("10_3_14_20", "10_5_20_23"), ("9", "9_10"), ("23", "23")]


def test_attribute_precision_recall_f1_per_supercategory():
    truth, predictions = attribute_case()
    result = attribute_metrics.attribute_scores(truth, predictions, read_label_descriptions())
    assert (result.matched, result.true_with_attributes, result.matched_with_attributes) == (4, 4, 2)
    table = result.table.set_index("supercategory")
    assert list(table.index) == ["length", "opening type", "silhouette",
                                 "textile finishing, manufacturing techniques", "textile pattern", "animal",
                                 "waistline", "all"]
    # length: true {3}, predicted {5}; opening type: true {14} (dress), predicted {10} (coat);
    # silhouette: dress true {20} predicted {20, 23}, pants true {33} predicted {33}
    expected = {"length": (1, 1, 0), "opening type": (1, 1, 0), "silhouette": (2, 3, 2), "all": (4, 5, 2)}
    for name, counts in expected.items():
        assert tuple(table.loc[name, ["true", "predicted", "correct"]]) == counts
    assert tuple(table.loc["length", ["precision", "recall", "f1"]]) == (0.0, 0.0, 0.0)
    precision, recall = 2 / 3, 2 / 2
    assert table.loc["silhouette", "precision"] == pytest.approx(precision)
    assert table.loc["silhouette", "recall"] == 1.0
    assert table.loc["silhouette", "f1"] == pytest.approx(2 * precision * recall / (precision + recall))  # 0.8
    assert tuple(table.loc["all", ["precision", "recall"]]) == pytest.approx((2 / 5, 2 / 4))
    assert table.loc["all", "f1"] == pytest.approx(2 * 0.4 * 0.5 / (0.4 + 0.5))
    assert table.loc["waistline", ["true", "predicted", "correct"]].tolist() == [0, 0, 0]
    assert table.loc["waistline", ["precision", "recall", "f1"]].isna().all()  # nothing to measure


def test_an_attribute_the_labels_do_not_list_is_named():
    truth = {"a": instances((box(0, 0, 4, 4), "10_99"))}
    with pytest.raises(DataError, match="ClassId '10_99': attribute id 99 is not in"):
        attribute_metrics.attribute_scores(truth, truth, read_label_descriptions())
