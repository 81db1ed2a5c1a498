"""Competition files and FashionDataset: both CSV formats, lazy per-image masks, sizes, attributes, bad sizes."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fashion_seg.data import rle
from fashion_seg.data.mask_geometry import resize_masks
from fashion_seg.data.imaterialist import FashionDataset
from fashion_seg.data.labels import format_class_id, parse_class_id, read_label_descriptions
from fashion_seg.data.train_csv import normalise_annotations, read_train_csv, write_train_csv
from fashion_seg.errors import DataError, RLEError

SAMPLE = Path(__file__).parents[1] / "resources" / "train_sample_2019.csv"


def test_the_packaged_2019_labels():
    labels = read_label_descriptions()
    assert labels.num_categories == 46 and labels.num_attributes == 92
    assert labels.category_name(23) == "shoe" and labels.attribute_name(90) == "basque (wasitline)"
    assert labels.attribute_columns[91] == 91
    assert labels.describe("10_3_20") == "dress [mini (length), symmetrical]"
    with pytest.raises(DataError, match="unknown category id 46"):
        labels.category_name(46)


def test_2020_style_labels_with_gaps_in_attribute_ids(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({
        "categories": [{"id": 0, "name": "shirt, blouse", "supercategory": "upperbody", "level": 2}],
        "attributes": [{"id": 0, "name": "a", "supercategory": "s", "level": 1},
                       {"id": 281, "name": "b", "supercategory": "s", "level": 1}],
    }))
    labels = read_label_descriptions(path)
    assert labels.info == {} and labels.attribute_columns == {0: 0, 281: 1}
    path.write_text("{oops")
    with pytest.raises(DataError, match="labels.json is not valid JSON"):
        read_label_descriptions(path)


def test_class_id_strings():
    assert parse_class_id("10_3_14_20") == (10, (3, 14, 20))
    assert parse_class_id("23") == (23, ())
    assert format_class_id(10, [20, 3, 14]) == "10_3_14_20"
    for bad in ["", "10_", "a", "10__3", "-1"]:
        with pytest.raises(DataError, match="is not '<category>'"):
            parse_class_id(bad)


def test_the_real_2019_rows_read_and_decode():
    annotations = read_train_csv(SAMPLE)
    assert annotations.attrs["format"] == "2019"
    assert list(annotations["line"]) == list(range(2, 11))
    assert list(annotations["CategoryId"]) == [6, 0, 28, 31, 32, 32, 31, 29, 4]
    dataset = FashionDataset(annotations, SAMPLE.parent / "no-images-here")
    assert dataset.num_images == 1 and dataset.image_size(0) == (5214, 3676)
    masks, class_ids = dataset.load_mask(0, max_side=512)
    assert masks.shape == (512, 361, 9) and masks.dtype == bool
    assert list(class_ids) == [7, 1, 29, 32, 33, 33, 32, 30, 5]  # category + 1
    expected = rle.decode(rle.resize(annotations["EncodedPixels"][0], 5214, 3676, 512, 361), 512, 361)
    assert np.array_equal(masks[:, :, 0], expected)


def test_the_2020_format_is_detected_and_normalised_to_2019_class_ids(tmp_path):
    path = tmp_path / "train2020.csv"
    pd.DataFrame({
        "ImageId": ["abc", "abc"], "EncodedPixels": ["1 2", "4 1"], "Height": ["2", "2"], "Width": ["3", "3"],
        "ClassId": ["10", "23"], "AttributesIds": ["20,3", ""],
    }).to_csv(path, index=False)
    annotations = read_train_csv(path)
    assert annotations.attrs["format"] == "2020"
    assert list(annotations["ClassId"]) == ["10_3_20", "23"]
    assert list(annotations["AttributeIds"]) == [(3, 20), ()]
    write_train_csv(annotations, tmp_path / "again.csv")
    again = pd.read_csv(tmp_path / "again.csv", dtype=str, keep_default_na=False)
    assert list(again.columns) == ["ImageId", "EncodedPixels", "Height", "Width", "ClassId", "AttributesIds"]
    assert list(again["AttributesIds"]) == ["3,20", ""]


def test_unparseable_values_are_kept_and_flagged_not_dropped():
    frame = pd.DataFrame({"ImageId": ["a.jpg"] * 3, "EncodedPixels": ["1 1"] * 3, "Height": ["2", "x", "2.5"],
                          "Width": ["2", "2", "2"], "ClassId": ["1", "1_b", "3"]})
    annotations = normalise_annotations(frame)
    assert list(annotations["Height"]) == [2, -1, -1]
    assert list(annotations["CategoryId"]) == [1, -1, 3]
    with pytest.raises(DataError, match="line 3: Height/Width are not positive integers"):
        FashionDataset(annotations, "/nowhere")
    with pytest.raises(DataError, match="missing column"):
        normalise_annotations(frame.drop(columns=["Width"]))


@pytest.fixture(scope="module")
def dataset(demo_data):
    return FashionDataset.from_data_dir(demo_data)


def test_the_dataset_groups_rows_per_image(dataset, demo_data):
    train = pd.read_csv(demo_data / "train.csv", dtype=str, keep_default_na=False)
    assert dataset.num_images == 12 and dataset.num_classes == 47
    assert dataset.class_names[24] == "shoe" and dataset.map_source_class_id("imaterialist.23") == 24
    first = dataset.image_id_strings[0]
    rows = train[train["ImageId"] == first]
    assert dataset.image_index(first) == 0
    assert dataset.class_id_strings(0) == list(rows["ClassId"])
    assert dataset.image_reference(0).endswith(first)


def test_masks_images_and_attributes_of_one_image(dataset):
    for index in dataset.image_ids:
        height, width = dataset.image_size(index)
        image = dataset.load_image(index)
        masks, class_ids = dataset.load_mask(index)
        assert image.shape == (height, width, 3) and image.dtype == np.uint8
        assert masks.shape == (height, width, len(class_ids)) and class_ids.dtype == np.int32
        assert masks.any(axis=(0, 1)).all() and (class_ids >= 1).all()
        for mask, encoded in zip(np.moveaxis(masks, -1, 0), dataset.image_info[index]["rles"]):
            assert rle.encode(mask) == encoded
        attributes = dataset.load_attributes(index)
        assert attributes.shape == (len(class_ids), 92)
        for row, class_id in zip(attributes, dataset.class_id_strings(index)):
            assert sorted(np.flatnonzero(row)) == sorted(parse_class_id(class_id)[1])


def test_reduced_images_and_masks_have_the_same_size(dataset):
    large = max(dataset.image_ids, key=lambda i: max(dataset.image_size(i)))
    assert max(dataset.image_size(large)) == 1200
    image = dataset.load_image(large, max_side=256)
    masks, _ = dataset.load_mask(large, max_side=256)
    assert image.shape[:2] == masks.shape[:2] == dataset.image_size(large, 256)
    assert max(image.shape[:2]) == 256


def test_a_subset_of_rows_makes_a_subset_dataset(demo_data):
    annotations = read_train_csv(demo_data / "train.csv")
    keep = annotations["ImageId"].isin(sorted(annotations["ImageId"].unique())[:3])
    subset = FashionDataset(annotations[keep], demo_data / "train")
    assert subset.num_images == 3


def test_masks_are_decoded_lazily_and_a_bad_rle_names_its_line(demo_data):
    annotations = read_train_csv(demo_data / "train.csv")
    annotations.loc[3, "EncodedPixels"] = "5 3 1 2"
    dataset = FashionDataset(annotations, demo_data / "train")  # nothing decoded yet: no error
    bad = dataset.image_index(annotations.loc[3, "ImageId"])
    with pytest.raises(RLEError, match=r"train.csv line 5\): run 1 2 \(pair 2\) is out of order"):
        dataset.load_mask(bad)


def test_test_images_without_annotations(demo_data):
    test = FashionDataset.from_images(demo_data / "test")
    assert test.num_images == 4
    masks, class_ids = test.load_mask(0, max_side=100)
    assert masks.shape[2] == 0 and class_ids.shape == (0,)
    assert test.load_image(0, max_side=100).shape[:2] == masks.shape[:2]


def swapped_size_folder(tmp_path):
    """One 30x50 JPEG whose train.csv row says 50x30, its mask given on the rotated grid (as in the real data)."""
    image = np.zeros((30, 50, 3), np.uint8)
    true_mask = np.zeros((30, 50), bool)
    true_mask[5:12, 3:40] = True  # a wide bar on the JPEG's grid
    Image.fromarray(image).save(tmp_path / "bad.jpg")
    csv_grid_mask = true_mask[::-1, :].T  # what rotating with mask.T[::-1, :] turns back into true_mask
    pd.DataFrame({"ImageId": ["bad.jpg"], "EncodedPixels": [rle.encode(csv_grid_mask)], "Height": ["50"],
                  "Width": ["30"], "ClassId": ["6"]}).to_csv(tmp_path / "train.csv", index=False)
    return true_mask


def test_swapped_size_images_are_skipped_by_default_or_rotated(tmp_path):
    true_mask = swapped_size_folder(tmp_path)
    annotations = read_train_csv(tmp_path / "train.csv")
    skipped = FashionDataset(annotations, tmp_path, swapped_image_ids=["bad.jpg"])
    assert skipped.num_images == 0 and skipped.skipped_image_ids == ["bad.jpg"]
    rotated = FashionDataset(annotations, tmp_path, swapped_image_ids=["bad.jpg"], swapped_sizes="rotate")
    assert rotated.image_size(0) == (30, 50)
    masks, _ = rotated.load_mask(0)
    assert np.array_equal(masks[:, :, 0], true_mask)
    assert rotated.load_image(0).shape == (30, 50, 3)
    with pytest.raises(DataError, match="swapped_sizes must be one of"):
        FashionDataset(annotations, tmp_path, swapped_sizes="flip")


def test_swapped_sizes_are_recognised_in_a_resized_cache_too(tmp_path):
    true_mask = swapped_size_folder(tmp_path)
    annotations = read_train_csv(tmp_path / "train.csv")
    cache = tmp_path / "cache"
    cache.mkdir()
    Image.fromarray(np.zeros((15, 25, 3), np.uint8)).save(cache / "bad.jpg")  # the 30x50 JPEG at half size
    rotated = FashionDataset(annotations, cache, swapped_image_ids=["bad.jpg"], swapped_sizes="rotate")
    masks, _ = rotated.load_mask(0, max_side=25)
    assert masks.shape[:2] == rotated.load_image(0, max_side=25).shape[:2] == (15, 25)
    assert np.array_equal(masks[:, :, 0], resize_masks(true_mask, 15, 25))
