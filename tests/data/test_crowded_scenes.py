"""Crowded scenes: deterministic, occlusion cuts the masks behind, varied sizes, grayscale, small parts, valid files."""

import cv2
import numpy as np
import pandas as pd
import pytest

import dataHandling
from fashion_seg.data.synthetic.crowded import image_shape, make_crowded_dataset, render_crowded_scene
from fashion_seg.data.labels import parse_class_id
from fashion_seg.data.synthetic import GLASSES, SHOE, ZIPPER


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    root = tmp_path_factory.mktemp("crowded")
    make_crowded_dataset(root, seed=3, train_images=6, test_images=2, max_side=480)
    return root


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_writes_the_same_bytes(crowded, tmp_path):
    make_crowded_dataset(tmp_path, seed=3, train_images=6, test_images=2, max_side=480)
    assert _files(tmp_path) == _files(crowded)
    assert len(_files(crowded)) == 6 + 2 + 4


def test_a_person_in_front_cuts_the_masks_of_the_people_behind():
    overlapping_people = 0
    for seed in range(6):
        image, instances, people = render_crowded_scene(np.random.default_rng(seed), 600, 800)
        assert image.shape == (600, 800, 3) and len(people) == len(instances)
        by_person = {}
        for instance, person in zip(instances, people):
            by_person.setdefault(person, []).append(instance.mask)
        union = {person: np.any(masks, axis=0) for person, masks in by_person.items()}
        for a in union:
            for b in union:
                if a < b:
                    assert not (union[a] & union[b]).any()  # visible masks of two people never share a pixel
                    rows_a, rows_b = np.flatnonzero(union[a].any(1)), np.flatnonzero(union[b].any(1))
                    cols_a, cols_b = np.flatnonzero(union[a].any(0)), np.flatnonzero(union[b].any(0))
                    overlapping_people += (rows_a[0] < rows_b[-1] and rows_b[0] < rows_a[-1]
                                           and cols_a[0] < cols_b[-1] and cols_b[0] < cols_a[-1])
        for instance in instances:
            assert instance.mask.sum() >= 96  # 2e-4 of 600 x 800: tiny leftovers dropped
    assert overlapping_people >= 3  # the boxes overlap: people stand in front of each other


def test_image_sizes_and_aspects_vary():
    shapes = [image_shape(np.random.default_rng(seed), 128, 1024) for seed in range(200)]
    long_sides = [max(s) for s in shapes]
    aspects = [h / w for h, w in shapes]
    assert min(min(s) for s in shapes) >= 128 and max(long_sides) <= 1024
    assert min(long_sides) < 250 and max(long_sides) > 900
    assert min(aspects) < 0.6 and max(aspects) > 1.7 and any(0.9 < a < 1.1 for a in aspects)


def test_some_images_are_grayscale(crowded):
    channels = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED).ndim for p in sorted((crowded / "train").glob("*.jpg"))]
    assert channels.count(2) >= 1 and channels.count(3) >= 1


def test_small_parts_are_10_to_30_px_at_512():
    sizes = {GLASSES: [], SHOE: [], ZIPPER: []}
    for seed in range(30):
        rng = np.random.default_rng(seed)
        height, width = image_shape(rng, 128, 1024)
        _, instances, _ = render_crowded_scene(rng, height, width)
        scale = 512 / max(height, width)
        for instance in instances:
            category = parse_class_id(instance.class_id)[0]
            if category in sizes:
                rows, cols = np.flatnonzero(instance.mask.any(1)), np.flatnonzero(instance.mask.any(0))
                sizes[category].append(scale * np.sqrt((rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)))
    for category, values in sizes.items():
        assert len(values) >= 5, category
        assert 10 <= np.median(values) <= 30, (category, np.median(values))


def test_attributes_follow_the_drawing(crowded):
    train = pd.read_csv(crowded / "train.csv", dtype=str, keep_default_na=False)
    for image_id, rows in train.groupby("ImageId"):
        classes = [parse_class_id(c) for c in rows["ClassId"]]
        zipped_dresses = sum(category == 10 and 14 in attributes for category, attributes in classes)
        assert sum(category == ZIPPER for category, _ in classes) <= zipped_dresses  # a zipper only on a zip-up dress


def test_the_files_validate_and_the_sample_lists_every_test_image(crowded, capsys):
    assert dataHandling.main(["validate", "--data-dir", str(crowded)]) == 0
    sample = pd.read_csv(crowded / "sample_submission.csv", dtype=str)
    assert sorted(sample["ImageId"]) == sorted(p.name for p in (crowded / "test").glob("*.jpg"))


def test_make_demo_writes_crowded_scenes(tmp_path, capsys):
    assert dataHandling.main(["make-demo", "--out", str(tmp_path), "--scenes", "crowded", "--train-images", "2",
                              "--test-images", "1"]) == 0
    assert "2 train images" in capsys.readouterr().out
    train = pd.read_csv(tmp_path / "train.csv", dtype=str)
    assert train["ImageId"].nunique() == 2 and (tmp_path / "test_truth.csv").exists()
