"""Run directories: matterport's checkpoint names, and where ``--weights last`` or a checkpoint path resumes."""

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from fashion_seg.errors import WeightsError
from fashion_seg.trainer.runs import (
    ResumePoint,
    best_checkpoint_name,
    checkpoint_name,
    newest_resume_point,
    parse_resume_point,
    set_aside_later_checkpoints,
)


def touch(path: Path, mtime_ns: int | None = None) -> Path:
    """An empty but whole weights file (``--weights last`` passes over files that do not read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = np.array([b"none"])
        handle.create_group("none").attrs["weight_names"] = np.array([], dtype="S1")
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_checkpoint_names_follow_matterport():
    assert checkpoint_name("Fashion", 7) == "mask_rcnn_fashion_0007.h5"
    assert checkpoint_name("fashion", 12, "interrupted") == "mask_rcnn_fashion_0012_interrupted.h5"
    assert checkpoint_name("fashion", 0, "last_good") == "mask_rcnn_fashion_0000_last_good.h5"
    assert best_checkpoint_name("Fashion") == "mask_rcnn_fashion_best.h5"


def test_a_checkpoint_of_a_run_is_a_resume_point(tmp_path):
    run = tmp_path / "fashion20190601T1230"
    assert parse_resume_point(run / "mask_rcnn_fashion_0012.h5", "fashion") == \
        ResumePoint(run / "mask_rcnn_fashion_0012.h5", 12, None)
    point = parse_resume_point(run / "mask_rcnn_fashion_0003_interrupted.h5", "FASHION")
    assert (point.epoch, point.reason, point.run_dir) == (3, "interrupted", run)
    assert "part of epoch 4" in point.describe()
    point = parse_resume_point(run / "mask_rcnn_fashion_0003_last_good.h5", "fashion")
    assert (point.epoch, point.reason) == (3, "last_good")
    assert "epoch 4, before a non-finite loss" in point.describe()


@pytest.mark.parametrize("path", [
    "fashion20190601T1230/mask_rcnn_fashion_best.h5",       # not an epoch
    "fashion20190601T1230/mask_rcnn_coco.h5",               # starting weights
    "fashion20190601T1230/mask_rcnn_other_0003.h5",         # another config's name
    "other20190601T1230/mask_rcnn_fashion_0003.h5",         # in another config's run
    "weights/mask_rcnn_fashion_0003.h5",                    # not in a run directory
    "fashion20190601T1230/mask_rcnn_fashion_0003_old.h5",   # unknown suffix
])
def test_other_files_are_starting_weights(tmp_path, path):
    assert parse_resume_point(tmp_path / path, "fashion") is None


def test_last_resumes_the_newest_run_at_its_newest_checkpoint(tmp_path):
    older = tmp_path / "fashion20190601T1230"
    newer = tmp_path / "fashion20190602T0800"
    touch(older / "mask_rcnn_fashion_0009.h5")
    touch(newer / "mask_rcnn_fashion_0001.h5")
    touch(newer / "mask_rcnn_fashion_0002.h5")
    touch(newer / "mask_rcnn_fashion_best.h5")
    touch(tmp_path / "other20190603T0000" / "mask_rcnn_other_0005.h5")  # another config: not a candidate
    (tmp_path / "fashion20190604T0000").mkdir()  # newest, but nothing saved yet
    assert newest_resume_point(tmp_path, "fashion") == ResumePoint(newer / "mask_rcnn_fashion_0002.h5", 2)

    # a stop checkpoint in epoch 3 is newer than the complete epoch 2
    touch(newer / "mask_rcnn_fashion_0002_interrupted.h5")
    assert newest_resume_point(tmp_path, "fashion").path.name == "mask_rcnn_fashion_0002_interrupted.h5"
    # ... and older than a complete epoch 3
    touch(newer / "mask_rcnn_fashion_0003.h5")
    assert newest_resume_point(tmp_path, "fashion").path.name == "mask_rcnn_fashion_0003.h5"


def test_of_two_stop_checkpoints_of_one_epoch_the_later_written_wins(tmp_path):
    run = tmp_path / "fashion20190601T1230"
    touch(run / "mask_rcnn_fashion_0004_last_good.h5", mtime_ns=2_000_000_000)
    touch(run / "mask_rcnn_fashion_0004_interrupted.h5", mtime_ns=1_000_000_000)
    assert newest_resume_point(tmp_path, "fashion").reason == "last_good"


def test_last_without_any_checkpoint_says_what_to_do(tmp_path):
    (tmp_path / "fashion20190601T1230").mkdir()
    for model_dir in (tmp_path, tmp_path / "missing"):
        with pytest.raises(WeightsError, match=r"no checkpoint of 'fashion' under .*--weights coco"):
            newest_resume_point(model_dir, "fashion")


def test_resuming_from_an_earlier_checkpoint_sets_the_later_ones_aside(tmp_path):
    run = tmp_path / "fashion20190601T1230"
    for name in ("0001", "0002", "0002_interrupted", "0003", "0004_last_good", "best"):
        touch(run / f"mask_rcnn_fashion_{name}.h5")
    point = parse_resume_point(run / "mask_rcnn_fashion_0002.h5", "fashion")
    moved = set_aside_later_checkpoints(point, "fashion")
    assert [p.name for p in moved] == ["mask_rcnn_fashion_0002_interrupted.h5.superseded",
                                       "mask_rcnn_fashion_0003.h5.superseded",
                                       "mask_rcnn_fashion_0004_last_good.h5.superseded"]
    assert sorted(p.name for p in run.glob("*.h5")) == [
        "mask_rcnn_fashion_0001.h5", "mask_rcnn_fashion_0002.h5", "mask_rcnn_fashion_best.h5"]
    assert all(p.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n" for p in moved)  # renamed, not lost
    assert newest_resume_point(tmp_path, "fashion") == point  # --weights last now finds the resumed checkpoint
