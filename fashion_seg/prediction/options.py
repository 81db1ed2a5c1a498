"""What ``predict.py``'s options build: the post-processing settings, the predictor (checkpoints, test-time
augmentation, batch size) with its ClassId composer, and the images to predict with their truth."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..data.labels import LabelDescriptions
from ..errors import ConfigError
from .settings import PostProcessing, load_preset, parse_categories

log = logging.getLogger("predict")


def post_processing(args) -> PostProcessing:
    """The preset (``--preset``) with the thresholds given on the command line."""
    settings = load_preset(args.preset)
    changes = {name: getattr(args, name) for name in ("min_score", "nms_iou", "max_detections", "mask_threshold",
                                                      "min_area", "attribute_threshold")
               if getattr(args, name) is not None}
    for name in ("drop_categories", "category_only"):
        if getattr(args, name) is not None:
            changes[name] = parse_categories(getattr(args, name))
    return settings.replace(**changes)


def build_predictor(args, labels):
    """(Predictor, identity of the detections, ClassId composer or None) from the model arguments; the composer adds
    attributes to the ClassIds when the model has an attribute head and attributes.json is beside the weights."""
    from ..checkpoints import load_inference_model, parse_overrides
    from .class_ids import composer_for_weights
    from .inference import Predictor, attribute_width
    from .tta import parse_tta

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    augmentations = parse_tta(args.tta)
    overrides = parse_overrides(args.set)
    models, paths, identities = [], [], []
    for weights in args.weights:
        model, path, identity = load_inference_model(weights, args.model_dir, args.config, overrides, args.batch_size)
        log.info("model %d: %s", len(models) + 1, path)
        models.append(model)
        paths.append(path)
        identities.append(identity)
    predictor = Predictor(models, augmentations, args.merge_iou, args.batch_size)
    identity = {"weights": identities, "tta": [a.name for a in augmentations], "merge_iou": args.merge_iou}
    return predictor, identity, composer_for_weights(paths, labels, attribute_width(models[0]))


def image_source(args, need_truth: bool) -> tuple[list[Path], list[str], pd.DataFrame | None, Path, LabelDescriptions]:
    """(paths, ImageIds, truth frame or None, image folder, labels) of the images named by ``IMAGE_DIR`` (with
    ``--truth``) or ``--split``/``--data-dir``; ``need_truth``: evaluation or tuning, which need the truth rows."""
    from ..data.labels import read_data_dir_labels, read_label_descriptions
    from ..evaluation.evaluate import split_images, truth_images
    from .submission import expected_image_ids

    if args.split:
        if not args.data_dir:
            raise ConfigError("--split needs --data-dir (the competition folder the split was made from)")
        paths, ids, truth = split_images(args.split, args.data_dir, args.image_dir)
        folder = Path(args.image_dir or Path(args.data_dir) / "train")
        labels_dir = Path(args.data_dir)
    elif args.test_dir:
        folder = Path(args.test_dir)
        if args.truth:
            paths, ids, truth = truth_images(args.truth, folder)
        elif need_truth:
            raise ConfigError("evaluating needs the truth: --truth CSV with IMAGE_DIR, or --split with --data-dir")
        else:
            ids = expected_image_ids(folder)
            paths, truth = [folder / i for i in ids], None
        labels_dir = folder.parent
    else:
        raise ConfigError("give IMAGE_DIR (a folder of test images) or --split DIR --data-dir DIR")
    labels = read_label_descriptions(args.labels) if args.labels else read_data_dir_labels(labels_dir)
    return paths, ids, truth, folder, labels
