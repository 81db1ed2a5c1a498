"""The per-epoch record of a run (history row, loss curve, best checkpoint) and the run's clock, without a network:
the checkpoint files a real run writes before each epoch's record are written here by hand."""

import json

import pytest

from fashion_seg.trainer import callbacks
from fashion_seg.trainer.callbacks import EpochRecorder, ProgressBar, RunClock, format_seconds
from fashion_seg.trainer.history import HistoryFile


def record_epochs(run_dir, epochs, metric_on=True, stage=1, layers="heads"):
    """Feed ``EpochRecorder`` the epochs ``{epoch (1-based): logs}`` as Keras would, each after its checkpoint
    (whose bytes name the epoch) has been written."""
    recorder = EpochRecorder(str(run_dir), "Tiny", RunClock(final_epoch=10), stage, layers,
                             lambda epoch: 0.02 * 0.5 ** epoch, batch_size=4, steps=3, metric_on=metric_on)
    for epoch, logs in epochs.items():
        (run_dir / f"mask_rcnn_tiny_{epoch:04d}.h5").write_bytes(f"weights of epoch {epoch}".encode())
        recorder.on_epoch_begin(epoch - 1)
        for step in range(3):
            recorder.on_train_batch_end(step, {"loss": logs["loss"]})
        recorder.on_epoch_end(epoch - 1, dict(logs))
    return recorder


@pytest.fixture
def curves_drawn(monkeypatch):
    """The epochs each loss-curve redraw showed, instead of drawing them (0.8 s a chart; one test draws for real)."""
    drawn = []
    monkeypatch.setattr(callbacks, "loss_curves", lambda frame, path, title="": drawn.append(list(frame["epoch"])))
    return drawn


def best_of(run_dir):
    return json.loads((run_dir / "best.json").read_text()), (run_dir / "mask_rcnn_tiny_best.h5").read_bytes()


def test_the_best_checkpoint_follows_the_validation_metric(tmp_path, curves_drawn):
    recorder = record_epochs(tmp_path, {
        1: {"loss": 3.0, "val_loss": 2.0, "val_metric": 0.10},
        2: {"loss": 2.0, "val_loss": 0.5},                       # lowest val_loss, but no metric that epoch
        3: {"loss": 1.5, "val_loss": 1.0, "val_metric": 0.30},
        4: {"loss": 1.2, "val_loss": 0.9, "val_metric": 0.20},
    })
    best, weights = best_of(tmp_path)
    assert best == {"epoch": 3, "monitor": "val_metric", "value": pytest.approx(0.30),
                    "checkpoint": "mask_rcnn_tiny_0003.h5"}
    assert weights == b"weights of epoch 3"
    assert curves_drawn == [[1]]  # four quick epochs: drawn after the first, then not again within 30 s
    recorder.on_train_end()
    assert curves_drawn == [[1], [1, 2, 3, 4]]  # the stage's end draws what was left out
    recorder.on_train_end()
    assert len(curves_drawn) == 2  # nothing left out: not redrawn


def test_the_loss_curve_is_redrawn_at_most_every_30_seconds(tmp_path, curves_drawn, monkeypatch):
    clock = iter([0.0, 10.0, 29.0, 31.0, 40.0, 70.0])  # time.monotonic() at the end of epochs 1-6
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: next(clock, 1000.0))
    epochs = {epoch: {"loss": 1.0 / epoch, "val_loss": 1.0} for epoch in range(1, 7)}
    record_epochs(tmp_path, epochs, metric_on=False)
    assert [frame[-1] for frame in curves_drawn] == [1, 4, 6]


def test_a_resumed_run_keeps_its_best_until_beaten(tmp_path, curves_drawn):
    record_epochs(tmp_path, {1: {"loss": 3.0, "val_loss": 2.0, "val_metric": 0.30}})
    record_epochs(tmp_path, {2: {"loss": 2.0, "val_loss": 1.0, "val_metric": 0.25}}, stage=2, layers="all")
    assert best_of(tmp_path)[0]["epoch"] == 1
    record_epochs(tmp_path, {3: {"loss": 1.0, "val_loss": 0.8, "val_metric": 0.45}}, stage=2, layers="all")
    best, weights = best_of(tmp_path)
    assert (best["epoch"], weights) == (3, b"weights of epoch 3")


def test_without_the_metric_the_lowest_validation_loss_is_best(tmp_path, curves_drawn):
    record_epochs(tmp_path, {
        1: {"loss": 3.0, "val_loss": 2.0},
        2: {"loss": 2.0, "val_loss": 0.7},
        3: {"loss": 1.0, "val_loss": float("nan")},  # never best
        4: {"loss": 0.9, "val_loss": 0.9},
    }, metric_on=False)
    best, weights = best_of(tmp_path)
    assert (best["epoch"], best["monitor"], best["value"]) == (2, "val_loss", pytest.approx(0.7))
    assert weights == b"weights of epoch 2"


def test_each_epoch_adds_a_history_row_and_redraws_the_curve(tmp_path):
    recorder = record_epochs(tmp_path, {1: {"loss": 3.0, "val_loss": 2.0, "mrcnn_mask_loss": 0.5},
                                        2: {"loss": 2.0, "val_loss": 1.5, "mrcnn_mask_loss": 0.25}},
                             metric_on=False, stage=2, layers="4+")
    frame = HistoryFile(tmp_path / "history.csv").read()
    assert frame["epoch"].tolist() == [1, 2] and frame["stage"].tolist() == [2, 2]
    assert frame["layers"].tolist() == ["4+", "4+"]
    assert frame["learning_rate"].tolist() == [0.02, 0.01]  # the schedule's rate at each epoch's first step
    assert frame["mrcnn_mask_loss"].tolist() == [0.5, 0.25]
    assert (frame["images_per_second"] > 0).all() and (frame["seconds"] >= 0).all()
    assert (tmp_path / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(recorder.clock.epoch_seconds) == 2


def test_the_progress_bar_moves_the_clock():
    clock = RunClock(final_epoch=3, epoch=1, finished=1)  # resumed after epoch 1
    bar = ProgressBar(clock, batch_size=4, steps=2, stage_label="all")
    bar.on_epoch_begin(1)
    bar.on_train_batch_end(0, {"loss": 2.0})
    assert (clock.epoch, clock.step, clock.finished) == (1, 1, 1)
    bar.on_train_batch_end(1, {"loss": 1.0})
    bar.on_epoch_end(1)
    assert (clock.epoch, clock.step, clock.finished) == (1, 2, 2)
    assert bar.bar is None  # closed


def test_the_run_eta_counts_the_later_epochs_at_the_mean_epoch_time():
    clock = RunClock(final_epoch=5, epoch=2, epoch_seconds=[10.0, 20.0])
    assert clock.eta_seconds(4.0) == 4.0 + 2 * 15.0  # epochs 4 and 5 (1-based) still to come
    assert RunClock(final_epoch=3).eta_seconds(7.0) == 7.0  # nothing measured yet


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (59.6, "1:00"), (61, "1:01"), (3600 + 62, "1:01:02")])
def test_durations_read_like_a_clock(seconds, text):
    assert format_seconds(seconds) == text
