import logging
import shutil

import numpy as np
import pandas as pd
import pytest
from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter  # what Model.fit iterates with

from fashion_seg.data.augmentation import make_augmentation
from fashion_seg.data.imaterialist import FashionDataset
from fashion_seg.errors import ConfigError, DataError
from fashion_seg.mrcnn.batches import INPUT_NAMES, build_batch
from fashion_seg.mrcnn.canvas import MultiScale
from fashion_seg.mrcnn.dataset import Dataset
from fashion_seg.mrcnn.pipeline import MaskRCNNBatches
from fashion_seg.mrcnn.ground_truth import load_image_gt
from fashion_seg.mrcnn.rpn_targets import AnchorGrid, build_rpn_targets
from rectangles import rectangle_masks
from tiny_network import SmallImageConfig


class PipelineConfig(SmallImageConfig):
    NAME = "pipeline"
    IMAGES_PER_GPU = 3
    MAX_GT_INSTANCES = 6


class ShapesDataset(Dataset):
    """``count`` images of random sizes with 0-9 random rectangles each (image ``i`` has ``i % 10``); the images
    listed in ``broken`` fail to load like a truncated file would."""

    def __init__(self, count, broken=()):
        super().__init__()
        for class_id in (1, 2, 3):
            self.add_class("shapes", class_id, f"shape{class_id}")
        rng = np.random.default_rng(42)
        for index in range(count):
            height, width = (int(v) for v in rng.integers(60, 200, size=2))
            rects = []
            for _ in range(index % 10):
                y1, x1 = int(rng.integers(0, height - 10)), int(rng.integers(0, width - 10))
                rects.append((y1, x1, int(rng.integers(y1 + 5, height + 1)), int(rng.integers(x1 + 5, width + 1)),
                              int(rng.integers(1, 4))))
            self.add_image("shapes", index, f"shapes/{index}.png", size=(height, width), rects=rects)
        self.broken = set(broken)
        self.prepare()

    def image_reference(self, image_id):
        return self.image_info[image_id]["path"]

    def load_image(self, image_id):
        if image_id in self.broken:
            raise OSError("image file is truncated")
        height, width = self.image_info[image_id]["size"]
        image = np.full((height, width, 3), 90, np.uint8)
        image[:, :, 0] = np.arange(width) % 256  # a ramp: flips and shifts change the pixels
        for y1, x1, y2, x2, class_id in self.image_info[image_id]["rects"]:
            image[y1:y2, x1:x2] = 60 * class_id
        return image

    def load_mask(self, image_id):
        return rectangle_masks(self.image_info[image_id]["size"], self.image_info[image_id]["rects"])


def epochs_through_keras(batches, epochs):
    """Image ids per epoch as Keras's fit loop delivers them (same adapter, on_epoch_begin / on_epoch_end)."""
    adapter = PyDatasetAdapter(batches, shuffle=False)
    seen = []
    for _ in range(epochs):
        adapter.on_epoch_begin()
        batch_list = list(adapter.get_numpy_iterator())
        adapter.on_epoch_end()
        seen.append((np.concatenate([b["input_image_meta"][:, 0] for b in batch_list]).astype(int), batch_list))
    return seen


