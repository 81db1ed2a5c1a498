"""Box sizes at the training scale against the anchor scales, and scales fitted to them."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import dataHandling
from fashion_seg.data import rle
from fashion_seg.data.anchor_fit import box_sizes, fit_anchors, runs_box, suggest_anchor_scales

SQUARE_200 = SimpleNamespace(IMAGE_RESIZE_MODE="square", IMAGE_MIN_DIM=100, IMAGE_MIN_SCALE=0, IMAGE_MAX_DIM=200)


def _runs(mask):
    return rle.parse_runs(rle.encode(mask), *mask.shape)


def test_the_box_of_runs_is_the_box_of_the_mask():
    mask = np.zeros((30, 40), bool)
    mask[5:9, 3:20] = True  # runs inside single columns
    mask[12, 25] = True
    assert runs_box(_runs(mask), 30) == (5, 3, 12, 25)
    mask = np.zeros((30, 40), bool)
    mask[20:, 7] = mask[:4, 8] = True  # one run wrapping from column 7 into column 8: every row is covered
    assert runs_box(_runs(mask), 30) == (0, 7, 29, 8)
    assert runs_box(rle.Runs.empty(), 30) is None


def test_box_sizes_are_measured_at_the_training_scale():
    first, second = np.zeros((400, 300), bool), np.zeros((400, 300), bool)
    first[10:90, 50:70] = True  # 80 x 20 box: sqrt 40 at native size, 20 at the training scale (x 0.5)
    second[0:16, 0:16] = True
    annotations = pd.DataFrame({"EncodedPixels": [rle.encode(first), rle.encode(second), "", "1 x"],
                                "Height": [400, 400, 400, 400], "Width": [300, 300, 300, 300]})
    np.testing.assert_allclose(box_sizes(annotations, SQUARE_200), [20.0, 8.0])  # empty and broken rows skipped


def test_suggested_scales_are_octaves_placed_over_the_2nd_to_98th_percentile():
    assert suggest_anchor_scales([10.0] * 50 + [160.0] * 50) == (10, 20, 40, 80, 160)
    assert suggest_anchor_scales([5.0] * 20, levels=3) == (5, 10, 20)
    # 12 px and 40 px: 10-20-40 and 12-24-48 both leave one of them log2(1.2) = 0.26 octave from a scale, 14-28-56
    # leaves both further; of the two best the smaller scales win
    assert suggest_anchor_scales([12.0] * 10 + [40.0] * 10, levels=3) == (10, 20, 40)
    # an outlier beyond the 98th percentile does not pull the scales
    assert suggest_anchor_scales([10.0] * 100 + [5000.0]) == (10, 20, 40, 80, 160)
    with pytest.raises(ValueError):
        suggest_anchor_scales([])


def test_coverage_assigns_each_box_to_its_nearest_scale_in_octaves():
    sizes = [10.0] * 6 + [160.0] * 3 + [3.0]
    fit = fit_anchors(sizes, (8, 16, 32, 64, 128))
    assert fit.coverage["scale"].tolist() == [8, 16, 32, 64, 128]
    assert fit.coverage["boxes"].tolist() == [7, 0, 0, 0, 3]  # 10 and 3 are nearest 8; 160 nearest 128
    assert fit.coverage["smallest"].iloc[0] == 3.0 and fit.coverage["largest"].iloc[4] == 160.0
    assert fit.poorly_covered == pytest.approx(0.1)  # only 3 px is more than half an octave from 8
    assert fit.percentiles[50.0] == 10.0
    assert "suggested RPN_ANCHOR_SCALES" in fit.summary()


def test_stats_prints_the_anchor_fit_and_writes_its_files(demo_data, tmp_path, capsys):
    assert dataHandling.main(["stats", "--data-dir", str(demo_data), "--out", str(tmp_path), "--samples", "0",
                              "--profile", "demo"]) == 0
    out = capsys.readouterr().out
    assert "anchors of profile demo (256 px)" in out and "RPN_ANCHOR_SCALES (8, 16, 32, 64, 128)" in out
    coverage = pd.read_csv(tmp_path / "anchor_coverage.csv")
    assert list(coverage.columns) == ["scale", "boxes", "share", "smallest", "median", "largest"]
    assert coverage["share"].sum() == pytest.approx(1.0)
    assert (tmp_path / "box_sizes.png").read_bytes()[:4] == b"\x89PNG"
