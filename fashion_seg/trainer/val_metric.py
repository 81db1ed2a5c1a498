"""The competition metric on validation images during training, by the same path as ``predict.py``:
batched detection (:class:`fashion_seg.prediction.inference.Predictor`) with the current weights, post-processing
(:mod:`fashion_seg.prediction.postprocess`) at 512x512, and the metric (:class:`fashion_seg.prediction.tuning.SettingsScorer`, i.e.
:func:`fashion_seg.evaluation.metrics.score_instances`).

The inference model is built once, beside the training model, with the configuration ``predict.py`` would read
from the run's ``config.json`` (:func:`fashion_seg.checkpoints.inference_config`: permissive detection thresholds,
the strict ones left to post-processing); before each evaluation the training weights are copied into it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import pandas as pd
from tqdm import tqdm

from ..checkpoints import inference_config
from ..evaluation.metrics import truth_instances
from ..mrcnn.weights import weight_layers
from ..prediction.settings import PostProcessing
from ..prediction.tuning import SettingsScorer

log = logging.getLogger(__name__)


def copy_weights(source: keras.Model, target: keras.Model) -> int:
    """Copy the weights of ``source``'s layers into ``target``'s layers of the same names (the training and
    inference graphs share every weight layer); returns the number of layers copied."""
    layers = {entry.name: entry for entry in weight_layers(source)}
    copied = 0
    for entry in weight_layers(target):
        origin = layers.get(entry.name)
        if origin is None or len(origin.variables) != len(entry.variables):
            raise ValueError(f"layer {entry.name} of the inference model has no counterpart in the training model")
        for variable, value in zip(entry.variables, origin.variables):
            variable.assign(keras.ops.convert_to_numpy(value))
        copied += 1
    return copied


class ValidationScorer:
    """The competition metric of the current training weights on fixed validation images.

    config: the training config; paths / image_ids: the validation images; truth: their rows (train.csv format);
    categories: category id per class id (:func:`fashion_seg.prediction.predict_images.class_categories`); settings: the
    post-processing. The inference model runs ``batch_size`` images per call.
    """

    def __init__(self, config, paths: Sequence[Path], image_ids: Sequence[str], truth: pd.DataFrame,
                 categories: np.ndarray, settings: PostProcessing, model_dir: str, batch_size: int = 1):
        from ..mrcnn.model import MaskRCNN

        if config.IMAGE_RESIZE_MODE != "square":
            batch_size = 1  # other modes mold images of different sizes to different shapes
        self.model = MaskRCNN("inference", inference_config(config.to_dict(), batch_size=batch_size), model_dir)
        self.paths, self.image_ids = list(paths), list(image_ids)
        self.truth = truth_instances(truth)
        self.categories = categories
        self.settings = settings
        self.batch_size = batch_size

    def __call__(self, training_model: keras.Model, progress: bool = True) -> float:
        from ..prediction.inference import Predictor

        copy_weights(training_model, self.model.keras_model)
        predictor = Predictor([self.model], batch_size=self.batch_size)
        detections, truth = {}, dict(self.truth)
        with tqdm(total=len(self.paths), unit="img", desc="validation metric", leave=False,
                  disable=not progress) as bar:
            for batch in predictor.batches(self.paths, self.image_ids):
                for image, found in zip(batch.images, predictor.detect(batch)):
                    detections[image.image_id] = found
                for image_id, message in batch.unreadable:
                    log.warning("validation metric: %s (left out of the metric)", message)
                    truth.pop(image_id, None)
                bar.update(len(batch.images) + len(batch.unreadable))
        return SettingsScorer(detections, truth, self.categories)(self.settings)


class ValidationMetric(keras.callbacks.Callback):
    """Every ``every`` epochs (and at the run's ``final_epoch``), the competition metric of the current weights as
    ``logs["val_metric"]`` (see :class:`ValidationScorer`); ``progress``: show a bar while it runs."""

    def __init__(self, scorer: ValidationScorer, every: int, final_epoch: int, progress: bool = True):
        super().__init__()
        self.scorer = scorer
        self.every = every
        self.final_epoch = final_epoch
        self.progress = progress

    def due(self, epoch: int) -> bool:
        """Whether the metric is computed after ``epoch`` (0-based)."""
        return self.every > 0 and ((epoch + 1) % self.every == 0 or epoch + 1 == self.final_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not self.due(epoch):
            return
        started = time.perf_counter()
        logs["val_metric"] = self.scorer(self.model, progress=self.progress)
        log.info("epoch %d: validation metric %.4f on %d images (%.1f s)", epoch + 1, logs["val_metric"],
                 len(self.scorer.paths), time.perf_counter() - started)
