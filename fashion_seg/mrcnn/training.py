"""``MaskRCNN.train()`` and its helpers, with matterport's interface and behaviour.

    model = MaskRCNN(mode="training", config=config, model_dir="logs")
    model.load_weights(coco_weights_path(), by_name=True, exclude=CLASS_SPECIFIC_LAYERS)
    model.train(train_dataset, val_dataset, learning_rate=config.LEARNING_RATE, epochs=10, layers="heads")
    model.train(train_dataset, val_dataset, learning_rate=config.LEARNING_RATE / 10, epochs=25, layers="all")

- ``layers``: ``"heads"``, ``"3+"``, ``"4+"``, ``"5+"``, ``"all"`` (:data:`LAYER_REGEX`) or any regular expression,
  matched in full against layer names; layers of the nested ``rpn_model`` and the layers wrapped by
  ``TimeDistributed`` are matched by their own names, as in matterport.
- ``epochs`` is the epoch to train *up to*, counted from the start of the run: training resumes at ``model.epoch``
  (0 for a new model, N after ``load_weights`` of a checkpoint ``..._NNNN.h5`` or after a ``train`` up to N).
- SGD with momentum ``LEARNING_MOMENTUM``, gradients clipped to global norm ``GRADIENT_CLIP_NORM`` (Keras 2's
  ``clipnorm``), L2 weight decay ``WEIGHT_DECAY`` on the trainable weights; a new optimizer for each call.
- Every epoch writes ``<model_dir>/<name><YYYYMMDDTHHMMSS>/mask_rcnn_<name>_<epoch:04d>.h5`` (matterport's h5 layout,
  written atomically), TensorBoard logs in that directory, and the config as ``config.json`` beside them.
- The Keras logs (and the returned ``History``) hold ``loss`` and the five losses under matterport's names (and
  ``mrcnn_attr_loss`` with ``ATTRIBUTE_HEAD``), and
  their ``val_`` twins when there is validation data.
"""

from __future__ import annotations

import logging
import os
import re

import keras

from ..errors import ConfigError
from . import weights as weight_io
from .imagenet import imagenet_weights_path
from .optimizer import matterport_sgd
from .pipeline import FollowEpochs, MaskRCNNBatches

log = logging.getLogger(__name__)

