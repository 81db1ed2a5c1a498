"""Validation reports every problem with its line and never crashes; the fix drops or rotates, losing nothing else."""

import shutil

import pandas as pd
import pytest

from fashion_seg.data import rle
from fashion_seg.data.imaterialist import FashionDataset
from fashion_seg.data.labels import read_label_descriptions
from fashion_seg.data.train_csv import read_train_csv
from fashion_seg.data.validation import clean_annotations, validate_annotations, validate_data_dir


def test_the_demo_data_is_clean(demo_data):
    annotations, report = validate_data_dir(demo_data)
    assert report.ok and report.num_images == 12 and report.num_rows == len(annotations)
    assert len(report.image_sizes) == 12 and max(max(size) for size in report.image_sizes.values()) == 1200
    assert "no problems" in report.table()


@pytest.fixture
def broken(demo_data, tmp_path):
    """A copy of the demo data with one problem of every kind planted at known lines."""
    root = tmp_path / "broken"
    shutil.copytree(demo_data, root)
    train = pd.read_csv(root / "train.csv", dtype=str, keep_default_na=False)
    ids = list(dict.fromkeys(train["ImageId"]))
    first_rows = train.index[train["ImageId"] == ids[0]]
    train.loc[first_rows[0], "EncodedPixels"] = "3 4 1 1"  # line 2: unsorted runs
    train.loc[first_rows[1], "ClassId"] = "99"  # line 3: unknown category
    train.loc[first_rows[2], "ClassId"] = "10_500"  # line 4: unknown attribute
    train.loc[first_rows[3], "Height"] = "tall"  # line 5: bad size
    train = pd.concat([train, train.iloc[[10]]], ignore_index=True)  # last line: duplicate of line 12
    (root / "train" / ids[1]).unlink()  # missing image
    (root / "train" / ids[2]).write_bytes(b"garbage")  # unreadable image
    # image 3: the CSV gives its size swapped, its masks on the rotated grid (like the two real bad images)
    rows3 = train.index[train["ImageId"] == ids[3]]
    height, width = int(train.loc[rows3[0], "Height"]), int(train.loc[rows3[0], "Width"])
    for row in rows3:
        mask = rle.decode(train.loc[row, "EncodedPixels"], height, width)
        train.loc[row, "EncodedPixels"] = rle.encode(mask[::-1, :].T)
    train.loc[rows3, "Height"], train.loc[rows3, "Width"] = str(width), str(height)
    # image 4: one row with another size
    rows4 = train.index[train["ImageId"] == ids[4]]
    train.loc[rows4[0], "Height"] = str(int(train.loc[rows4[0], "Height"]) + 1)
    train.to_csv(root / "train.csv", index=False)
    return root, ids, {"swapped_lines": [int(r) + 2 for r in rows3], "true_size": (height, width)}


def test_every_problem_is_reported_with_its_line(broken):
    root, ids, planted = broken
    annotations, report = validate_data_dir(root)
    found = {(p.kind, p.lines[0] if len(p.lines) == 1 else None) for p in report.problems}
    assert ("invalid_rle", 2) in found and ("unknown_category", 3) in found
    assert ("unknown_attribute", 4) in found and ("bad_size", 5) in found
    assert ("duplicate_row", len(annotations) + 1) in found
    kinds = report.counts()
    for kind in ["missing_image", "unreadable_image", "swapped_size", "inconsistent_size", "size_mismatch"]:
        assert kinds.get(kind) == 1, kind
    by_kind = {p.kind: p for p in report.problems}
    assert by_kind["missing_image"].image_id == ids[1]
    assert "out of order" in by_kind["invalid_rle"].message
    assert "duplicates line 12" == by_kind["duplicate_row"].message
    assert list(by_kind["swapped_size"].lines) == planted["swapped_lines"]
    assert report.swapped_image_ids() == [ids[3]]
    assert report.table(limit=3).splitlines()[-2] == f"... and {len(report.problems) - 3} more"


def test_the_fix_drops_bad_rows_and_skips_or_rotates_swapped_images(broken):
    root, ids, planted = broken
    annotations, report = validate_data_dir(root)
    skipped, counts = clean_annotations(annotations, report, swapped_sizes="skip")
    assert counts["kept"] + counts["dropped"] == len(annotations) and counts["rotated"] == 0
    assert not set(ids[1:4]) & set(skipped["ImageId"])
    labels = read_label_descriptions(root / "label_descriptions.json")
    assert validate_annotations(skipped, root / "train", labels).ok

    rotated, counts = clean_annotations(annotations, report, swapped_sizes="rotate")
    assert counts["rotated"] == len(planted["swapped_lines"])
    fixed = rotated[rotated["ImageId"] == ids[3]]
    assert {(h, w) for h, w in zip(fixed["Height"], fixed["Width"])} == {planted["true_size"]}
    assert validate_annotations(rotated, root / "train", labels).ok
    dataset = FashionDataset(rotated, root / "train")
    masks, _ = dataset.load_mask(dataset.image_index(ids[3]))
    assert masks.shape[:2] == planted["true_size"]


def test_rotating_restores_the_original_masks(demo_data, broken):
    root, ids, _ = broken
    annotations, report = validate_data_dir(root)
    rotated, _ = clean_annotations(annotations, report, swapped_sizes="rotate")
    original = read_train_csv(demo_data / "train.csv")
    expected = original[original["ImageId"] == ids[3]]["EncodedPixels"].tolist()
    assert rotated[rotated["ImageId"] == ids[3]]["EncodedPixels"].tolist() == expected


def test_a_truncated_image_is_found_only_with_the_pixel_check(demo_data, tmp_path):
    root = tmp_path / "cut"
    shutil.copytree(demo_data, root)
    victim = sorted((root / "train").glob("*.jpg"))[3]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    assert validate_data_dir(root)[1].ok
    _, report = validate_data_dir(root, check_all_pixels=True)
    assert [p.kind for p in report.problems] == ["unreadable_image"] and report.problems[0].image_id == victim.name
