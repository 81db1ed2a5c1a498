"""Prediction: image files -> a valid, complete submission file, restartable; and its evaluation against truth.

:func:`predict_submission` streams images through a :class:`~fashion_seg.prediction.inference.Predictor` (loading overlapped
with the network), post-processes each image (:mod:`fashion_seg.prediction.postprocess`), appends its rows to a journal
(:mod:`fashion_seg.prediction.journal`) and, once every image is done, writes the submission atomically: every image, in the
order given, with the placeholder row for an image without masks. Memory does not grow with the number of images.
A re-run with the same output and settings continues where an interrupted one stopped."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ..data.imaterialist import SUBMISSION_SIZE
from ..data.labels import LabelDescriptions
from ..errors import DataError
from .class_ids import ClassIdComposer
from .detections import DetectionStore
from .inference import Predictor
from .journal import PredictionJournal, journal_path
from .postprocess import postprocess
from .settings import PostProcessing
from .submission import SubmissionWriter, placeholder_row

log = logging.getLogger(__name__)


def class_categories(labels: LabelDescriptions) -> np.ndarray:
    """Category id of each model class id (index = class id; -1 for the background): the label file's categories
    registered in order after the background, as :class:`~fashion_seg.data.imaterialist.FashionDataset` does."""
    return np.array([-1] + [int(category["id"]) for category in labels.categories], dtype=np.int64)


def image_list_digest(image_ids: Sequence[str]) -> str:
    return hashlib.sha1("\n".join(image_ids).encode("utf-8")).hexdigest()[:16]


@dataclass
class PredictionSummary:
    """What :func:`predict_submission` did: ``images`` in the file, of which ``resumed`` came from an earlier run's
    journal and ``from_cache`` from cached detections; ``rows`` written; ``seconds`` of this run; ``unreadable``:
    ``(ImageId, message)`` of the images this run could not read (they got the placeholder row)."""

    path: Path
    images: int
    resumed: int
    from_cache: int
    rows: int
    seconds: float
    scored_rows: list = field(default_factory=list)
    unreadable: list = field(default_factory=list)


def predict_submission(
    predictor: Predictor,
    image_paths: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    settings: PostProcessing,
    size: int | None = SUBMISSION_SIZE,
    categories: np.ndarray | None = None,
    identity: dict | None = None,
    store: DetectionStore | None = None,
    restart: bool = False,
    keep_scores: bool = False,
    progress: bool = True,
    image_ids: Sequence[str] | None = None,
    composer: ClassIdComposer | None = None,
) -> PredictionSummary:
    """Predict every image of ``image_paths`` and write the submission ``out``.

    ``size``: mask grid of the rows (512: the image squashed to 512x512, as the competition scored; None: native).
    ``categories``: category id per model class id (:func:`class_categories`). ``identity``: what makes the
    detections (weights, augmentations, inference config), recorded in the journal so that only a run with the same
    settings continues it. ``store``: cache of raw detections; images found there are not run through the network,
    others are added to it. ``keep_scores``: also return each row with its score (for evaluation; kept in memory).
    ``image_ids``: the ImageId of each path (default: the file names, as in the test folder). An image that cannot be
    read (missing, corrupt) gets the placeholder row and is reported (logged, and in the summary), so one bad file
    does not stop a long run. ``composer``: the ClassIds get the predicted attributes
    (:func:`fashion_seg.prediction.postprocess.class_id_labels`); None: categories only.
    """
    start = time.perf_counter()
    out = Path(out)
    paths = [Path(p) for p in image_paths]
    image_ids = list(image_ids) if image_ids is not None else [p.name for p in paths]
    if len(image_ids) != len(paths) or len(set(image_ids)) != len(image_ids):
        raise DataError(f"{len(paths)} images need {len(paths)} distinct ImageIds")
    settings_record = {
        "detections": identity or {},
        "post_processing": settings.to_dict(),
        "size": "native" if size is None else size,
        "images": {"count": len(image_ids), "digest": image_list_digest(image_ids)},
    }
    if composer is not None:
        settings_record["attributes"] = composer.digest()
    times = predictor.times
    # Post-processing multiplies many small matrices, where BLAS threads cost more than they give (the network
    # does not use BLAS); one thread also leaves the cores to the network.
    with threadpool_limits(limits=1, user_api="blas"), \
            PredictionJournal(journal_path(out), settings_record, restart=restart) as journal:
        finished = set(journal.done)
        resumed = len(finished)
        if resumed:
            log.info("continuing %s: %d of %d images already done", journal.path, resumed, len(image_ids))
        todo = [i for i, image_id in enumerate(image_ids) if image_id not in finished]
        cached = [i for i in todo if store is not None and store.has(image_ids[i])]
        unreadable: list[tuple[str, str]] = []
        to_run = [i for i in todo if store is None or not store.has(image_ids[i])]

        def finish(image_id: str, detections) -> None:
            instances = times.timed("postprocess", postprocess, detections, settings, size, categories, composer)
            journal.append(image_id, times.timed("rle", instances.rows, image_id))

        with tqdm(total=len(image_ids), initial=resumed, unit="img", desc="predict", disable=not progress,
                  smoothing=0.1) as bar:
            for i in cached:
                finish(image_ids[i], store.load(image_ids[i]))
                bar.update()
            journal.sync()
            for batch in predictor.batches([paths[i] for i in to_run], [image_ids[i] for i in to_run]):
                for image, detections in zip(batch.images, predictor.detect(batch)):
                    if store is not None:
                        store.save(image.image_id, detections)
                    finish(image.image_id, detections)
                for image_id, message in batch.unreadable:
                    log.warning("%s (it gets the placeholder row)", message)
                    journal.append(image_id, [])
                unreadable.extend(batch.unreadable)
                journal.sync()
                bar.update(len(batch.images) + len(batch.unreadable))
        rows, scored = _write_submission(journal, out, image_ids, size, keep_scores)
    journal.remove()
    return PredictionSummary(out, len(image_ids), resumed, len(cached), rows, time.perf_counter() - start, scored,
                             unreadable)


def _write_submission(journal: PredictionJournal, out: Path, image_ids: list[str], size: int | None,
                      keep_scores: bool) -> tuple[int, list]:
    """The submission from the journal's rows, in ``image_ids`` order (placeholders for images without rows)."""
    scored: list = []
    order = None if journal.done == image_ids else image_ids
    with SubmissionWriter(out, image_ids, size=size) as writer:
        for image_id, rows in journal.images(order):
            writer.add_rows([row[:3] for row in rows] or [placeholder_row(image_id)])
            if keep_scores:
                scored.extend(rows)
    return writer.rows, scored