LAYER_REGEX = {
    "heads": r"(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "3+": r"(res3.*)|(bn3.*)|(res4.*)|(bn4.*)|(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "4+": r"(res4.*)|(bn4.*)|(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "5+": r"(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "all": ".*",
}


def resolve_layers(layers: str) -> str:
    """The regular expression of a ``layers`` argument: a :data:`LAYER_REGEX` key, or the argument itself."""
    regex = LAYER_REGEX.get(layers, layers)
    try:
        re.compile(regex)
    except re.error as error:
        raise ConfigError(f"layers={layers!r} is neither one of {', '.join(LAYER_REGEX)} nor a valid regular "
                          f"expression: {error}") from None
    return regex


def set_trainable(model: keras.Model, regex: str, indent: int = 0, verbose: int = 0) -> list[str]:
    """Make the weight-holding layers of ``model`` whose names match ``regex`` (in full) trainable, and freeze the
    others. Recurses into nested models; a ``TimeDistributed`` layer follows its own name. Returns the names of the
    layers left trainable, in model order (inner layers of a nested model as ``outer/inner``)."""
    trainable = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layer.trainable = True  # a frozen container would hide whatever its layers say
            if verbose:
                log.info("%sIn model: %s", " " * indent, layer.name)
            inner = set_trainable(layer, regex, indent + 4, verbose)
            trainable.extend(f"{layer.name}/{name}" for name in inner)
            continue
        if not layer.weights:
            continue
        matched = re.fullmatch(regex, layer.name) is not None
        layer.trainable = matched  # a TimeDistributed wrapper passes it on to the layer it wraps
        if matched:
            trainable.append(layer.name)
            if verbose:
                log.info("%s%-20s (%s)", " " * indent, layer.name, type(layer).__name__)
    return trainable


class EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch, write the weights to ``path_pattern.format(epoch=N)`` (N counted from 1, matterport's
    naming) in matterport's h5 layout, atomically (unless ``write`` is False: a non-chief worker), and remember N as
    the last completed epoch."""

    def __init__(self, path_pattern: str, write: bool = True):
        super().__init__()
        self.path_pattern = path_pattern
        self.write = write
        self.last_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if self.write:
            weight_io.save_weights(self.model, self.path_pattern.format(epoch=epoch + 1))
        self.last_epoch = epoch + 1


class TrainingMethods:
    """matterport's training methods of ``MaskRCNN`` (mixed into :class:`fashion_seg.mrcnn.model.MaskRCNN`).

    Uses the model's ``mode``, ``config``, ``keras_model``, ``epoch``, ``log_dir``, ``checkpoint_path``.
    """

    def set_trainable(self, layer_regex, keras_model=None, indent=0, verbose=1) -> list[str]:
        """Freeze every weight layer but those whose names match ``layer_regex`` (a :data:`LAYER_REGEX` key or a
        regex). Returns the trainable layer names."""
        return set_trainable(keras_model or self.keras_model, resolve_layers(layer_regex), indent, verbose)

    def compile(self, learning_rate: float, momentum: float) -> None:
        """Compile the training model: matterport's SGD (see :mod:`fashion_seg.mrcnn.optimizer`) and loss, the
        config's ``JIT_COMPILE`` (None: Keras's choice)."""
        self._require_training("compile")
        jit = "auto" if self.config.JIT_COMPILE is None else bool(self.config.JIT_COMPILE)
        with self.keras_model.distribution_scope():
            self.keras_model.compile(optimizer=matterport_sgd(learning_rate, momentum, self.config.GRADIENT_CLIP_NORM),
                                     jit_compile=jit)

    def get_imagenet_weights(self) -> str:
        """Path of an h5 file with ImageNet weights for this config's backbone under matterport's layer names
        (made once from Keras Applications' ResNet50/101 and cached). Load it with ``load_weights(path,
        by_name=True)``."""
        return str(imagenet_weights_path(self.config.BACKBONE))

    def train(self, train_dataset, val_dataset, learning_rate, epochs, layers, augmentation=None,
              custom_callbacks=None, no_augmentation_sources=None, *, seed: int = 0, workers: int = 1,
              use_multiprocessing: bool = False, verbose="auto") -> keras.callbacks.History:
        """Train up to epoch ``epochs`` (see the module docstring).

        train_dataset / val_dataset: prepared :class:`~fashion_seg.mrcnn.dataset.Dataset` objects, made into
        ``STEPS_PER_EPOCH`` / ``VALIDATION_STEPS`` batches per epoch by :class:`~fashion_seg.mrcnn.pipeline.
        MaskRCNNBatches` (``seed``, ``workers``, ``use_multiprocessing``, ``augmentation``,
        ``no_augmentation_sources`` apply to those), or ready-made batch sources (a ``keras.utils.PyDataset`` such
        as a ``MaskRCNNBatches`` made with other options, used as they are). ``val_dataset`` may be None.
        ``custom_callbacks``: more Keras callbacks. Returns Keras's ``History``.
        """
        self._require_training("train")
        regex = resolve_layers(layers)
        config = self.config
        replicas = self.keras_model.num_replicas
        if config.GPU_COUNT != replicas:
            raise ConfigError(f"the model was built for {replicas} replicas but GPU_COUNT={config.GPU_COUNT}: set "
                              f"GPU_COUNT={replicas}, so that the global batch (BATCH_SIZE = IMAGES_PER_GPU x "
                              "GPU_COUNT) gives each replica IMAGES_PER_GPU images")
        train_batches = self._batches(train_dataset, config.STEPS_PER_EPOCH, True, augmentation, seed,
                                      no_augmentation_sources, workers, use_multiprocessing)
        val_batches = None if val_dataset is None else self._batches(
            val_dataset, config.VALIDATION_STEPS, False, None, seed, None, workers, use_multiprocessing)
        for batches in (train_batches, val_batches):
            if hasattr(batches, "set_epoch"):
                batches.set_epoch(self.epoch)

        checkpoint = EpochCheckpoint(self.checkpoint_path, write=self.keras_model.writes_files)
        callbacks = [checkpoint, *(custom_callbacks or [])]
        if hasattr(train_batches, "set_epoch"):
            callbacks.insert(0, FollowEpochs(train_batches))
        if self.keras_model.writes_files:
            os.makedirs(self.log_dir, exist_ok=True)
            self._save_config()
            callbacks.insert(0, keras.callbacks.TensorBoard(log_dir=self.log_dir, histogram_freq=0, write_graph=False))
        log.info("Starting at epoch %d. LR=%s", self.epoch, learning_rate)
        log.info("Checkpoint Path: %s", self.checkpoint_path)
        self.set_trainable(regex, verbose=1)
        self.compile(learning_rate, config.LEARNING_MOMENTUM)
        with self.keras_model.distribution_scope():
            history = self.keras_model.fit(
                train_batches, initial_epoch=self.epoch, epochs=epochs, steps_per_epoch=_steps(train_batches),
                validation_data=val_batches, validation_steps=None if val_batches is None else _steps(val_batches),
                callbacks=callbacks, shuffle=False, verbose=verbose,
            )
        if checkpoint.last_epoch is not None:
            self.epoch = max(self.epoch, checkpoint.last_epoch)
        return history

    # ------------------------------------------------------------------------------------------------ helpers
    def _require_training(self, what: str) -> None:
        if self.mode != "training":
            raise ConfigError(f"{what}() needs a model built with mode='training', not {self.mode!r}")

    def _batches(self, dataset, steps, training, augmentation, seed, no_augmentation_sources, workers,
                 use_multiprocessing):
        if hasattr(dataset, "image_info") and hasattr(dataset, "load_mask"):
            return MaskRCNNBatches(dataset, self.config, training=training, steps=steps, augmentation=augmentation,
                                   no_augmentation_sources=no_augmentation_sources, seed=seed, workers=workers,
                                   use_multiprocessing=use_multiprocessing)
        if augmentation is not None or no_augmentation_sources:
            raise ConfigError("augmentation applies to Dataset objects; a ready-made batch source augments itself")
        return dataset

    def _save_config(self) -> None:
        try:
            self.config.save_json(os.path.join(self.log_dir, "config.json"))
        except ConfigError as error:  # a callable BACKBONE cannot be written as JSON
            log.warning("config not saved beside the checkpoints: %s", error)


def _steps(batches):
    """Steps per epoch of a batch source: its length when it has one (Keras's default otherwise)."""
    try:
        return len(batches)
    except TypeError:
        return None
