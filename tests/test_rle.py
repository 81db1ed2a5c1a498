"""Kaggle RLE: real rows round-trip, random masks round-trip, agreement with pycocotools, every error named."""

from pathlib import Path

import numpy as np
import pandas as pd
import pycocotools.mask as coco_mask
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fashion_seg.data import rle
from fashion_seg.data.mask_geometry import resize_masks
from fashion_seg.errors import RLEError

SAMPLE = Path(__file__).parent / "resources" / "train_sample_2019.csv"


@pytest.fixture(scope="module")
def real_rows() -> pd.DataFrame:
    return pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)


def test_the_nine_real_train_rows_decode_and_encode_to_the_identical_strings(real_rows):
    assert len(real_rows) == 9
    for row in real_rows.itertuples():
        height, width = int(row.Height), int(row.Width)
        mask = rle.decode(row.EncodedPixels, height, width)
        assert mask.shape == (5214, 3676) and mask.dtype == bool
        assert rle.encode(mask) == row.EncodedPixels
        assert rle.encode(np.ascontiguousarray(mask)) == row.EncodedPixels  # either memory layout


def test_real_masks_sit_where_the_garments_are(real_rows):
    """Pants (6) lie in the lower half and the collar (28) in the upper half: column-major, 1-indexed is right."""
    rows = {row.ClassId: row for row in real_rows.itertuples()}
    pants = rle.decode(rows["6"].EncodedPixels, 5214, 3676)
    collar = rle.decode(rows["28"].EncodedPixels, 5214, 3676)
    assert np.nonzero(pants)[0].mean() > 5214 / 2 > np.nonzero(collar)[0].mean()


def test_a_small_mask_by_hand():
    mask = np.array([[0, 1, 0], [1, 1, 0], [0, 1, 1]], dtype=bool)
    # column-major pixel numbers: column 0 = 1,2,3; column 1 = 4,5,6; column 2 = 7,8,9
    assert rle.encode(mask) == "2 1 4 3 9 1"
    assert np.array_equal(rle.decode("2 1 4 3 9 1", 3, 3), mask)
    assert rle.encode(np.zeros((4, 5), bool)) == ""
    assert rle.encode(np.ones((2, 3), np.uint8) * 255) == "1 6"
    assert not rle.decode("", 2, 2).any()


@st.composite
def masks(draw):
    height = draw(st.integers(1, 40))
    width = draw(st.integers(1, 40))
    kind = draw(st.sampled_from(["random", "empty", "full", "blocks"]))
    if kind == "empty":
        return np.zeros((height, width), bool)
    if kind == "full":
        return np.ones((height, width), bool)
    mask = draw(arrays(bool, (height, width)))
    if kind == "blocks":  # long runs, like real masks
        mask = np.repeat(np.repeat(mask[: (height + 3) // 4, : (width + 3) // 4], 4, 0), 4, 1)[:height, :width]
    return mask


@settings(max_examples=300, deadline=None)
@given(masks())
def test_random_masks_round_trip_and_agree_with_pycocotools(mask):
    height, width = mask.shape
    string = rle.encode(mask)
    assert np.array_equal(rle.decode(string, height, width), mask)
    assert rle.encode(np.asfortranarray(mask)) == string
    coco = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert rle.to_coco(string, height, width)["counts"] == coco["counts"]
    assert rle.from_coco(coco) == string
    assert rle.parse_runs(string, height, width).area == int(coco_mask.area(coco)) == mask.sum()


@settings(max_examples=200, deadline=None)
@given(masks(), st.integers(1, 60), st.integers(1, 60))
def test_resizing_runs_equals_resizing_the_decoded_mask(mask, out_height, out_width):
    height, width = mask.shape
    expected = rle.encode(resize_masks(mask, out_height, out_width))
    assert rle.resize(rle.encode(mask), height, width, out_height, out_width) == expected


@settings(max_examples=200, deadline=None)
@given(masks(), st.integers(0, 10), st.integers(0, 10), st.integers(0, 10), st.integers(0, 10))
def test_runs_of_a_crop_equal_the_runs_of_the_full_mask(crop, top, left, below, right):
    height, width = crop.shape[0] + top + below, crop.shape[1] + left + right
    full = np.zeros((height, width), bool)
    full[top:top + crop.shape[0], left:left + crop.shape[1]] = crop
    assert rle.format_runs(rle.runs_from_crop(crop, top, left, height)) == rle.encode(full)


@pytest.mark.parametrize("shape", [(1, 17), (17, 1), (1, 1)])
def test_one_pixel_wide_masks(shape):
    mask = np.zeros(shape, bool)
    mask.reshape(-1)[[0, -1]] = True
    string = rle.encode(mask)
    assert np.array_equal(rle.decode(string, *shape), mask)
    assert string == ("1 1" if mask.size == 1 else f"1 1 {mask.size} 1")


def test_uncompressed_pycocotools_counts_convert_too():
    assert rle.from_coco({"size": [3, 3], "counts": [1, 1, 1, 3, 2, 1]}) == "2 1 4 3 9 1"
    runs, height, width = rle.runs_from_coco({"size": [2, 2], "counts": [4]})
    assert runs.area == 0 and (height, width) == (2, 2)


@pytest.mark.parametrize(
    ("string", "message"),
    [
        ("1 2 3", "odd number of values (3)"),
        ("1 2 x 4", "non-integer token 'x'"),
        ("1 2.5", "non-integer token '2.5'"),
        ("-1 2", "non-integer token '-1'"),
        ("1 2 3 é", "non-integer token 'é'"),
        ("0 3", "start 0 of pair 1 is below 1"),
        ("1 0", "length 0 of pair 1 is below 1"),
        ("5 2 1 2", "(pair 2) is out of order"),
        ("1 5 3 2", "(pair 2) overlaps the previous run"),
        ("10 4", "ends at pixel 13, past the last pixel 12 of a 3x4 mask"),
        ("13 1", "past the last pixel 12"),
        ("99999999999999999999999 1", "past the last pixel 12"),
        ("1 99999999999999999999999", "past the last pixel 12"),
    ],
)
def test_decode_names_what_is_wrong(string, message):
    with pytest.raises(RLEError) as caught:
        rle.decode(string, 3, 4)
    assert message in str(caught.value)


def test_touching_runs_are_accepted_and_encode_canonically():
    assert rle.encode(rle.decode("1 2 3 2", 2, 3)) == "1 4"


def test_bad_sizes_and_bad_arguments_are_named():
    with pytest.raises(RLEError, match="not positive"):
        rle.decode("1 1", 0, 5)
    with pytest.raises(RLEError, match="must be 2-D"):
        rle.encode(np.zeros((2, 2, 2), bool))
    with pytest.raises(RLEError, match="counts sum to 5"):
        rle.from_coco({"size": [2, 2], "counts": [1, 4]})
    assert rle.parse_runs(float("nan"), 2, 2).area == 0  # pandas' missing value is the empty mask
