"""MaskRCNNBatches with ``steps``: matterport's STEPS_PER_EPOCH epochs cut from an endless stream of seeded passes
over the images, under Keras's ``fit`` too (each epoch of ``fit``, also from an ``initial_epoch``, is served its own
batches)."""

import keras
import numpy as np
import pytest

from fashion_seg.errors import ConfigError
from fashion_seg.mrcnn.batches import INPUT_NAMES
from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.dataset import Dataset
from fashion_seg.mrcnn.pipeline import FollowEpochs, MaskRCNNBatches


class Squares(Dataset):
    """Five 64x64 images, image i holding a square of side 10 + 4 i (so batches tell which image they hold);
    images 3 and 4 come from the source "plain"."""

    def __init__(self):
        super().__init__()
        self.add_class("toy", 1, "square")
        self.add_class("plain", 1, "square")
        for index in range(5):
            self.add_image("toy" if index < 3 else "plain", index, f"squares/{index}.png")
        self.prepare()

    def image_reference(self, image_id):
        return self.image_info[image_id]["path"]

    def load_image(self, image_id):
        return np.full((64, 64, 3), 100, np.uint8)

    def load_mask(self, image_id):
        mask = np.zeros((64, 64, 1), bool)
        mask[5:15 + 4 * image_id, 5:15 + 4 * image_id] = True
        return mask, np.array([1], np.int32)


VALUES = dict(NAME="batches", NUM_CLASSES=3, BACKBONE="resnet_tiny", IMAGE_MIN_DIM=64, IMAGE_MAX_DIM=64,
              IMAGES_PER_GPU=2, MAX_GT_INSTANCES=2, MINI_MASK_SHAPE=(28, 28), RPN_ANCHOR_SCALES=(8, 16, 32, 64, 128))
CONFIG = Config(**VALUES)


def _images(batch):
    """Image ids of a batch, read back from the GT box sizes."""
    return [int(round((box[2] - box[0] - 10) / 4)) for box in batch["input_gt_boxes"][:, 0]]


def test_epochs_of_steps_batches_cut_the_stream_of_passes():
    batches = MaskRCNNBatches(Squares(), CONFIG, steps=2, seed=7)
    assert len(batches) == 2 and batches.pass_length == 3  # 5 images in batches of 2: the last one completed
    # epoch 0: pass 0 batches 0-1; epoch 1: pass 0 batch 2, pass 1 batch 0; epoch 2: pass 1 batches 1-2
    assert [batches.position(i, epoch) for epoch in range(3) for i in range(2)] == [
        (0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    seen = []
    for epoch in range(3):
        for index in range(len(batches)):
            batch = batches[index]
            assert set(batch) == set(INPUT_NAMES) and batch["input_image"].shape == (2, 64, 64, 3)
            seen.extend(_images(batch))
        batches.on_epoch_end()
    assert sorted(seen[:5]) == sorted(seen[6:11]) == list(range(5))  # each pass holds every image once
    assert seen[:5] != seen[6:11]  # each pass in its own order
    first_of_pass_1 = batches.pass_order(1)[0][:2].tolist()  # epoch 1's batch 1 is pass 1's batch 0
    assert batches.image_references(1, epoch=1) == [f"squares/{i}.png" for i in first_of_pass_1]
    with pytest.raises(IndexError):
        batches[2]


def test_batches_are_a_function_of_seed_epoch_and_index():
    walked = MaskRCNNBatches(Squares(), CONFIG, steps=3, seed=7)
    resumed = MaskRCNNBatches(Squares(), CONFIG, steps=3, seed=7)
    walked.on_epoch_end()
    resumed.set_epoch(1)
    for name in INPUT_NAMES:
        np.testing.assert_array_equal(walked[2][name], resumed[2][name])
    other_seed = MaskRCNNBatches(Squares(), CONFIG, steps=3, seed=8)
    assert other_seed.pass_order(0)[0].tolist() != walked.pass_order(0)[0].tolist()


def test_validation_walks_the_first_batches_of_the_dataset_in_order_every_epoch():
    batches = MaskRCNNBatches(Squares(), CONFIG, steps=2, training=False)
    assert _images(batches[0]) + _images(batches[1]) == [0, 1, 2, 3]
    batches.on_epoch_end()
    assert _images(batches[0]) == [0, 1]
    assert len(MaskRCNNBatches(Squares(), CONFIG, steps=9, training=False)) == 3  # at most one pass
    with pytest.raises(ConfigError, match="at least 1"):
        MaskRCNNBatches(Squares(), CONFIG, steps=0)


def test_images_of_a_no_augmentation_source_are_not_augmented():
    def brighten(image, masks, seed):
        return np.full_like(image, 250), masks

    batches = MaskRCNNBatches(Squares(), CONFIG, training=True, augmentation=brighten,
                              no_augmentation_sources={"plain"})
    ids, _ = batches.pass_order(0)
    pixels = {}
    for index in range(batches.pass_length):
        batch = batches.batch_at(0, index)
        for slot, image_id in enumerate(ids[2 * index:2 * index + 2]):
            pixels[int(image_id)] = float(batch["input_image"][slot, 32, 32, 0] + CONFIG.MEAN_PIXEL[0])
    assert pixels == pytest.approx({0: 250, 1: 250, 2: 250, 3: 100, 4: 100})


def test_attribute_targets_come_from_the_dataset_or_a_clear_error():
    with pytest.raises(ConfigError, match="Squares gives no attribute targets"):
        MaskRCNNBatches(Squares(), Config(**VALUES, ATTRIBUTE_HEAD=True, NUM_ATTRIBUTES=2))


class RecordingBatches(MaskRCNNBatches):
    """MaskRCNNBatches that remember which ``(pass, batch)`` positions were asked for, and serve a toy regression
    batch in their place (the value tells the position)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked = []

    def batch_at(self, pass_index, index):
        self.asked.append((pass_index, index))
        return np.full((2, 1), 100.0 * pass_index + index, "float32"), np.zeros((2, 1), "float32")


def fit(batches, initial_epoch: int, epochs: int) -> None:
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    batches.set_epoch(initial_epoch)
    model.fit(batches, initial_epoch=initial_epoch, epochs=epochs, steps_per_epoch=len(batches), shuffle=False,
              verbose=0, callbacks=[FollowEpochs(batches)])


@pytest.mark.jax
@pytest.mark.parametrize("initial_epoch", [0, 2])
def test_fit_trains_each_epoch_on_its_own_batches(initial_epoch):
    batches = RecordingBatches(Squares(), CONFIG, steps=2)  # passes of 3 batches
    fit(batches, initial_epoch, epochs=initial_epoch + 2)
    trained = batches.asked[-4:]  # Keras first peeks at a batch or two to learn their shapes
    expected = [divmod(epoch * 2 + i, 3) for epoch in (initial_epoch, initial_epoch + 1) for i in range(2)]
    assert trained == expected


@pytest.mark.jax
def test_validation_batches_are_the_first_of_their_pass_every_epoch():
    batches = RecordingBatches(Squares(), CONFIG, steps=2, training=False)
    fit(batches, 0, epochs=2)
    assert batches.asked[-4:] == [(0, 0), (0, 1), (0, 0), (0, 1)]
