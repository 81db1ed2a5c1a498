"""Run directories are stamped to the second; matterport's minute stamps are still read and ordered by time."""

import datetime

from fashion_seg.mrcnn.run_names import CHECKPOINT, RUN_DIR, run_stamp, stamp_order


def test_two_runs_started_in_the_same_minute_get_different_directories():
    first = run_stamp(datetime.datetime(2026, 12, 6, 19, 5, 1))
    second = run_stamp(datetime.datetime(2026, 12, 6, 19, 5, 2))
    assert (first, second) == ("20261206T190501", "20261206T190502")
    assert RUN_DIR.match(f"fashion{first}")["stamp"] == first


def test_minute_and_second_stamps_sort_by_time():
    names = ["fashion20261206T1906", "fashion20261206T190559", "fashion20261206T1905", "fashion20261206T190600"]
    ordered = sorted(names, key=lambda name: stamp_order(RUN_DIR.match(name)["stamp"]))
    assert ordered == ["fashion20261206T1905", "fashion20261206T190559", "fashion20261206T1906",
                       "fashion20261206T190600"]


def test_a_checkpoint_path_names_its_run_and_epoch_in_either_form():
    for stamp in ("20190601T1230", "20190601T123045"):
        match = CHECKPOINT.match(f"/logs/fashion{stamp}/mask_rcnn_fashion_0007.h5")
        assert (match["name"], match["stamp"], match["epoch"]) == ("fashion", stamp, "0007")
    assert RUN_DIR.match("fashion20190601T12304") is None  # neither a minute nor a second stamp