def assert_same_batches(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        for name in INPUT_NAMES:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# ------------------------------------------------------------------------------------------------ batch contract


def test_batch_shapes_and_dtypes_follow_the_contract():
    config = PipelineConfig()
    batch = build_batch(ShapesDataset(4), [1, 2, 3], config)
    anchors = len(AnchorGrid.for_image(config, config.IMAGE_SHAPE))
    expected = {
        "input_image": ((3, 128, 128, 3), np.float32),
        "input_image_meta": ((3, config.IMAGE_META_SIZE), np.float32),
        "input_rpn_match": ((3, anchors, 1), np.int32),
        "input_rpn_bbox": ((3, 64, 4), np.float32),
        "input_gt_class_ids": ((3, 6), np.int32),
        "input_gt_boxes": ((3, 6, 4), np.float32),
        "input_gt_masks": ((3, 28, 28, 6), np.bool_),
    }
    assert {name: (value.shape, value.dtype) for name, value in batch.items()} == expected
    full = build_batch(ShapesDataset(4), [1, 2, 3], PipelineConfig(USE_MINI_MASK=False))
    assert full["input_gt_masks"].shape == (3, 128, 128, 6)


def test_a_batch_holds_load_image_gt_molded_padded_and_its_rpn_targets():
    config = PipelineConfig()
    dataset = ShapesDataset(5)
    batch = build_batch(dataset, [4], config, seed=3, epoch=2)
    rng = np.random.default_rng([3, 2, 4, 0])  # the per-image generator: (seed, epoch, image id, occurrence)
    image, meta, class_ids, boxes, masks = load_image_gt(dataset, config, 4, rng=rng)
    match, bbox = build_rpn_targets(AnchorGrid.for_image(config, config.IMAGE_SHAPE), class_ids, boxes, config, rng)
    np.testing.assert_allclose(batch["input_image"][0] + config.MEAN_PIXEL, image, atol=1e-4)
    np.testing.assert_array_equal(batch["input_image_meta"][0], meta)
    np.testing.assert_array_equal(batch["input_rpn_match"][0, :, 0], match)
    np.testing.assert_array_equal(batch["input_rpn_bbox"][0], bbox)
    count = len(class_ids)
    assert count == 4
    np.testing.assert_array_equal(batch["input_gt_class_ids"][0, :count], class_ids)
    np.testing.assert_array_equal(batch["input_gt_boxes"][0, :count], boxes)
    np.testing.assert_array_equal(batch["input_gt_masks"][0, :, :, :count], masks)
    assert not batch["input_gt_class_ids"][0, count:].any() and not batch["input_gt_masks"][0, ..., count:].any()


def test_more_instances_than_max_gt_keep_a_random_subset():
    config = PipelineConfig()
    dataset = ShapesDataset(10)  # image 9 has 9 rectangles, MAX_GT_INSTANCES is 6
    _, _, class_ids, boxes, _ = load_image_gt(dataset, config, 9)
    batch = build_batch(dataset, [9], config)
    kept = batch["input_gt_boxes"][0]
    assert (batch["input_gt_class_ids"][0] > 0).all()
    rows = [np.flatnonzero((boxes == box).all(axis=1))[0] for box in kept]  # every kept box is one of the image's
    assert len(set(rows)) == 6
    np.testing.assert_array_equal(batch["input_gt_class_ids"][0], class_ids[rows])
    assert rows == sorted(rows)


def test_an_image_without_instances_is_a_negatives_only_example():
    config = PipelineConfig()
    batch = build_batch(ShapesDataset(1), [0], config)  # image 0 has no rectangles
    assert not batch["input_gt_class_ids"].any() and not batch["input_gt_boxes"].any()
    match = batch["input_rpn_match"][0, :, 0]
    assert (match == -1).sum() == config.RPN_TRAIN_ANCHORS_PER_IMAGE and (match == 1).sum() == 0


def test_multiscale_and_crop_batches_keep_the_fixed_shape():
    dataset = ShapesDataset(6)
    multiscale = build_batch(dataset, [3, 4, 5], PipelineConfig(), multiscale=MultiScale(50, 250, 300))
    crop = build_batch(dataset, [3, 4, 5], PipelineConfig(IMAGE_RESIZE_MODE="crop"))
    assert multiscale["input_image"].shape == (3, 128, 128, 3)
    assert crop["input_image"].shape == (3, 64, 64, 3)
    boxes = multiscale["input_gt_boxes"]
    assert (boxes[..., 2:] <= 128).all() and (boxes[..., :2] >= 0).all()


# ---------------------------------------------------------------------------------------- epochs and determinism


@pytest.mark.jax
def test_every_image_exactly_once_per_epoch_with_worker_processes():
    dataset = ShapesDataset(12)
    batches = MaskRCNNBatches(dataset, PipelineConfig(), augmentation=make_augmentation("seed"), seed=5, workers=2,
                              use_multiprocessing=True)
    (first, _), (second, _) = epochs_through_keras(batches, 2)
    assert sorted(first.tolist()) == list(range(12)) and sorted(second.tolist()) == list(range(12))
    assert first.tolist() != second.tolist()  # reshuffled per epoch
    again = MaskRCNNBatches(dataset, PipelineConfig(), seed=5)
    assert again.pass_order(0)[0].tolist() == first.tolist()  # the order is a function of (seed, pass)
    assert again.pass_order(1)[0].tolist() == second.tolist()


def test_the_last_batch_is_completed_with_the_first_images_of_the_epoch():
    batches = MaskRCNNBatches(ShapesDataset(10), PipelineConfig(), seed=1)
    ids, occurrences = batches.pass_order(0)
    assert len(batches) == 4 and len(ids) == 12
    assert sorted(ids[:10].tolist()) == list(range(10))
    assert ids[10:].tolist() == ids[:2].tolist() and occurrences.tolist() == [0] * 10 + [1, 1]


@pytest.mark.jax
def test_batches_are_identical_whatever_the_workers():
    dataset = ShapesDataset(9)
    make = dict(dataset=dataset, config=PipelineConfig(), augmentation=make_augmentation("first_place", cutout=True),
                multiscale=MultiScale(60, 160, 200), seed=11)
    single = [MaskRCNNBatches(**make)[i] for i in range(3)]
    _, processes = epochs_through_keras(MaskRCNNBatches(**make, workers=3, use_multiprocessing=True), 1)[0]
    _, threads = epochs_through_keras(MaskRCNNBatches(**make, workers=3), 1)[0]
    assert_same_batches(single, processes)
    assert_same_batches(single, threads)


def test_set_epoch_resumes_the_order_and_augmentation_of_that_epoch():
    dataset = ShapesDataset(6)
    walked = MaskRCNNBatches(dataset, PipelineConfig(), augmentation=make_augmentation("seed"), seed=2)
    walked.on_epoch_end()
    walked.on_epoch_end()
    resumed = MaskRCNNBatches(dataset, PipelineConfig(), augmentation=make_augmentation("seed"), seed=2)
    resumed.set_epoch(2)
    assert_same_batches([walked[0], walked[1]], [resumed[0], resumed[1]])
    fresh = MaskRCNNBatches(dataset, PipelineConfig(), augmentation=make_augmentation("seed"), seed=2)
    assert not np.array_equal(fresh[0]["input_image"], walked[0]["input_image"])


def test_validation_batches_are_the_same_every_epoch_in_dataset_order():
    dataset = ShapesDataset(7)
    validation = MaskRCNNBatches(dataset, PipelineConfig(IMAGE_RESIZE_MODE="crop"), training=False, seed=4)
    (first, first_batches), (second, second_batches) = epochs_through_keras(validation, 2)
    assert first.tolist() == list(range(7)) + [0, 1]
    assert_same_batches(first_batches, second_batches)  # crops included
    with pytest.raises(ConfigError, match="validation"):
        MaskRCNNBatches(dataset, PipelineConfig(), training=False, augmentation=make_augmentation("seed"))


# ------------------------------------------------------------------------------------------------- broken images


def test_a_broken_image_is_reported_and_replaced_by_a_good_one_of_its_batch(caplog, tmp_path):
    dataset = ShapesDataset(6, broken={4})
    log_file = tmp_path / "broken.jsonl"
    batches = MaskRCNNBatches(dataset, PipelineConfig(), training=False, broken_log=log_file)
    with caplog.at_level(logging.WARNING):
        batch = batches[1]  # images 3, 4, 5
    assert "shapes/4.png" in caplog.text and "truncated" in caplog.text
    ids = batch["input_image_meta"][:, 0].astype(int).tolist()
    assert ids == [3, 3, 5]  # slot of 4 holds a copy of the first good image
    np.testing.assert_array_equal(batch["input_image"][1], batch["input_image"][0])
    [report] = batches.broken_images
    assert (report.image_id, report.reference, report.epoch) == (4, "shapes/4.png", 0)
    assert "truncated" in report.error and log_file.read_text().count("\n") == 1
    with pytest.raises(DataError, match="shapes/4.png"):
        build_batch(dataset, [3, 4], PipelineConfig())  # without a handler the error surfaces


def test_a_batch_of_only_broken_images_is_blank_and_adds_no_rpn_loss():
    config = PipelineConfig()
    batch = build_batch(ShapesDataset(3, broken={1, 2}), [1, 2], config, on_broken=lambda report: None)
    np.testing.assert_allclose(batch["input_image"] + config.MEAN_PIXEL, 0, atol=1e-4)
    assert not batch["input_rpn_match"].any() and not batch["input_gt_class_ids"].any()
    assert batch["input_image_meta"][:, 0].tolist() == [1, 2]


def test_worker_processes_report_broken_images_to_the_caller():
    batches = MaskRCNNBatches(ShapesDataset(9, broken={2, 7}), PipelineConfig(), seed=0, workers=2,
                              use_multiprocessing=True)
    (ids, _), = epochs_through_keras(batches, 1)
    assert sorted(report.image_id for report in batches.broken_images) == [2, 7]
    assert 2 not in ids.tolist() and 7 not in ids.tolist() and len(ids) == 9


# -------------------------------------------------------------------------- the competition data, on disk


def test_competition_layout_loads_reduced_and_survives_a_corrupt_jpeg_and_a_bad_rle(demo_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_data, data)
    frame = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    image_ids = list(dict.fromkeys(frame["ImageId"]))
    (data / "train" / image_ids[2]).write_bytes(b"\xff\xd8 not really a jpeg")
    frame.loc[frame["ImageId"] == image_ids[3], "EncodedPixels"] = "5 2 1 3"  # unsorted runs
    frame.to_csv(data / "train.csv", index=False)
    dataset = FashionDataset.from_data_dir(data)
    config = PipelineConfig(NUM_CLASSES=47, IMAGES_PER_GPU=4, MAX_GT_INSTANCES=40)
    batches = MaskRCNNBatches(dataset, config, training=False)
    all_batches = [batches[i] for i in range(len(batches))]
    broken = {report.image_id: report.error for report in batches.broken_images}
    assert sorted(broken) == [2, 3]
    assert image_ids[2] in broken[2] and "train.csv line" in broken[3]
    sizes = [dataset.image_size(i) for i in dataset.image_ids]
    large = int(np.argmax([max(size) for size in sizes]))
    assert max(sizes[large]) == 1200  # the demo's large image: decoded reduced to 128 on its long side
    meta = all_batches[large // 4]["input_image_meta"][large % 4]
    assert meta[0] == large and meta[1:3].tolist() == list(sizes[large])
    assert meta[11] == pytest.approx(128 / 1200)
    assert all(b["input_gt_class_ids"].any() for b in all_batches)
