"""Search for the post-processing thresholds that score best on validation images.

The network runs once per validation image (its raw detections, mask probabilities included, are cached in a
:class:`~fashion_seg.prediction.detections.DetectionStore`); every trial only re-runs post-processing and the competition
metric at 512x512 on those cached detections. The search is coordinate ascent from a starting preset: each
parameter in turn takes the grid value that scores best with the others fixed, in rounds until a round changes
nothing. Optionally it then drops, one at a time, the categories whose predictions cost more than they earn (the 1st
place's largest gain on the real data came from dropping categories 0-12).

Attributes (a model with an attribute head and its run's ``attributes.json``: a
:class:`~fashion_seg.prediction.class_ids.ClassIdComposer`): after the thresholds above, rounds of

1. one global attribute threshold (:data:`DEFAULT_ATTRIBUTE_GRID`);
2. per attribute supercategory (``length``, ``silhouette``, ``opening type``, ...: 7 in 2019), a threshold that
   overrides the global one where it scores better;
3. per attribute-bearing category, one of three choices (:data:`~fashion_seg.prediction.settings.CATEGORY_CHOICES`):
   its detections with their attributes, as the category alone (what wins where its truth mostly has none), or
   dropped (the 1st place's choice for categories 0-12, when neither matches the truth's ClassIds),

until a round changes nothing. Thresholds are per supercategory, not per attribute: per attribute would be 92 values
(294 in 2020), most of them fitted to a handful of validation instances, since only about a fifth of the images
carry attributes and most attributes are rare, so they would follow noise; the attributes of one supercategory
answer one question (how long, which opening) from the same head with probabilities on a similar scale, so one
threshold per question is better supported by the data. The global threshold is the fallback (attributes without a
supercategory, or a supercategory whose own value does not beat it).

The starting point is always among the trials, and a step is taken only when it scores strictly better, so the
result never scores below it on these images.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ..data.imaterialist import SUBMISSION_SIZE
from ..errors import DataError
from ..evaluation.metrics import score_instances
from .class_ids import ClassIdComposer
from .detections import DetectionStore, Detections
from .inference import Predictor
from .postprocess import postprocess
from .settings import CATEGORY_CHOICES, PRESETS, PostProcessing

log = logging.getLogger(__name__)

DEFAULT_GRID: dict[str, tuple] = {
    "min_score": (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    "nms_iou": (0.2, 0.3, 0.4, 0.5),
    "mask_threshold": (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6),
    "max_detections": (10, 20, 50, 100),
    "min_area": (0, 10, 20, 40, 80),
}
DEFAULT_ATTRIBUTE_GRID: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


@dataclass
class TuningResult:
    """The best settings found and how they compare: ``start`` is where the search began (the defaults), ``presets``
    the named presets' scores on the same images, ``trials`` every setting tried with its score."""

    best: PostProcessing
    best_score: float
    start: PostProcessing
    start_score: float
    presets: dict[str, float]
    trials: pd.DataFrame = field(repr=False)

    @property
    def gain(self) -> float:
        return self.best_score - self.start_score


def cached_detections(predictor: Predictor, paths: Sequence[str | os.PathLike], store: DetectionStore,
                      image_ids: Sequence[str] | None = None, progress: bool = True) -> dict[str, Detections]:
    """Raw detections of every image (``image_ids``, default the file names): from ``store`` where cached, else
    computed by ``predictor`` and added to it (so a stopped run resumes). Masks are kept as float16."""
    paths = [Path(p) for p in paths]
    image_ids = list(image_ids) if image_ids is not None else [p.name for p in paths]
    missing = [i for i, image_id in enumerate(image_ids) if not store.has(image_id)]
    with tqdm(total=len(paths), initial=len(paths) - len(missing), unit="img", desc="validation detections",
              disable=not progress) as bar:
        for batch in predictor.batches([paths[i] for i in missing], [image_ids[i] for i in missing]):
            for image, detections in zip(batch.images, predictor.detect(batch)):
                store.save(image.image_id, detections)
            if batch.unreadable:
                raise DataError(f"validation image unreadable: {batch.unreadable[0][1]} (fix or remove it from "
                                "the split)")
            bar.update(len(batch.images))
    return {image_id: store.load(image_id) for image_id in image_ids}


