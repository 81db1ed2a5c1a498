"""``history.csv``: one row per finished epoch of a run, kept across resumes.

Columns: ``epoch`` (1-based), ``stage`` (1-based) and its ``layers``, the ``learning_rate`` at the epoch's first
step, ``loss`` and the five losses (and ``mrcnn_attr_loss`` for a model with the attribute head: its two columns are
written only when some epoch has them), their ``val_`` twins, ``val_metric`` (empty on epochs without it), ``seconds``
(the whole epoch, validation included) and ``images_per_second`` (training steps only).

A resumed run appends; resuming from an earlier checkpoint than the last row first drops the rows after it, so the
file always describes the weights' own history. Every write replaces the file atomically.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from ..atomic import atomic_write
from ..mrcnn.losses import ATTRIBUTE_LOSS_NAME, LOSS_NAMES

LOSS_COLUMNS = ("loss", *LOSS_NAMES, ATTRIBUTE_LOSS_NAME)
COLUMNS = ("epoch", "stage", "layers", "learning_rate", *LOSS_COLUMNS, *(f"val_{n}" for n in LOSS_COLUMNS),
           "val_metric", "seconds", "images_per_second")
OPTIONAL_COLUMNS = (ATTRIBUTE_LOSS_NAME, f"val_{ATTRIBUTE_LOSS_NAME}")


class HistoryFile:
    """The history of one run directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def read(self) -> pd.DataFrame:
        """The rows so far (no rows if the file does not exist yet)."""
        if not self.path.exists():
            return pd.DataFrame(columns=list(COLUMNS))
        frame = pd.read_csv(self.path)
        return frame.reindex(columns=list(COLUMNS))

    def append(self, row: dict) -> pd.DataFrame:
        """Add the row of epoch ``row["epoch"]`` (replacing rows of that epoch and later ones); returns the file's
        rows."""
        frame = self.read()
        frame = frame[frame["epoch"] < row["epoch"]]
        values = {name: _number_or_none(row.get(name)) for name in COLUMNS}
        values["layers"] = row.get("layers")
        new = pd.DataFrame([values], columns=list(COLUMNS))
        frame = new if frame.empty else pd.concat([frame, new], ignore_index=True)
        self._write(frame)
        return frame

    def keep_until(self, epoch: int) -> None:
        """Drop the rows after ``epoch`` (a run resumed from an earlier checkpoint than its last row)."""
        frame = self.read()
        if (frame["epoch"] > epoch).any():
            self._write(frame[frame["epoch"] <= epoch])

    def _write(self, frame: pd.DataFrame) -> None:
        frame = frame.drop(columns=[c for c in OPTIONAL_COLUMNS if frame[c].isna().all()])
        with atomic_write(self.path, newline="") as handle:
            frame.to_csv(handle, index=False, float_format="%.6g")


def _number_or_none(value):
    if value is None or isinstance(value, str):
        return value
    number = float(value)
    return None if math.isnan(number) else number
