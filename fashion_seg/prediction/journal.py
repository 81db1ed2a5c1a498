"""The progress journal that makes prediction restartable.

``<output>.journal`` beside the submission: a header line with the settings of the run, then, per finished image,
its rows (``ImageId,EncodedPixels,ClassId,score``) and a closing ``#done,<ImageId>,<rows>`` line. Lines are flushed
per image and fsynced per batch, so an interrupted run (Ctrl-C, a killed job, a full disk) loses at most the images
of the batch in flight; a trailing incomplete block is cut off when the journal is opened again. The run that
finishes writes the submission atomically from the journal and deletes it.

A journal that cannot be written (a full disk, a read-only folder) stops the run with a
:class:`~fashion_seg.errors.FileAccessError` that says how many images it keeps: a run with more space continues.

A journal written with other settings (weights, augmentations, post-processing, output size, image list) is never
continued: opening it raises :class:`DataError` unless ``restart=True``, which discards it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import DataError, FileAccessError, file_error

HEADER_PREFIX = "#fashion_seg-journal "
DONE = "#done"

ScoredRow = tuple[str, str, str, float]


class PredictionJournal:
    """Rows of finished images, appended as they come (see the module docstring).

    ``done``: ImageIds already finished, in order. Use as a context manager (closes the file).
    """

    def __init__(self, path: str | os.PathLike, settings: dict, restart: bool = False):
        self.path = Path(path)
        self.settings = json.loads(json.dumps(settings))
        self.done: list[str] = []
        self._synced = 0  # of ``done``, the images known to be on disk
        with self._writing():
            if restart and self.path.exists():
                self.path.unlink()
            if self.path.exists():
                complete = self._read_existing()
                self._handle = open(self.path, "r+", encoding="utf-8", newline="")
                self._handle.truncate(complete)
                self._handle.seek(complete)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "w", encoding="utf-8", newline="")
                self._handle.write(HEADER_PREFIX + json.dumps(self.settings, sort_keys=True) + "\n")
                self.sync()
        self._writer = csv.writer(self._handle, lineterminator="\n")

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Report a failed write the user can fix as a :class:`FileAccessError` saying what the journal keeps."""
        try:
            yield
        except OSError as error:
            user_error = file_error(error, self.path, writing=True)
            if user_error is None:
                raise
            raise FileAccessError(f"{user_error}; the journal keeps the {self._synced} images finished before: "
                                  "make room and run again to continue") from error

    def _read_existing(self) -> int:
        """Check the header, collect the finished images; returns the byte offset after the last complete block."""
        with open(self.path, "rb") as handle:
            header = handle.readline().decode("utf-8", errors="replace")
            if not header.startswith(HEADER_PREFIX) or not header.endswith("\n"):
                raise DataError(f"{self.path} is not a prediction journal (or its header is cut off); delete it or "
                                "pass --restart")
            try:
                stored = json.loads(header[len(HEADER_PREFIX):])
            except json.JSONDecodeError:
                raise DataError(f"{self.path}: unreadable journal header; delete it or pass --restart") from None
            if stored != self.settings:
                changed = sorted(k for k in set(stored) | set(self.settings) if stored.get(k) != self.settings.get(k))
                raise DataError(f"{self.path} continues a run with other settings (differs in {', '.join(changed)}); "
                                "pass --restart to discard it, or run again with the same settings")
            complete = handle.tell()
            for line in handle:
                if not line.endswith(b"\n"):
                    break
                if line.startswith(DONE.encode()):
                    fields = next(csv.reader([line.decode("utf-8")]))
                    self.done.append(fields[1])
                    complete = handle.tell()
        self._synced = len(self.done)
        return complete

    def append(self, image_id: str, rows: list[ScoredRow]) -> None:
        """Record one finished image (``rows`` may be empty: the submission gets its placeholder)."""
        with self._writing():
            for row_image, encoded, class_id, score in rows:
                self._writer.writerow((row_image, encoded, class_id, repr(float(score))))
            self._writer.writerow((DONE, image_id, len(rows)))
            self._handle.flush()
        self.done.append(image_id)

    def sync(self) -> None:
        """Make what was appended survive a crash of the machine."""
        with self._writing():
            self._handle.flush()
            os.fsync(self._handle.fileno())
        self._synced = len(self.done)

    def images(self, order: Sequence[str] | None = None) -> Iterator[tuple[str, list[ScoredRow]]]:
        """``(ImageId, rows)`` of the finished images, read from disk: in the order they were finished, or in
        ``order`` (every ImageId of it must be finished; blocks are found by their offsets, so memory stays flat)."""
        self._handle.flush()
        with open(self.path, "rb") as handle:
            handle.readline()
            if order is None:
                while (block := _read_block(handle)) is not None:
                    yield block
                return
            offsets = {}
            offset = handle.tell()
            for line in iter(handle.readline, b""):
                if line.startswith(DONE.encode()):
                    offsets[next(csv.reader([line.decode("utf-8")]))[1]] = offset
                    offset = handle.tell()
            missing = [image_id for image_id in order if image_id not in offsets]
            if missing:
                raise DataError(f"{self.path} lacks {len(missing)} images (e.g. {missing[0]}); run again to finish them")
            for image_id in order:
                handle.seek(offsets[image_id])
                yield _read_block(handle)

    def close(self) -> None:
        if not self._handle.closed:
            with self._writing():
                try:
                    self.sync()
                finally:
                    self._handle.close()

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "PredictionJournal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_block(handle) -> tuple[str, list[ScoredRow]] | None:
    """The block at the file position of ``handle`` (binary): its rows up to and including the ``#done`` line."""
    rows: list[ScoredRow] = []
    for line in iter(handle.readline, b""):
        fields = next(csv.reader([line.decode("utf-8")]))
        if fields[0] == DONE:
            return fields[1], rows
        rows.append((fields[0], fields[1], fields[2], float(fields[3])))
    return None


def journal_path(output: str | os.PathLike) -> Path:
    """Where the journal of ``output`` lives: ``submission.csv`` -> ``submission.csv.journal``."""
    output = Path(output)
    return output.with_name(output.name + ".journal")

