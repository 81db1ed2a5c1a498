"""A run stopped by SIGTERM in its second stage, then continued with ``--weights last``, as a user would do it::

    python train.py --weights none --profile tiny --model-dir LOGS     # killed after step 1 of epoch 2 -> exit 130
    python train.py --weights last --model-dir LOGS                    # epochs 2-3, stage 2

The plan is ``heads:1,all:2:0.5``: epoch 1 trains the heads at LEARNING_RATE, epochs 2-3 all layers at half of it.
The data hold a truncated JPEG, which both sessions report and skip. Both sessions run once for the module; each
test checks one part of the story.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from fashion_seg.trainer import session
from fashion_seg.trainer.callbacks import ProgressBar


class SigtermAfter(ProgressBar):
    """The progress bar, plus a ``kill -TERM`` of this process once step ``STEP`` of epoch ``EPOCH`` (1-based) is
    done: what ``DGX_ssh_comm.py stop`` or a scheduler does to a running job."""

    EPOCH, STEP = 2, 1

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if (self.clock.epoch + 1, batch + 1) == (self.EPOCH, self.STEP):
            # the default action would end the test session: make sure training installed its own
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None)
            signal.raise_signal(signal.SIGTERM)


@dataclass
class Session:
    code: int
    stdout: str
    stderr: str
    files: list[str]  # the run directory's files after the session
    history: pd.DataFrame


@dataclass
class TwoSessions:
    run_dir: Path
    broken_image: Path
    interrupted: Session
    resumed: Session


@pytest.fixture(scope="module")
def two_sessions(tiny_demo_with_corrupt_image, make_profile, train_script, tmp_path_factory) -> TwoSessions:
    data_dir, broken = tiny_demo_with_corrupt_image
    logs = tmp_path_factory.mktemp("logs")
    script = train_script(make_profile(data_dir, "heads:1,all:2:0.5"))

    def session_record(code, stdout, stderr) -> Session:
        (run_dir,) = logs.iterdir()
        return Session(code, stdout, stderr, sorted(p.name for p in run_dir.iterdir()),
                       pd.read_csv(run_dir / "history.csv"))

    keras.utils.set_random_seed(0)
    handler_before = signal.getsignal(signal.SIGTERM)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(session, "ProgressBar", SigtermAfter)
        interrupted = session_record(*script("--weights", "none", "--profile", "tiny", "--model-dir", logs))
    assert signal.getsignal(signal.SIGTERM) is handler_before  # restored after the session
    resumed = session_record(*script("--weights", "last", "--model-dir", logs))
    (run_dir,) = logs.iterdir()
    return TwoSessions(run_dir, broken, interrupted, resumed)


def test_sigterm_saves_a_stop_checkpoint_and_exits_130(two_sessions, read_checkpoint):
    first = two_sessions.interrupted
    assert first.code == 130, first.stderr
    stop = two_sessions.run_dir / "mask_rcnn_tiny_0001_interrupted.h5"
    assert f"interrupted: interrupted in epoch 2, after step 1: saved {stop} (epoch 1 + 1 steps); continue with " \
           "--weights last" in first.stderr
    # epoch 1 finished and was saved; epoch 2 was not
    assert "mask_rcnn_tiny_0001.h5" in first.files and stop.name in first.files
    assert "mask_rcnn_tiny_0002.h5" not in first.files
    assert first.history["epoch"].tolist() == [1]
    # the stop checkpoint holds the weights after one step of stage 2: all layers moved, and they are finite
    weights, epoch_1 = read_checkpoint(stop), read_checkpoint(two_sessions.run_dir / "mask_rcnn_tiny_0001.h5")
    assert weights.keys() == epoch_1.keys()
    assert all(np.isfinite(a).all() for arrays in weights.values() for a in arrays)
    assert not np.array_equal(weights["conv1"][0], epoch_1["conv1"][0])


def test_last_resumes_at_epoch_2_in_the_second_stage(two_sessions, tiny_config):
    second = two_sessions.resumed
    assert second.code == 0, second.stderr
    run_dir = two_sessions.run_dir
    assert "trained epochs 2-3 in " in second.stdout and str(run_dir) in second.stdout
    assert f"last checkpoint: {run_dir / 'mask_rcnn_tiny_0003.h5'}" in second.stdout
    log = (run_dir / "train.log").read_text().split(f"run {run_dir} (resumed at epoch 2)")
    assert len(log) == 2, "train.log should hold the first session, then the resumed one"
    resumed_log = log[1]
    assert f"resuming from {run_dir / 'mask_rcnn_tiny_0001_interrupted.h5'} (epoch 1 and part of epoch 2" in \
        resumed_log
    assert "stage 1/2" not in resumed_log
    assert "stage 2/2: all layers, epochs 2-3, 2 steps of 2 images, learning rate 0.01" in resumed_log

    history = second.history
    rate = tiny_config.LEARNING_RATE
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history["stage"].tolist() == [1, 2, 2]
    assert history["layers"].tolist() == ["heads", "all", "all"]
    assert history["learning_rate"].tolist() == pytest.approx([rate, rate / 2, rate / 2])


def test_the_resumed_stage_trains_every_layer(two_sessions, read_checkpoint):
    files = two_sessions.resumed.files
    for epoch in (1, 2, 3):
        assert f"mask_rcnn_tiny_{epoch:04d}.h5" in files
    run_dir = two_sessions.run_dir
    stop = read_checkpoint(run_dir / "mask_rcnn_tiny_0001_interrupted.h5")
    epoch_2 = read_checkpoint(run_dir / "mask_rcnn_tiny_0002.h5")
    epoch_3 = read_checkpoint(run_dir / "mask_rcnn_tiny_0003.h5")
    # from the backbone's first layer to the classifier (the mask head learns only from positive ROIs, which a
    # network this young may not propose yet)
    for layer in ("conv1", "res5a_branch2a", "fpn_p2", "rpn_model", "mrcnn_class_logits"):
        assert not np.array_equal(epoch_2[layer][0], stop[layer][0]), layer
        assert not np.array_equal(epoch_3[layer][0], epoch_2[layer][0]), layer


def test_the_loss_falls_over_the_run(two_sessions):
    history = two_sessions.resumed.history
    assert np.isfinite(history[["loss", "val_loss"]].to_numpy()).all()
    assert history["loss"].iloc[-1] < 0.75 * history["loss"].iloc[0]
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]


def test_the_truncated_image_is_reported_and_skipped(two_sessions):
    broken = two_sessions.broken_image
    run_dir = two_sessions.run_dir
    for record in (two_sessions.interrupted, two_sessions.resumed):
        assert "broken_images.jsonl" in record.files
    lines = (run_dir / "broken_images.jsonl").read_text().splitlines()
    assert lines and all(broken.stem in line for line in lines)
    # reported once at the end of the session, with the file and why it was skipped
    printed = [line for line in two_sessions.resumed.stdout.splitlines() if line.startswith("skipped")]
    assert len(printed) == 1
    assert broken.stem in printed[0] and "unreadable image" in printed[0]
    # and the run went on around it
    assert two_sessions.resumed.history["epoch"].tolist() == [1, 2, 3]
