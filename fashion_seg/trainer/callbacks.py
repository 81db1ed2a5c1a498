"""Keras callbacks that watch a training run: a progress bar with ETA, a guard against non-finite losses, and the
per-epoch record (history, loss curve, best checkpoint, a summary line).

They run in the order given to ``fit`` and share the epoch's ``logs``: :class:`fashion_seg.trainer.val_metric.
ValidationMetric` adds ``val_metric`` before :class:`EpochRecorder` writes it.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from tqdm import tqdm

from ..atomic import atomic_path, atomic_write
from ..plots import loss_curves
from .history import HistoryFile
from .runs import BEST_FILE, CURVE_FILE, HISTORY_FILE, best_checkpoint_name, checkpoint_name

log = logging.getLogger(__name__)


@dataclass
class RunClock:
    """Where the run is, shared by the callbacks of one run: the epoch in progress (0-based), its step, the epochs
    finished (and checkpointed: :class:`ProgressBar` counts them right after the checkpoint callback), the run's
    last epoch, and the seconds of the epochs finished in this session (for the run's ETA)."""

    final_epoch: int
    epoch: int = 0
    step: int = 0
    finished: int = 0
    epoch_seconds: list[float] = field(default_factory=list)

    def eta_seconds(self, epoch_remaining: float) -> float:
        """Seconds left in the run: this epoch's remainder plus the later epochs at the mean epoch time so far."""
        later = self.final_epoch - self.epoch - 1
        mean = float(np.mean(self.epoch_seconds)) if self.epoch_seconds else 0.0
        return epoch_remaining + later * mean


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _float(value) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(value)).reshape(-1)[0])


