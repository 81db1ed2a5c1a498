"""A NaN in the data stops the run cleanly: :class:`TrainingStopped` names the epoch, the step and the images of the
bad batch; the last good weights are saved as a checkpoint that ``--weights last`` continues from."""

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest

from fashion_seg.mrcnn.pipeline import MaskRCNNBatches
from fashion_seg.trainer.session import TrainingRequest, TrainingStopped, run_training


@dataclass
class StoppedRun:
    model_dir: Path
    run_dir: Path
    message: str
    bad_images: list[str]  # the images of the batch that held the NaN image
    profiles: dict


@pytest.fixture(scope="module")
def stopped_run(tiny_demo, make_profile, tiny_config, tmp_path_factory) -> StoppedRun:
    """A run of ``all:2`` whose batch at step 1 of epoch 2 begins with an all-NaN image."""
    served = []
    original = MaskRCNNBatches.__getitem__

    def poisoned(self, index):
        batch = original(self, index)
        if self.training and self.position(index) == self.position(0, epoch=1):
            served.append(self.image_references(index))
            image = batch["input_image"].copy()
            image[0] = np.nan
            batch = {**batch, "input_image": image}
        return batch

    model_dir = tmp_path_factory.mktemp("logs")
    profiles = {"tiny": make_profile(tiny_demo, "all:2")}
    keras.utils.set_random_seed(2)
    with pytest.MonkeyPatch.context() as patch, pytest.raises(TrainingStopped) as stopped:
        patch.setattr(MaskRCNNBatches, "__getitem__", poisoned)
        run_training(TrainingRequest(weights="none", model_dir=str(model_dir), progress=False), profiles,
                     tiny_config, "tiny")
    (run_dir,) = model_dir.iterdir()
    (images,) = served
    return StoppedRun(model_dir, run_dir, str(stopped.value), images, profiles)


@pytest.mark.jax
def test_a_nan_stops_the_run_with_a_checkpoint_of_the_last_good_weights(stopped_run, tiny_demo, read_checkpoint):
    run_dir, message, images = stopped_run.run_dir, stopped_run.message, stopped_run.bad_images
    last_good = run_dir / "mask_rcnn_tiny_0001_last_good.h5"
    # The NaN shows in the loss, or (where ReLU and max-pooling map NaN to 0) only in the gradients: the weights
    what = ("non-finite loss (nan)", "non-finite weights")[message.startswith("non-finite weights")]
    finite_loss = " (the loss was finite; a gradient was not)" if what == "non-finite weights" else ""
    assert message == (f"{what} at epoch 2, step 1 of 2{finite_loss} (images: {', '.join(images)}): training "
                       f"stopped; the last good weights (at the end of epoch 1) are in {last_good}. Lower "
                       "LEARNING_RATE (--set LEARNING_RATE=...) or fix the data, then --weights last")
    assert len(images) == 2 and all(str(tiny_demo / "train") in image for image in images)

    # epoch 1 was finished and saved; epoch 2 was not
    files = sorted(p.name for p in run_dir.glob("*.h5"))
    assert files == ["mask_rcnn_tiny_0001.h5", last_good.name, "mask_rcnn_tiny_best.h5"]
    assert (run_dir / "history.csv").read_text().count("\n") == 2  # the header and epoch 1

    # the saved weights are those of the end of epoch 1, finite, not the NaN ones training ended with
    weights = read_checkpoint(last_good)
    epoch_1 = read_checkpoint(run_dir / "mask_rcnn_tiny_0001.h5")
    assert weights.keys() == epoch_1.keys()
    for layer, arrays in weights.items():
        for array, saved in zip(arrays, epoch_1[layer]):
            assert np.isfinite(array).all() and np.array_equal(array, saved), layer


def test_with_the_data_fixed_last_continues_from_the_last_good_weights(stopped_run, tiny_config, read_checkpoint):
    result = run_training(TrainingRequest(weights="last", model_dir=str(stopped_run.model_dir), progress=False),
                          stopped_run.profiles, tiny_config, "tiny")
    run_dir = stopped_run.run_dir
    assert (result.run_dir, result.first_epoch, result.last_epoch) == (run_dir, 2, 2)
    assert result.checkpoint == run_dir / "mask_rcnn_tiny_0002.h5"
    assert f"resuming from {run_dir / 'mask_rcnn_tiny_0001_last_good.h5'} (the last good weights of epoch 2" in \
        (run_dir / "train.log").read_text()
    assert all(np.isfinite(a).all() for arrays in read_checkpoint(result.checkpoint).values() for a in arrays)
    assert (run_dir / "history.csv").read_text().count("\n") == 3
