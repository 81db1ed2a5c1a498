"""``history.csv``: one row per epoch, kept across resumes, rewritten atomically."""

import math

import pandas as pd
import pytest

from fashion_seg.trainer.history import COLUMNS, OPTIONAL_COLUMNS, HistoryFile


def epoch_row(epoch: int, stage: int = 1, layers: str = "heads", loss: float = 1.0, **more) -> dict:
    return {"epoch": epoch, "stage": stage, "layers": layers, "learning_rate": 0.02, "loss": loss,
            "val_loss": loss + 0.5, "seconds": 3.25, "images_per_second": 12.5, **more}


def test_rows_round_trip_through_the_file(tmp_path):
    history = HistoryFile(tmp_path / "history.csv")
    assert list(history.read().columns) == list(COLUMNS) and history.read().empty  # no file yet
    history.append(epoch_row(1, loss=2.5, rpn_class_loss=0.125))
    history.append(epoch_row(2, stage=2, layers="all", loss=1.75, val_metric=0.3125))

    frame = HistoryFile(tmp_path / "history.csv").read()
    assert list(frame.columns) == list(COLUMNS)
    assert frame["epoch"].tolist() == [1, 2] and frame["stage"].tolist() == [1, 2]
    assert frame["layers"].tolist() == ["heads", "all"]
    assert frame["loss"].tolist() == [2.5, 1.75] and frame["val_loss"].tolist() == [3.0, 2.25]
    assert frame["rpn_class_loss"].iloc[0] == 0.125 and math.isnan(frame["rpn_class_loss"].iloc[1])
    assert math.isnan(frame["val_metric"].iloc[0]) and frame["val_metric"].iloc[1] == 0.3125  # empty when not computed
    written = [c for c in COLUMNS if c not in OPTIONAL_COLUMNS]  # no attribute loss: its columns are left out
    assert pd.read_csv(tmp_path / "history.csv").columns.tolist() == written


def test_a_rewritten_epoch_replaces_it_and_the_epochs_after_it(tmp_path):
    history = HistoryFile(tmp_path / "history.csv")
    for epoch in (1, 2, 3):
        history.append(epoch_row(epoch, loss=10.0 - epoch))
    frame = history.append(epoch_row(2, loss=0.5))  # resumed from the checkpoint of epoch 1
    assert frame["epoch"].tolist() == [1, 2] and frame["loss"].tolist() == [9.0, 0.5]
    assert history.read()["loss"].tolist() == [9.0, 0.5]


def test_keep_until_drops_the_rows_of_later_epochs(tmp_path):
    history = HistoryFile(tmp_path / "history.csv")
    for epoch in (1, 2, 3):
        history.append(epoch_row(epoch))
    history.keep_until(3)
    assert history.read()["epoch"].tolist() == [1, 2, 3]
    history.keep_until(1)
    assert history.read()["epoch"].tolist() == [1]
    history.keep_until(0)
    assert history.read().empty


@pytest.mark.parametrize("value", [float("nan"), None])
def test_missing_values_are_written_empty(tmp_path, value):
    history = HistoryFile(tmp_path / "history.csv")
    history.append(epoch_row(1, val_metric=value))
    header, line = (text.split(",") for text in (tmp_path / "history.csv").read_text().splitlines()[:2])
    assert line[header.index("val_metric")] == ""