class ProgressBar(keras.callbacks.Callback):
    """A tqdm bar per epoch: steps, images/s, the epoch's ETA (tqdm's) and the whole run's, and the running loss.
    With ``show`` False it only keeps the clock."""

    def __init__(self, clock: RunClock, batch_size: int, steps: int, stage_label: str, show: bool = True):
        super().__init__()
        self.clock = clock
        self.batch_size = batch_size
        self.steps = steps
        self.stage_label = stage_label
        self.show = show
        self.bar = None
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.clock.epoch, self.clock.step = epoch, 0
        self._started = time.perf_counter()
        self.bar = tqdm(total=self.steps, unit="step", desc=f"epoch {epoch + 1}/{self.clock.final_epoch} "
                        f"({self.stage_label})", dynamic_ncols=True, leave=False, smoothing=0.2,
                        disable=not self.show)

    def on_train_batch_end(self, batch, logs=None):
        self.clock.step = batch + 1
        if self.bar is None:
            return
        self.bar.update(1)
        elapsed = time.perf_counter() - self._started
        remaining = elapsed / (batch + 1) * (self.steps - batch - 1)
        self.bar.set_postfix_str(f"loss {_float(logs['loss']):.4f}, {self.batch_size * (batch + 1) / elapsed:.1f} "
                                 f"img/s, run ETA {format_seconds(self.clock.eta_seconds(remaining))}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        self.clock.finished = epoch + 1
        self.close()

    def on_train_end(self, logs=None):
        self.close()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class NonFiniteLoss(Exception):
    """Raised out of ``fit`` by :class:`NonFiniteGuard`: the loss of ``step`` (1-based) of ``epoch`` (1-based) was
    ``value``, on the ``images`` of that batch. ``good_weights`` are the last weights known good: those after step
    ``good_step`` of epoch ``good_epoch`` (step 0: at the start of that epoch); None if there were none (the
    starting weights were not finite)."""

    def __init__(self, epoch: int, step: int, steps: int, value: float, images: list[str], good_weights,
                 good_epoch: int, good_step: int, message: str | None = None):
        super().__init__(message or f"non-finite loss ({value}) at epoch {epoch}, step {step} of {steps}")
        self.epoch, self.step, self.steps, self.value, self.images = epoch, step, steps, value, images
        self.good_weights, self.good_epoch, self.good_step = good_weights, good_epoch, good_step


class NonFiniteWeights(NonFiniteLoss):
    """The loss stayed finite but the weights did not: a NaN or infinite gradient (e.g. from NaN pixels that reach
    the loss only through masked-out terms) in one of steps ``first`` to ``step`` of ``epoch``; ``step`` 0: the
    weights training started from."""

    def __init__(self, epoch: int, first: int, step: int, steps: int, images: list[str], good_weights,
                 good_epoch: int, good_step: int):
        if step == 0:
            message = f"non-finite weights at the start of epoch {epoch} (the starting weights)"
        else:
            where = f"step {step}" if first >= step else f"steps {first}-{step}"
            message = f"non-finite weights at epoch {epoch}, {where} of {steps} (the loss was finite; a gradient " \
                      "was not)"
        super().__init__(epoch, step, steps, float("nan"), images, good_weights, good_epoch, good_step, message)


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first step whose loss is NaN or infinite (:class:`NonFiniteLoss`), or once the weights
    are found NaN or infinite with a finite loss (:class:`NonFiniteWeights`), with the last good weights.

    The weights are copied to host memory after steps whose loss is finite, and checked. Copying every step would
    cost time on a big model, so the copies are spaced: each copy is timed, and the next one waits enough steps that
    copies take at most ``budget`` (1%) of the training time. A copy is taken before the first step, so a bad first
    step still leaves the starting weights, and after the last step of every epoch, so that no epoch ends (and is
    saved) with weights that are not finite.

    ``batches``: the training batches (:class:`fashion_seg.mrcnn.pipeline.MaskRCNNBatches`), to name the images of
    the bad step.
    """

    def __init__(self, batches=None, budget: float = 0.01):
        super().__init__()
        self.batches = batches
        self.budget = budget
        self.good = None  # (weights, epoch 1-based, step)
        self._epoch = 0
        self._interval = 1
        self._since = 0
        self._step_started = None
        self._step_seconds = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.good is None:
            self._snapshot(0)

    def on_train_batch_begin(self, batch, logs=None):
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        value = _float(logs["loss"])
        if not math.isfinite(value):
            weights, good_epoch, good_step = self.good
            raise NonFiniteLoss(self._epoch + 1, batch + 1, self._steps(), value, self._images(batch), weights,
                                good_epoch, good_step)
        seconds = time.perf_counter() - self._step_started
        self._step_seconds = seconds if self._step_seconds is None else 0.9 * self._step_seconds + 0.1 * seconds
        self._since += 1
        if self._since >= self._interval or batch + 1 == self._steps():
            self._snapshot(batch + 1)

    def _steps(self) -> int:
        return self.params.get("steps") or 0

    def _images(self, batch: int) -> list[str]:
        return self.batches.image_references(batch, self._epoch) if self.batches is not None else []

    def _snapshot(self, step: int) -> None:
        """Copy and check the weights after ``step`` of the current epoch (0: before its first step)."""
        started = time.perf_counter()
        weights = self.model.get_weights()
        if not all(np.isfinite(w).all() for w in weights if np.issubdtype(w.dtype, np.floating)):
            good_weights, good_epoch, good_step = self.good or (None, self._epoch + 1, 0)
            # the bad update came after the last good copy (which may be the previous epoch's end)
            first = good_step + 1 if good_epoch == self._epoch + 1 else 1
            raise NonFiniteWeights(self._epoch + 1, first, step, self._steps(),
                                   self._images(step - 1) if first == step else [], good_weights, good_epoch,
                                   good_step)
        self.good = (weights, self._epoch + 1, step)
        cost = time.perf_counter() - started
        self._since = 0
        if self._step_seconds:
            self._interval = max(1, math.ceil(cost / (self.budget * self._step_seconds)))


class EpochRecorder(keras.callbacks.Callback):
    """After each epoch: a ``history.csv`` row, the loss curve (redrawn at most every ``CURVE_EVERY_SECONDS``, and
    at the end of the stage), the best checkpoint and a summary line in the log.

    ``stage`` (1-based) / ``layers`` / ``learning_rate`` (a function of the epoch, 0-based) describe the stage being
    trained. The best checkpoint (``mask_rcnn_<name>_best.h5`` + ``best.json``) follows ``val_metric`` when
    ``metric_on`` (epochs without it are not compared), else ``val_loss``; it starts from the run's ``best.json``, so
    a resumed run keeps its best.
    """

    CURVE_EVERY_SECONDS = 30.0

    def __init__(self, run_dir: str, name: str, clock: RunClock, stage: int, layers: str, learning_rate,
                 batch_size: int, steps: int, metric_on: bool):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.name = name
        self.clock = clock
        self.stage, self.layers, self.learning_rate = stage, layers, learning_rate
        self.batch_size, self.steps = batch_size, steps
        self.monitor = "val_metric" if metric_on else "val_loss"
        self.history = HistoryFile(self.run_dir / HISTORY_FILE)
        self._epoch_started = self._last_step = 0.0
        self._curve_drawn_at: float | None = None  # drawing takes ~0.8 s: at most every CURVE_EVERY_SECONDS
        self._curve_behind = False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._last_step = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.perf_counter() - self._epoch_started
        train_seconds = max(self._last_step - self._epoch_started, 1e-9)
        self.clock.epoch_seconds.append(seconds)
        row = {name: _float(value) for name, value in logs.items()}
        row.update(epoch=epoch + 1, stage=self.stage, layers=self.layers, learning_rate=self.learning_rate(epoch),
                   seconds=seconds, images_per_second=self.steps * self.batch_size / train_seconds)
        frame = self.history.append(row)
        now = time.monotonic()
        if self._curve_drawn_at is None or now - self._curve_drawn_at >= self.CURVE_EVERY_SECONDS:
            self._draw_curve(frame, now)
        else:
            self._curve_behind = True
        best = self._update_best(epoch + 1, row.get(self.monitor))
        parts = [f"{name} {row[name]:.4f}" for name in ("loss", "val_loss", "val_metric") if name in row]
        log.info("epoch %d/%d (stage %d, %s, lr %.3g): %s; %s, %.1f img/s%s; run ETA %s", epoch + 1,
                 self.clock.final_epoch, self.stage, self.layers, row["learning_rate"], ", ".join(parts),
                 format_seconds(seconds), row["images_per_second"], " (best so far)" if best else "",
                 format_seconds(self.clock.eta_seconds(0.0)))

    def on_train_end(self, logs=None):
        if self._curve_behind:
            self._draw_curve(self.history.read(), time.monotonic())

    def _draw_curve(self, frame, now: float) -> None:
        loss_curves(frame, self.run_dir / CURVE_FILE, title=f"{self.run_dir.name}")
        self._curve_drawn_at, self._curve_behind = now, False

    def _update_best(self, epoch: int, value) -> bool:
        if value is None or not math.isfinite(value):
            return False
        path = self.run_dir / BEST_FILE
        previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        if previous and previous.get("monitor") == self.monitor:
            better = value > previous["value"] if self.monitor == "val_metric" else value < previous["value"]
            if not better:
                return False
        source = self.run_dir / checkpoint_name(self.name, epoch)
        with atomic_path(self.run_dir / best_checkpoint_name(self.name)) as tmp:
            shutil.copyfile(source, tmp)
        with atomic_write(path) as handle:
            json.dump({"epoch": epoch, "monitor": self.monitor, "value": value, "checkpoint": source.name}, handle,
                      indent=2)
            handle.write("\n")
        return True
