"""TrainingBatches: matterport's STEPS_PER_EPOCH epochs over an endless stream of seeded passes over the images."""

import numpy as np
import pytest

from fashion_seg.data.batches import INPUT_NAMES
from fashion_seg.errors import DataError
from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.dataset import Dataset
from fashion_seg.mrcnn.train_batches import TrainingBatches


class Squares(Dataset):
    """Five 64x64 images, image i holding a square of side 10 + 4 i (so batches tell which image they hold)."""

    def __init__(self, broken=()):
        super().__init__()
        self.add_class("toy", 1, "square")
        self.broken = set(broken)
        for index in range(5):
            self.add_image("toy", index, None)
        self.prepare()

    def load_image(self, image_id):
        if image_id in self.broken:
            raise DataError("unreadable")
        return np.zeros((64, 64, 3), np.uint8)

    def load_mask(self, image_id):
        mask = np.zeros((64, 64, 1), bool)
        mask[5:15 + 4 * image_id, 5:15 + 4 * image_id] = True
        return mask, np.array([1], np.int32)


CONFIG = Config(NAME="batches", NUM_CLASSES=2, BACKBONE="resnet_tiny", IMAGE_MIN_DIM=64, IMAGE_MAX_DIM=64,
                IMAGES_PER_GPU=2, MAX_GT_INSTANCES=2, MINI_MASK_SHAPE=(28, 28), RPN_ANCHOR_SCALES=(8, 16, 32, 64, 128))


def _images(batch):
    """Image ids of a batch, read back from the GT box sizes."""
    return [int(round((box[2] - box[0] - 10) / 4)) for box in batch["input_gt_boxes"][:, 0]]


def test_every_image_once_per_pass_and_epochs_of_steps_batches():
    batches = TrainingBatches(Squares(), CONFIG, steps=3, seed=7)
    seen = []
    for epoch in range(2):
        assert len(batches) == 3
        for index in range(len(batches)):
            batch = batches[index]
            assert set(batch) == set(INPUT_NAMES) and batch["input_image"].shape == (2, 64, 64, 3)
            seen.extend(_images(batch))
        batches.on_epoch_end()
    assert len(seen) == 12
    assert sorted(seen[:5]) == sorted(seen[5:10]) == list(range(5))  # passes of the 5 images, each shuffled
    assert seen[:5] != seen[5:10]


def test_batches_are_a_function_of_seed_epoch_and_index():
    first = TrainingBatches(Squares(), CONFIG, steps=3, seed=7)
    resumed = TrainingBatches(Squares(), CONFIG, steps=3, seed=7)
    resumed.set_epoch(1)
    first.on_epoch_end()
    for name in INPUT_NAMES:
        np.testing.assert_array_equal(first[2][name], resumed[2][name])
    other_seed = TrainingBatches(Squares(), CONFIG, steps=3, seed=8)
    assert [other_seed.image_at(p) for p in range(5)] != [first.image_at(p) for p in range(5)]


def test_validation_batches_walk_the_dataset_in_order_every_epoch():
    batches = TrainingBatches(Squares(), CONFIG, steps=2, training=False)
    assert _images(batches[0]) + _images(batches[1]) == [0, 1, 2, 3]
    batches.on_epoch_end()
    assert _images(batches[0]) == [0, 1]


def test_a_broken_image_is_replaced_by_the_next_one(caplog):
    batches = TrainingBatches(Squares(broken={1}), CONFIG, steps=2, training=False)
    assert _images(batches[0]) == [0, 2]
    assert "skipping image 1" in caplog.text
    with pytest.raises(DataError, match="none of the 5 images"):
        TrainingBatches(Squares(broken=range(5)), CONFIG, steps=1, training=False)[0]
