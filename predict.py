#!/usr/bin/env python
"""Predict a submission for a folder of test images, evaluate on validation images, tune post-processing.

    python predict.py TEST_DIR --weights last --model-dir logs --out submission.csv
    python predict.py TEST_DIR --weights run/mask_rcnn_fashion_0014.h5 --weights run/mask_rcnn_fashion_0017.h5 \\
        --tta flip,scales=0.8,1,1.2 --preset tuned.json
    python predict.py --evaluate --split demo/split --data-dir demo --weights last --model-dir logs
    python predict.py demo/test --evaluate --truth demo/test_truth.csv --weights last --model-dir logs
    python predict.py tune --split demo/split --data-dir demo --weights last --model-dir logs --out tuned.json

A checkpoint trained with an attribute head gets full ClassIds (category + predicted attributes) when its run's
attributes.json is beside it; ``tune`` then also fits the attribute thresholds and, per attribute-bearing category,
whether to emit its attributes, the category alone, or nothing.
A re-run with the same --out and settings continues an interrupted run (``<out>.journal``); --restart discards it.
Exit codes: 0 done, 2 bad input (one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from fashion_seg.cli import run, setup_logging, size_arg
from fashion_seg.prediction.options import build_predictor, image_source, post_processing

log = logging.getLogger("predict")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--weights", action="append", required=True, metavar="PATH|last",
                       help="checkpoint .h5, or 'last' (newest under --model-dir); repeat for an ensemble")
    group.add_argument("--model-dir", default="logs", help="training runs folder, for 'last' (default logs)")
    group.add_argument("--config", help="Config JSON (default: config.json beside each checkpoint)")
    group.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. --set IMAGE_MAX_DIM=1024 (repeatable)")
    group.add_argument("--batch-size", type=int, default=1, help="images per network call (default 1)")
    group.add_argument("--tta", default=None, metavar="SPEC",
                       help="test-time augmentation: 'flip', 'scales=0.8,1,1.2' or 'flip,scales=0.8,1,1.2'")
    group.add_argument("--merge-iou", type=float, default=0.5,
                       help="IoU above which detections of one class from different views/checkpoints are merged "
                            "(default 0.5)")
    group.add_argument("--detections", metavar="DIR",
                       help="cache raw detections here; a later run (other post-processing) reuses them")


def add_postprocess_arguments(parser: argparse.ArgumentParser, preset_help: str) -> None:
    group = parser.add_argument_group("post-processing (a preset, then single values)")
    group.add_argument("--preset", default="first_place", help=preset_help)
    group.add_argument("--min-score", type=float)
    group.add_argument("--nms-iou", type=float)
    group.add_argument("--max-detections", type=int)
    group.add_argument("--mask-threshold", type=float)
    group.add_argument("--min-area", type=int, help="pixels at the submission size")
    group.add_argument("--drop-categories", metavar="LIST", help="e.g. 0-12 (the 1st place's choice), or none")
    group.add_argument("--attribute-threshold", type=float,
                       help="attribute probability from which an attribute joins the ClassId (a model with an "
                            "attribute head; per-supercategory values come from a tuned preset)")
    group.add_argument("--category-only", metavar="LIST",
                       help="categories emitted without attributes, e.g. 27,28, or none")


def add_image_source_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("images with truth")
    group.add_argument("--truth", help="truth CSV (train.csv format) of the images in IMAGE_DIR")
    group.add_argument("--split", help="split folder (dataHandling.py split): its validation images")
    group.add_argument("--data-dir", help="competition folder of the split (train.csv, train/)")
    group.add_argument("--image-dir", help="read the split's images here (e.g. a 'prepare' cache)")
    group.add_argument("--labels", help="label_descriptions.json (default: the data folder's, else 2019's)")


def predict_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="predict.py", description="Predict a Kaggle submission (every image; 512x512 masks by default). "
        "Other command: 'predict.py tune --help'.")
    parser.add_argument("test_dir", nargs="?", metavar="IMAGE_DIR", help="folder of test images")
    parser.add_argument("--out", default="submission.csv", help="submission file (default submission.csv)")
    parser.add_argument("--size", type=size_arg, default=512,
                        help="mask grid: 512 (the image squashed to 512x512, as Kaggle scored) or native")
    parser.add_argument("--restart", action="store_true", help="discard an unfinished run's journal")
    add_model_arguments(parser)
    add_postprocess_arguments(parser, "matterport, first_place (default) or a JSON file from 'tune'")
    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument("--evaluate", action="store_true",
                            help="score against --truth or a --split's validation images")
    evaluation.add_argument("--overlays", help="folder for truth|prediction panels (default <out>_worst/)")
    evaluation.add_argument("--worst", type=int, default=8, help="panels of this many lowest-scoring images")
    add_image_source_arguments(parser)
    parser.add_argument("--verbose", "-v", action="store_true")
    return parser


def tune_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="predict.py tune", description="Search post-processing thresholds on validation images: the network "
        "runs once per image (raw detections cached), each trial only re-runs post-processing and the metric.")
    parser.add_argument("test_dir", nargs="?", metavar="IMAGE_DIR", help="folder of the --truth images")
    parser.add_argument("--out", default="tuned.json", help="preset file to write (default tuned.json)")
    parser.add_argument("--rounds", type=int, default=3, help="coordinate-ascent rounds at most (default 3)")
    parser.add_argument("--tune-categories", metavar="LIST",
                        help="also try dropping these categories one by one, e.g. 0-45 (risks overfitting a small "
                             "validation set)")
    add_model_arguments(parser)
    add_postprocess_arguments(parser, "starting point: matterport, first_place (default) or a JSON file")
    add_image_source_arguments(parser)
    parser.add_argument("--verbose", "-v", action="store_true")
    return parser


def predict_command(args) -> int:
    import pandas as pd

    from fashion_seg.prediction.detections import DetectionStore
    from fashion_seg.evaluation.evaluate import evaluate_submission
    from fashion_seg.prediction.predict_images import class_categories, predict_submission

    settings = post_processing(args)
    paths, ids, truth, folder, labels = image_source(args, args.evaluate)
    predictor, identity, composer = build_predictor(args, labels)
    store = DetectionStore(args.detections, identity) if args.detections else None
    log.info("post-processing: %s", settings.describe())
    summary = predict_submission(predictor, paths, args.out, settings, args.size, class_categories(labels), identity,
                                 store, args.restart, keep_scores=args.evaluate, image_ids=ids, composer=composer)
    seconds = dict(predictor.times.seconds)
    rate = (summary.images - summary.resumed) / max(summary.seconds, 1e-9)
    print(f"wrote {summary.path}: {summary.rows} rows for {summary.images} images "
          f"({summary.resumed} from an earlier run, {summary.from_cache} from cached detections); "
          f"{rate:.2f} images/s; seconds per phase: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    for image_id, message in summary.unreadable:
        print(f"unreadable, given the placeholder row: {image_id}: {message}")
    if not args.evaluate:
        return 0
    overlays = Path(args.overlays) if args.overlays else Path(args.out).with_name(Path(args.out).stem + "_worst")
    evaluation = evaluate_submission(truth, args.out, summary.scored_rows, labels, args.size, folder, overlays,
                                     args.worst)
    with pd.option_context("display.width", 200, "display.max_rows", 1000):
        print(evaluation.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("COCO mask " + ", ".join(f"{k} {v:.4f}" for k, v in evaluation.coco.items()))
    print(f"drew {len(evaluation.overlays)} truth|prediction panels of the lowest-scoring images to {overlays}")
    print(f"images {len(evaluation.metric.per_image)}, pairs {len(evaluation.metric.pairs)}")
    print(f"score: {evaluation.metric.score:.6f}")
    return 0


def tune_command(args) -> int:
    from fashion_seg.prediction.detections import DetectionStore
    from fashion_seg.evaluation.metrics import truth_instances
    from fashion_seg.prediction.settings import parse_categories
    from fashion_seg.prediction.predict_images import class_categories
    from fashion_seg.prediction.tuning import SettingsScorer, cached_detections, tune

    start = post_processing(args)
    paths, ids, truth, _, labels = image_source(args, need_truth=True)
    predictor, identity, composer = build_predictor(args, labels)
    cache = Path(args.detections) if args.detections else Path(args.out).with_name(Path(args.out).stem + "_detections")
    detections = cached_detections(predictor, paths, DetectionStore(cache, identity), ids)
    scorer = SettingsScorer(detections, truth_instances(truth), class_categories(labels), composer)
    categories = parse_categories(args.tune_categories) if args.tune_categories else ()
    result = tune(scorer, start, rounds=args.rounds, tune_categories=categories, composer=composer)
    for name, value in result.presets.items():
        print(f"preset {name}: {value:.6f}")
    print(f"start ({args.preset}): {result.start_score:.6f}  {result.start.describe()}")
    print(f"best: {result.best_score:.6f}  {result.best.describe()}")
    path = result.best.save_json(args.out, score=result.best_score, start_score=result.start_score,
                                 images=len(detections), detections=identity)
    print(f"wrote {path} ({len(result.trials)} settings tried; raw detections cached in {cache})")
    print(f"gain over {args.preset}: {result.gain:+.6f}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    tuning = bool(argv) and argv[0] == "tune"
    args = (tune_parser() if tuning else predict_parser()).parse_args(argv[1:] if tuning else argv)
    setup_logging(args.verbose)
    return tune_command(args) if tuning else predict_command(args)


if __name__ == "__main__":
    sys.exit(run(main))
