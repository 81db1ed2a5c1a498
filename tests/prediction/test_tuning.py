"""Threshold tuning on cached validation detections."""

import numpy as np
import pytest

from fashion_seg.prediction.class_ids import ClassIdComposer
from fashion_seg.data.labels import read_label_descriptions
from fashion_seg.prediction.detections import DetectionStore, Detections
from fashion_seg.prediction.inference import Predictor
from fashion_seg.evaluation.metrics import truth_instances
from fashion_seg.prediction.postprocess import postprocess
from fashion_seg.prediction.settings import PRESETS, load_preset
from fashion_seg.prediction.submission import expected_image_ids
from fashion_seg.prediction.tuning import SettingsScorer, cached_detections, tune

from .conftest import ColourBlobModel, blob_config

LOOSE = PRESETS["first_place"].replace(min_score=0.05, mask_threshold=0.6)


@pytest.fixture
def validation(blob_images, tmp_path):
    """(cached detections of the blob images, their truth at 512x512, the model that made them)."""
    folder, truth = blob_images
    model = ColourBlobModel(blob_config())
    store = DetectionStore(tmp_path / "val-detections", {"weights": ["blobs"]})
    paths = [folder / name for name in expected_image_ids(folder)]
    detections = cached_detections(Predictor([model], batch_size=2), paths, store, progress=False)
    return detections, truth, model, (paths, store)


def test_validation_detections_are_computed_once(validation):
    detections, _, model, (paths, store) = validation
    assert model.calls == 3 and set(detections) == {p.name for p in paths}
    again = ColourBlobModel(blob_config())
    cached = cached_detections(Predictor([again]), paths, store, progress=False)
    assert again.calls == 0
    name = paths[0].name
    np.testing.assert_array_equal(cached[name].boxes, detections[name].boxes)


def test_tuning_finds_a_better_setting_and_never_a_worse_one(validation, tmp_path):
    detections, truth, _, _ = validation
    scorer = SettingsScorer(detections, truth_instances(truth))
    grid = {"min_score": (0.05, 0.2, 0.4, 0.6), "mask_threshold": (0.4, 0.5, 0.6)}
    result = tune(scorer, LOOSE, grid, progress=False)
    assert result.start_score == scorer(LOOSE)
    assert result.best_score >= result.start_score and result.gain > 0.1
    assert result.best.min_score == 0.4  # the first grid value above the false positives' 0.3
    assert result.best_score == pytest.approx(scorer(result.best))
    assert set(result.presets) == {"matterport", "first_place"}
    assert result.trials["score"].iloc[0] == pytest.approx(result.best_score)
    assert len(scorer.scores) == len(result.trials) <= 1 + 2 * (4 + 3) + 2  # repeated settings are not re-scored
    path = result.best.save_json(tmp_path / "tuned.json", score=result.best_score)
    assert load_preset(path) == result.best


def test_tuning_can_drop_categories_that_only_cost(validation):
    detections, truth, _, _ = validation
    # without category 0 in the truth, every category-0 prediction is a false positive
    without_shirts = truth[truth["ClassId"] != "0"]
    scorer = SettingsScorer(detections, truth_instances(without_shirts))
    result = tune(scorer, PRESETS["first_place"], grid={}, tune_categories=range(3), progress=False)
    assert result.best.drop_categories == (0,)
    assert result.best_score > result.start_score


def _rectangle(y1, x1, y2, x2):
    mask = np.zeros((512, 512, 1), bool)
    mask[y1:y2, x1:x2] = True
    return mask


def attribute_validation():
    """Four hand-built images at 512x512, each a garment plus a correctly found sleeve (category 31), where the
    defaults (threshold 0.5, every category with its attributes) are known to be bad:

    A: a shirt (0) truth "0_1" (hip length); the model says hip 0.35, micro (length) 0.25: only a length threshold
       in (0.25, 0.35] is right;
    B: a top (1) truth "1" (annotated without attributes); the model is sure of hip and zip-up (0.9): only "category"
       is right;
    C: a sweater (2) truth "2_1"; the model gives hip 0.05: nothing can match, and dropping it removes a false class;
    D: a shirt truth "0"; the model says zip-up 0.45: any opening-type threshold <= 0.45 makes it wrong, so the
       length threshold must go down alone (a global 0.3 would trade A for D).
    """
    from fashion_seg.evaluation.metrics import instances_from_masks

    garment, sleeve = (10, 10, 200, 200), (300, 300, 400, 420)
    images = {"A": (1, {1: 0.35, 2: 0.25}, "0_1"), "B": (2, {1: 0.9, 14: 0.9}, "1"),
              "C": (3, {1: 0.05}, "2_1"), "D": (1, {14: 0.45}, "0")}
    detections, truth = {}, {}
    for image_id, (class_id, probabilities, true_class) in images.items():
        attributes = np.full((2, 92), 0.01, np.float32)
        attributes[0, list(probabilities)] = list(probabilities.values())
        detections[image_id] = Detections(np.array([garment, sleeve], np.float64), np.array([class_id, 32], np.int32),
                                          np.array([0.9, 0.8], np.float32), np.ones((2, 28, 28), np.float32),
                                          (512, 512), attributes)
        masks = np.concatenate([_rectangle(*garment), _rectangle(*sleeve)], axis=-1)
        truth[image_id] = instances_from_masks(masks, [true_class, "31"])
    composer = ClassIdComposer.from_table(range(92), {0: [1, 2, 14], 1: [1, 14], 2: [1]}, read_label_descriptions())
    return detections, truth, composer


def test_attribute_tuning_fits_thresholds_per_supercategory_and_a_choice_per_category():
    detections, truth, composer = attribute_validation()
    scorer = SettingsScorer(detections, truth, composer=composer)
    start = PRESETS["first_place"].replace(min_area=0)
    assert scorer(start) == pytest.approx((1 / 3 + 1 / 3 + 1 / 3 + 1) / 4)
    result = tune(scorer, start, grid={}, progress=False, composer=composer)
    best = result.best
    assert best.attribute_threshold == 0.5 and best.attribute_thresholds == (("length", 0.3),)
    assert [best.category_choice(c) for c in (0, 1, 2)] == ["attributes", "category", "drop"]
    assert best.drop_categories == (2,) and best.category_only == (1,)
    assert result.best_score == pytest.approx((1 + 1 + 1 / 2 + 1) / 4) and result.gain > 0.3
    # the tuned ClassIds: A's hip length found, B's top alone, C's sweater gone, D's shirt without zip-up
    found = {image_id: postprocess(detections[image_id], best, categories=None, composer=composer).class_ids
             for image_id in detections}
    assert found == {"A": ["0_1", "31"], "B": ["1", "31"], "C": ["31"], "D": ["0", "31"]}
