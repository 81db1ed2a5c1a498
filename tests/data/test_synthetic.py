"""The demo dataset: competition layout, deterministic, masks that make sense."""

import json

import numpy as np
import pandas as pd
import pytest

from fashion_seg.data import rle
from fashion_seg.data.images import image_size
from fashion_seg.data.labels import PACKAGED_LABELS_2019, parse_class_id
from fashion_seg.data.synthetic import (ANKLE_WIDTHS, ASYMMETRICAL, DRESS, HEM_LINES, KNEE, MAXI, MINI, PANTS,
                                        SKIRT, STRAIGHT, SYMMETRICAL, WIDE_LEG, ZIP_UP, ZIPPER, Figure, Canvas,
                                        draw_dress, draw_pants, draw_skirt, make_demo_dataset, perturb_truth,
                                        render_scene)


def test_the_demo_has_the_competition_layout(demo_data):
    assert sorted(p.name for p in demo_data.iterdir()) == [
        "label_descriptions.json", "sample_submission.csv", "test", "test_truth.csv", "train", "train.csv"]
    train = pd.read_csv(demo_data / "train.csv", dtype=str, keep_default_na=False)
    assert list(train.columns) == ["ImageId", "EncodedPixels", "Height", "Width", "ClassId"]
    assert train["ImageId"].is_monotonic_increasing  # sorted by ImageId like the real file
    assert train["ImageId"].nunique() == 12 == len(list((demo_data / "train").glob("*.jpg")))
    assert json.loads((demo_data / "label_descriptions.json").read_text()) == json.loads(PACKAGED_LABELS_2019.read_text())
    sample = pd.read_csv(demo_data / "sample_submission.csv", dtype=str, keep_default_na=False)
    assert list(sample.columns) == ["ImageId", "EncodedPixels", "ClassId"]
    assert sorted(sample["ImageId"]) == sorted(p.name for p in (demo_data / "test").glob("*.jpg"))
    truth = pd.read_csv(demo_data / "test_truth.csv", dtype=str)
    assert set(truth["ImageId"]) == set(sample["ImageId"])


def test_rows_match_their_images_and_include_attributes(demo_data):
    train = pd.read_csv(demo_data / "train.csv", dtype=str, keep_default_na=False)
    sizes = {}
    for image_id, rows in train.groupby("ImageId"):
        sizes[image_id] = image_size(demo_data / "train" / image_id)
        assert {(int(h), int(w)) for h, w in zip(rows["Height"], rows["Width"])} == {sizes[image_id]}
    assert max(max(s) for s in sizes.values()) == 1200  # the large image
    assert len({h / w for h, w in sizes.values()}) > 5  # varied aspect ratios
    categories = {parse_class_id(c)[0] for c in train["ClassId"]}
    assert {23, 31}.issubset(categories) and len(categories) >= 10
    assert any("_" in c for c in train["ClassId"])


def test_one_train_image_is_grayscale(demo_data):
    import cv2
    channels = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED).ndim for p in sorted((demo_data / "train").glob("*.jpg"))]
    assert channels.count(2) == 1


def test_parts_lie_inside_garments_and_same_class_masks_never_overlap():
    image, instances = render_scene(np.random.default_rng(3), 500, 620)
    assert image.shape == (500, 620, 3) and image.dtype == np.uint8
    by_class: dict = {}
    for instance in instances:
        by_class.setdefault(instance.class_id, []).append(instance.mask)
    for masks in by_class.values():
        assert (np.sum(masks, axis=0) <= 1).all()
    garments = np.any([i.mask for i in instances if parse_class_id(i.class_id)[0] in range(13)], axis=0)
    for sleeve in by_class.get("31", []):
        assert (sleeve <= garments).all()  # cross-class overlap: sleeves inside their garment


def test_generation_is_deterministic_by_seed(tmp_path):
    first = make_demo_dataset(tmp_path / "a", seed=5, train_images=3, test_images=1, large_side=None)
    make_demo_dataset(tmp_path / "b", seed=5, train_images=3, test_images=1, large_side=None)
    make_demo_dataset(tmp_path / "c", seed=6, train_images=3, test_images=1, large_side=None)
    assert first.train_images == 3 and first.train_rows > 3
    a, b, c = ((tmp_path / name / "train.csv").read_text() for name in "abc")
    assert a == b != c
    images = [sorted((tmp_path / name / "train").glob("*.jpg")) for name in "ab"]
    assert [p.name for p in images[0]] == [p.name for p in images[1]]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(*images))


def test_perturbed_truth_is_a_valid_but_imperfect_submission(demo_data):
    truth = pd.read_csv(demo_data / "test_truth.csv", dtype=str, keep_default_na=False)
    submission = perturb_truth(truth, seed=1)
    assert list(submission.columns) == ["ImageId", "EncodedPixels", "ClassId"]
    assert set(submission["ImageId"]) == set(truth["ImageId"])
    for encoded in submission["EncodedPixels"]:
        rle.parse_runs(encoded, 512, 512)
    assert len(submission) != len(truth) or (submission["EncodedPixels"] != truth["EncodedPixels"]).any()
    native = perturb_truth(truth, seed=1, size=None)
    assert {"Height", "Width"}.issubset(native.columns)


# ---------------------------------------------------------------------------- attributes follow from the drawing


def blank(seed=0, height=600, width=400):
    """A canvas and one figure filling it (figure height 500 px from row 50, width 210 px)."""
    canvas = Canvas(np.full((height, width, 3), 128, np.uint8), scale=1.0, rng=np.random.default_rng(seed))
    return canvas, Figure(left=95, top=50, width=210, height=500, shoulder=0.36 * 210)