class SettingsScorer:
    """The competition metric (512x512, mean over images) of post-processing settings on cached detections.

    ``detections``: ImageId -> raw detections; ``truth``: ImageId -> ``(pycocotools RLE, ClassId)`` at 512x512
    (:func:`fashion_seg.evaluation.metrics.truth_instances`); ``composer``: ClassIds with the predicted attributes (None:
    categories only). Scores are remembered per setting.
    """

    def __init__(self, detections: Mapping[str, Detections], truth: Mapping[str, Sequence],
                 categories: np.ndarray | None = None, composer: ClassIdComposer | None = None):
        missing = [image_id for image_id in truth if image_id not in detections]
        if missing:
            raise ValueError(f"{len(missing)} truth images have no detections, e.g. {missing[0]}")
        self.detections = detections
        self.truth = truth
        self.categories = categories
        self.composer = composer
        self.scores: dict[PostProcessing, float] = {}

    def __call__(self, settings: PostProcessing) -> float:
        if settings not in self.scores:
            predictions = {}
            with threadpool_limits(limits=1, user_api="blas"):  # small matrices: threads only cost
                for image_id in self.truth:
                    found = postprocess(self.detections[image_id], settings, SUBMISSION_SIZE, self.categories,
                                        self.composer)
                    predictions[image_id] = found.coco()
            self.scores[settings] = score_instances(self.truth, predictions).score
        return self.scores[settings]

    def trials(self) -> pd.DataFrame:
        rows = [{**s.to_dict(), "score": v} for s, v in self.scores.items()]
        for row in rows:
            row["drop_categories"] = ",".join(map(str, row["drop_categories"]))
            row["category_only"] = ",".join(map(str, row["category_only"]))
            row["attribute_thresholds"] = ";".join(f"{k}={v:g}" for k, v in row["attribute_thresholds"].items())
        return pd.DataFrame(rows).sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def tune(
    scorer: SettingsScorer | Callable[[PostProcessing], float],
    start: PostProcessing,
    grid: Mapping[str, Sequence] = DEFAULT_GRID,
    rounds: int = 3,
    tune_categories: Sequence[int] = (),
    progress: bool = True,
    composer: ClassIdComposer | None = None,
    attribute_grid: Sequence[float] = DEFAULT_ATTRIBUTE_GRID,
) -> TuningResult:
    """Coordinate ascent over ``grid`` from ``start`` (see the module docstring); then, with a ``composer``, the
    attribute thresholds over ``attribute_grid`` and the choice of each attribute-bearing category
    (:func:`tune_attributes`); then, if ``tune_categories`` is given, greedy dropping of those categories while that
    raises the score."""
    unknown = [name for name in grid if name not in PostProcessing.__dataclass_fields__ or name == "drop_categories"]
    if unknown:
        raise ValueError(f"cannot tune {unknown}; tunable: {[n for n in DEFAULT_GRID]}")
    total = rounds * sum(len(values) for values in grid.values()) + len(tune_categories) ** 2
    if composer is not None:
        total += rounds * ((1 + len(composer.groups())) * len(attribute_grid)
                           + len(CATEGORY_CHOICES) * len(composer.attribute_categories))
    bar = tqdm(total=total, unit="trial", desc="tune", disable=not progress)
    best, best_score = start, scorer(start)
    start_score = best_score
    for round_index in range(rounds):
        improved = False
        for name, values in grid.items():
            for value in values:
                trial = best.replace(**{name: value})
                score = scorer(trial)
                bar.update()
                if score > best_score + 1e-12:
                    best, best_score, improved = trial, score, True
            bar.set_postfix(score=f"{best_score:.4f}")
        log.info("round %d: %.5f with %s", round_index + 1, best_score, best.describe())
        if not improved:
            break
    if composer is not None:
        best, best_score = tune_attributes(scorer, best, composer, attribute_grid, rounds, bar.update)
    remaining = [c for c in tune_categories if c not in best.drop_categories]
    while remaining:
        gains = {}
        for category in remaining:
            gains[category] = scorer(best.replace(drop_categories=best.drop_categories + (category,))) - best_score
            bar.update()
        category = max(gains, key=gains.get)
        if gains[category] <= 1e-12:
            break
        best = best.replace(drop_categories=best.drop_categories + (category,))
        best_score = scorer(best)
        remaining.remove(category)
        log.info("dropping category %d: %.5f", category, best_score)
    bar.close()
    presets = {name: scorer(settings) for name, settings in PRESETS.items()}
    trials = scorer.trials() if isinstance(scorer, SettingsScorer) else pd.DataFrame()
    return TuningResult(best, best_score, start, start_score, presets, trials)


def tune_attributes(
    scorer: Callable[[PostProcessing], float],
    start: PostProcessing,
    composer: ClassIdComposer,
    grid: Sequence[float] = DEFAULT_ATTRIBUTE_GRID,
    rounds: int = 3,
    tick: Callable[[], object] = lambda: None,
) -> tuple[PostProcessing, float]:
    """Rounds of: the global attribute threshold, a threshold per attribute supercategory, and a choice per
    attribute-bearing category (see the module docstring), each step taken only when it scores strictly better;
    threshold values are tried nearest the current one first, so that of equally good values the nearest wins.
    Returns the best settings and their score; ``tick`` is called once per trial (a progress bar)."""
    best, best_score = start, scorer(start)

    def consider(trial: PostProcessing) -> bool:
        nonlocal best, best_score
        score = scorer(trial)
        tick()
        if score > best_score + 1e-12:
            best, best_score = trial, score
            return True
        return False

    def nearest_first(current: float) -> list[float]:
        # of values that score the same, the one nearest the current threshold wins: the smallest change
        return sorted((v for v in grid if v != current), key=lambda v: (abs(v - current), v))

    for round_index in range(rounds):
        improved = False
        for value in nearest_first(best.attribute_threshold):
            improved |= consider(best.replace(attribute_threshold=value))
        for group in composer.groups():
            for value in nearest_first(dict(best.attribute_thresholds).get(group, best.attribute_threshold)):
                improved |= consider(best.with_group_threshold(group, value))
        for category in composer.attribute_categories:
            for choice in CATEGORY_CHOICES:
                if choice != best.category_choice(category):
                    improved |= consider(best.with_category_choice(category, choice))
        log.info("attributes, round %d: %.5f with %s", round_index + 1, best_score, best.describe())
        if not improved:
            break
    return best, best_score
