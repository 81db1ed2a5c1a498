"""``StepsPerEpoch`` under Keras's ``fit``: epochs of ``steps`` batches laid end to end over the passes of the
pipeline, each epoch of ``fit`` (also from an ``initial_epoch``: a resumed run) served its own batches."""

import keras
import numpy as np
import pytest

from fashion_seg.mrcnn.train_batches import FollowEpochs
from fashion_seg.trainer.batches import StepsPerEpoch

pytestmark = pytest.mark.jax


class Passes:
    """Stands for :class:`fashion_seg.data.pipeline.MaskRCNNBatches`: ``batches`` batches per pass; remembers which
    ``(pass, batch)`` positions were asked for, in order."""

    def __init__(self, batches: int, training: bool = True):
        self.batches = batches
        self.training = training
        self.asked = []
        self.dataset = self

    def __len__(self):
        return self.batches

    def batch_at(self, pass_index, index):
        self.asked.append((pass_index, index))
        return np.full((2, 1), 100.0 * pass_index + index, "float32"), np.zeros((2, 1), "float32")

    def batch_image_ids(self, pass_index, index):
        return np.array([10 * pass_index + 2 * index, 10 * pass_index + 2 * index + 1])

    def image_reference(self, image_id):
        return f"train/{image_id}.jpg"


def fit(batches: StepsPerEpoch, initial_epoch: int, epochs: int) -> None:
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    batches.set_epoch(initial_epoch)
    model.fit(batches, initial_epoch=initial_epoch, epochs=epochs, steps_per_epoch=len(batches), shuffle=False,
              verbose=0, callbacks=[FollowEpochs(batches)])


def test_epochs_cut_the_stream_of_passes():
    steps = StepsPerEpoch(Passes(batches=3), steps=2)
    # epoch 0: pass 0 batches 0-1; epoch 1: pass 0 batch 2, pass 1 batch 0; epoch 2: pass 1 batches 1-2
    assert [steps.position(i, epoch) for epoch in range(3) for i in range(2)] == [
        (0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert steps.image_references(1, epoch=1) == ["train/10.jpg", "train/11.jpg"]
    with pytest.raises(IndexError):
        steps[2]


@pytest.mark.parametrize("initial_epoch", [0, 2])
def test_fit_trains_each_epoch_on_its_own_batches(initial_epoch):
    passes = Passes(batches=3)
    fit(StepsPerEpoch(passes, steps=2), initial_epoch, epochs=initial_epoch + 2)
    trained = passes.asked[-4:]  # Keras first peeks at a batch or two to learn their shapes
    expected = [divmod(epoch * 2 + i, 3) for epoch in (initial_epoch, initial_epoch + 1) for i in range(2)]
    assert trained == expected


def test_validation_batches_are_the_first_of_their_pass_every_epoch():
    passes = Passes(batches=5, training=False)
    batches = StepsPerEpoch(passes, steps=2)
    fit(batches, 0, epochs=2)
    assert passes.asked[-4:] == [(0, 0), (0, 1), (0, 0), (0, 1)]
    assert len(StepsPerEpoch(Passes(batches=1, training=False), steps=3)) == 1  # at most one pass