def lowest_row(mask):
    return int(np.flatnonzero(mask.any(axis=1))[-1])


def test_a_dress_hem_is_drawn_on_its_length_line():
    hems = {}
    for length in (MINI, KNEE, MAXI):
        canvas, figure = blank()
        dress = canvas.instances[draw_dress(canvas, figure, length, zip_up=False)]
        assert dress.class_id == f"10_{length}_{SYMMETRICAL}"
        hems[length] = (lowest_row(dress.mask) - figure.top) / figure.height
        assert hems[length] == pytest.approx(HEM_LINES[length], abs=1.5 / figure.height)
    assert hems[MINI] < hems[KNEE] < hems[MAXI]  # 0.64, 0.73, 0.93 of the figure's height
    assert (hems[MAXI] - hems[MINI]) * 500 == pytest.approx(145, abs=1.5)  # pixels between maxi and mini hems


def test_zip_up_dresses_have_a_zipper_inside_and_others_none():
    canvas, figure = blank()
    draw_dress(canvas, figure, KNEE, zip_up=True)
    by_category = {parse_class_id(i.class_id)[0]: i for i in canvas.instances}
    assert by_category[DRESS].class_id == f"10_{KNEE}_{ZIP_UP}_{SYMMETRICAL}"
    zipper = by_category[ZIPPER].mask
    assert zipper.sum() > 100 and (zipper <= by_category[DRESS].mask).all()
    rows = np.flatnonzero(zipper.any(axis=1))
    assert rows[0] == pytest.approx(figure.neck_y, abs=2) and rows[-1] == pytest.approx(figure.waist_y, abs=2)
    canvas, figure = blank()
    draw_dress(canvas, figure, KNEE, zip_up=False)
    assert ZIPPER not in {parse_class_id(i.class_id)[0] for i in canvas.instances}


def test_wide_leg_pants_are_wider_at_the_ankle_than_straight_ones():
    widths = {}
    for silhouette in (STRAIGHT, WIDE_LEG):
        canvas, figure = blank()
        pants = canvas.instances[draw_pants(canvas, figure, silhouette, pockets=False)]
        assert pants.class_id == f"6_{silhouette}"
        ankle_row = int(round(figure.ankle_y)) - 2
        widths[silhouette] = pants.mask[ankle_row].sum() / 2 / figure.width  # one leg, in figure widths
        assert widths[silhouette] == pytest.approx(ANKLE_WIDTHS[silhouette], abs=0.02)
        assert (pants.mask == pants.mask[:, ::-1]).mean() > 0.99  # both legs alike: mirror images about the axis
    assert widths[WIDE_LEG] > 1.8 * widths[STRAIGHT]


def test_symmetrical_and_asymmetrical_skirts_differ_in_shape():
    canvas, figure = blank()
    symmetrical = canvas.instances[draw_skirt(canvas, figure, KNEE, asymmetric=False)]
    canvas, figure = blank()
    asymmetrical = canvas.instances[draw_skirt(canvas, figure, KNEE, asymmetric=True)]
    assert symmetrical.class_id == f"8_{KNEE}_{SYMMETRICAL}" and asymmetrical.class_id == f"8_{KNEE}_{ASYMMETRICAL}"
    for skirt in (symmetrical, asymmetrical):  # the length is the hem's lowest point: the knee line
        assert lowest_row(skirt.mask) == pytest.approx(figure.line(HEM_LINES[KNEE]), abs=1.5)
    # the hem 0.4 figure widths left and right of the axis: level, or slanting from the mini line to the knee line
    # (which the hem corners reach at 0.42 widths): 0.4 / 0.42 of the 45 pixels between the two lines
    columns = [int(round(figure.cx + side * 0.4 * figure.width)) for side in (-1, 1)]
    hem_rows = {name: [lowest_row(skirt.mask[:, [c]]) for c in columns]
                for name, skirt in (("symmetrical", symmetrical), ("asymmetrical", asymmetrical))}
    assert abs(hem_rows["symmetrical"][0] - hem_rows["symmetrical"][1]) <= 1
    slant = (HEM_LINES[KNEE] - HEM_LINES[MINI]) * figure.height * 0.4 / 0.42
    assert abs(hem_rows["asymmetrical"][0] - hem_rows["asymmetrical"][1]) == pytest.approx(slant, abs=2)
    with pytest.raises(ValueError, match="asymmetrical skirt reaches the knee line"):
        draw_skirt(*blank(), MINI, asymmetric=True)


def test_every_attribute_in_random_scenes_is_one_that_is_drawn():
    seen = set()
    for seed in range(40):
        _, instances = render_scene(np.random.default_rng(seed), 420, 560)
        zippers = [i.mask for i in instances if i.class_id == str(ZIPPER)]
        for instance in instances:
            category, attributes = parse_class_id(instance.class_id)
            seen.add(instance.class_id)
            if category == PANTS:
                assert len(attributes) == 1 and attributes[0] in (STRAIGHT, WIDE_LEG)
            elif category in (DRESS, SKIRT):
                lengths = [a for a in attributes if a in HEM_LINES]
                assert len(lengths) == 1 and (SYMMETRICAL in attributes) != (ASYMMETRICAL in attributes)
                inside = [z for z in zippers if (z & instance.mask).any()]
                assert (ZIP_UP in attributes) == bool(inside)  # a zipper drawn inside exactly the zip-up dresses
                assert all((z <= instance.mask).all() for z in inside)
            else:
                assert attributes == ()
    with_attributes = {c for c in seen if "_" in c}
    assert {"6_33", "6_37", "8_3_20", "8_5_19", "10_3_20", "10_8_20"} <= with_attributes  # seeded: each kind appears
    assert any(f"_{ZIP_UP}_" in c for c in with_attributes)
