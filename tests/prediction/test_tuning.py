"""Threshold tuning on cached validation detections."""

import numpy as np
import pytest

from fashion_seg.detections import DetectionStore
from fashion_seg.inference import Predictor
from fashion_seg.metrics import truth_instances
from fashion_seg.postprocess import PRESETS, load_preset
from fashion_seg.submission import expected_image_ids
from fashion_seg.tuning import SettingsScorer, cached_detections, tune

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
