#!/usr/bin/env python
"""Data tools for the iMaterialist Fashion 2019 competition files: demo data, validation, statistics, split, resized
image cache, scoring and submission checks.

    python dataHandling.py make-demo --out demo [--scenes crowded]
    python dataHandling.py validate --data-dir demo [--fix cleaned.csv]
    python dataHandling.py stats --data-dir demo --out demo/stats [--profile demo]
    python dataHandling.py split --data-dir demo --val-fraction 0.2 --seed 0 --out demo/split
    python dataHandling.py prepare --data-dir demo --max-side 512 --out demo/cache
    python dataHandling.py perturb --truth demo/test_truth.csv --out demo/test_perturbed.csv
    python dataHandling.py score --truth demo/test_truth.csv --submission demo/test_perturbed.csv
    python dataHandling.py check-submission --submission demo/test_perturbed.csv --test-dir demo/test

Exit codes: 0 fine, 1 problems found (validate, prepare, check-submission), 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fashion_seg.cli import SIZE_HELP, count_arg, run, setup_logging, size_arg
from fashion_seg.errors import DataError

#: what score and perturb read: truth in train.csv format, a submission in Kaggle's
TRUTH_COLUMNS = ("ImageId", "EncodedPixels", "Height", "Width", "ClassId")
SUBMISSION_COLUMNS = ("ImageId", "EncodedPixels", "ClassId")


def make_demo(args) -> int:
    if args.scenes == "crowded":
        from fashion_seg.data.synthetic.crowded import make_crowded_dataset

        demo = make_crowded_dataset(args.out, seed=args.seed, train_images=args.train_images,
                                    test_images=args.test_images)
    else:
        from fashion_seg.data.synthetic import make_demo_dataset

        demo = make_demo_dataset(args.out, seed=args.seed, train_images=args.train_images,
                                 test_images=args.test_images, large_side=args.large_side or None)
    print(f"wrote {demo.root}: {demo.train_images} train images ({demo.train_rows} masks), "
          f"{demo.test_images} test images ({demo.test_rows} masks in test_truth.csv)")
    return 0


def validate(args) -> int:
    from fashion_seg.data.train_csv import write_train_csv
    from fashion_seg.data.validation import clean_annotations, validate_data_dir

    data_dir = Path(args.data_dir)
    if args.fix and Path(args.fix).resolve() == (data_dir / "train.csv").resolve():
        raise DataError(f"--fix {args.fix} would overwrite the input; write the cleaned CSV elsewhere")
    annotations, report = validate_data_dir(data_dir, check_all_pixels=args.check_pixels, progress=True)
    print(report.table(limit=args.limit))
    if args.report:
        from fashion_seg.atomic import atomic_write

        with atomic_write(args.report, newline="") as handle:
            report.to_frame().to_csv(handle, index=False)
        print(f"wrote all {len(report.problems)} problems to {args.report}")
    if args.fix:
        cleaned, counts = clean_annotations(annotations, report, swapped_sizes=args.swapped)
        write_train_csv(cleaned, args.fix)
        print(f"wrote {args.fix}: kept {counts['kept']} of {len(annotations)} rows, dropped {counts['dropped']}, "
              f"rotated {counts['rotated']} (swapped sizes: {args.swapped})")
    return 0 if report.ok else 1


def stats(args) -> int:
    from fashion_seg import visualize
    from fashion_seg.data.imaterialist import FashionDataset
    from fashion_seg.data.labels import read_data_dir_labels
    from fashion_seg.data.train_csv import read_train_csv
    from fashion_seg.data.stats import compute_stats, write_stats

    labels = read_data_dir_labels(args.data_dir)
    annotations = read_train_csv(Path(args.data_dir) / "train.csv")
    result = compute_stats(annotations, labels)
    print(result.summary())
    paths = write_stats(result, args.out)
    paths += anchor_report(annotations, args.profile, args.out)
    if args.samples:
        dataset = FashionDataset(annotations, Path(args.data_dir) / "train", labels)
        paths += visualize.draw_dataset_samples(dataset, Path(args.out) / "samples", args.samples)
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


def anchor_report(annotations, profile: str, out_dir) -> list:
    """Print the box sizes at the profile's training scale against its anchor scales; write the table and chart."""
    import config
    from fashion_seg.data.anchor_fit import box_sizes, fit_anchors, write_anchor_fit
    from fashion_seg.errors import ConfigError

    if profile not in config.PROFILES:
        raise ConfigError(f"--profile {profile}: no such profile; choose one of {', '.join(config.PROFILES)}")
    training = config.FashionConfig(**config.PROFILES[profile].config)
    sizes = box_sizes(annotations, training)
    if sizes.size == 0:
        return []
    fit = fit_anchors(sizes, training.RPN_ANCHOR_SCALES)
    print(f"\nanchors of profile {profile} ({training.IMAGE_MAX_DIM} px):\n{fit.summary()}")
    return write_anchor_fit(fit, sizes, out_dir)


def split(args) -> int:
    from fashion_seg.data.split import split_data_dir, write_split

    train, val, proportions = split_data_dir(args.data_dir, args.val_fraction, args.val_images, args.seed)
    write_split(args.out, train, val, proportions)
    print(f"wrote {args.out}: {len(train)} train and {len(val)} validation images; largest difference in a "
          f"category's share of images: {proportions['difference'].max():.4f}")
    return 0


def prepare(args) -> int:
    from fashion_seg.data.cache import prepare_image_cache

    report = prepare_image_cache(args.data_dir, args.out, args.max_side, tuple(args.splits.split(",")),
                                 workers=args.workers)
    print(f"wrote {args.out}: {report.written} resized, {report.copied} copied (already small), "
          f"{report.kept} kept from an earlier run, {len(report.failed)} failed")
    for split_name, image_id, message in report.failed:
        print(f"failed {split_name}/{image_id}: {message}")
    return 1 if report.failed else 0


def perturb(args) -> int:
    from fashion_seg.data.train_csv import read_string_csv
    from fashion_seg.data.synthetic import perturb_truth
    from fashion_seg.prediction.submission import write_submission

    truth = read_string_csv(args.truth, TRUTH_COLUMNS)
    submission = perturb_truth(truth, seed=args.seed, size=args.size)
    if args.size is None:
        from fashion_seg.atomic import atomic_write

        with atomic_write(args.out, newline="") as handle:
            submission.to_csv(handle, index=False)
        rows = len(submission)
    else:
        rows = write_submission(submission, args.out, sorted(set(truth["ImageId"])))
    print(f"wrote {args.out}: {rows} rows for {truth['ImageId'].nunique()} images")
    return 0


def score(args) -> int:
    import pandas as pd

    from fashion_seg.evaluation import metrics
    from fashion_seg.evaluation.attribute_metrics import attribute_scores, strip_attributes
    from fashion_seg.data.labels import read_label_descriptions
    from fashion_seg.data.train_csv import read_string_csv

    if args.panels and not args.image_dir:
        raise DataError("--panels needs --image-dir (the folder of the truth's images)")
    truth = read_string_csv(args.truth, TRUTH_COLUMNS)
    submission = read_string_csv(args.submission, SUBMISSION_COLUMNS)
    submission_size = args.submission_size
    labels = read_label_descriptions(args.labels)
    true, predicted = metrics.frame_instances(truth, submission, args.size, submission_size)
    result = metrics.score_instances(true, predicted, args.average, progress=True)
    category_only = metrics.score_instances(strip_attributes(true), strip_attributes(predicted), args.average)
    attributes = attribute_scores(true, predicted, labels)
    with pd.option_context("display.width", 200, "display.max_rows", 1000):
        print(result.per_class(labels, by=args.by).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"attributes over {attributes.matched} matched instances (same image and category, mask IoU > 0.5); "
              f"{attributes.matched_with_attributes} of the {attributes.true_with_attributes} true instances with "
              f"attributes matched")
        print(attributes.table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-"))
    if args.coco:
        ap = metrics.coco_mask_ap(true, predicted)
        print("COCO mask " + ", ".join(f"{k} {v:.4f}" for k, v in ap.items()))
    if args.panels:
        from fashion_seg.visualize import draw_worst_images

        paths = draw_worst_images(truth, submission, result.per_image, args.image_dir, args.panels, args.worst,
                                  submission_size)
        print(f"drew {len(paths)} truth|prediction panels of the lowest-scoring images to {args.panels}")
    print(f"images {len(result.per_image)}, pairs {len(result.pairs)}, averaged per {args.average.replace('_', '-')}")
    print(f"score with attributes stripped from both sides (category only): {category_only.score:.6f}")
    print(f"score: {result.score:.6f}")
    return 0


def check_submission_command(args) -> int:
    from fashion_seg.prediction.submission import check_submission, expected_image_ids

    image_ids = expected_image_ids(test_dir=args.test_dir, sample_csv=args.sample)
    problems = check_submission(args.submission, image_ids, size=args.size, test_dir=args.test_dir)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problems: {args.submission} is not a valid submission")
        return 1
    print(f"ok: {args.submission} is a valid submission for {len(image_ids)} test images")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dataHandling.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    command = commands.add_parser("make-demo", help="write a small synthetic dataset in the competition layout")
    command.add_argument("--out", required=True, help="folder to write (train/, test/, train.csv, ...)")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--train-images", type=count_arg, default=40)
    command.add_argument("--test-images", type=count_arg, default=8)
    command.add_argument("--large-side", type=count_arg, default=3000,
                         help="long side of the one large train image (0: none; simple scenes only)")
    command.add_argument("--scenes", choices=["simple", "crowded"], default="simple",
                         help="simple (default): 1-3 figures side by side on a plain background; crowded: 1-4 "
                              "overlapping people on clutter, 128-1024 px images, small parts, 1 in 5 grayscale")
    command.set_defaults(handler=make_demo)

    command = commands.add_parser("validate", help="list every problem of train.csv and the images; exit 1 if any")
    command.add_argument("--data-dir", required=True)
    command.add_argument("--fix", metavar="OUT.csv", help="also write a cleaned train.csv here (never the input)")
    command.add_argument("--swapped", choices=["skip", "rotate"], default="skip",
                         help="with --fix: drop images whose CSV size is swapped, or rotate their masks (default skip)")
    command.add_argument("--check-pixels", action="store_true", help="decode every image fully (finds truncated files)")
    command.add_argument("--limit", type=int, default=50, help="problems shown in the table (default 50)")
    command.add_argument("--report", metavar="CSV", help="write all problems to this CSV")
    command.set_defaults(handler=validate)

    command = commands.add_parser("stats", help="counts per category/attribute, masks per image, sizes: table + PNGs")
    command.add_argument("--data-dir", required=True)
    command.add_argument("--out", required=True)
    command.add_argument("--samples", type=int, default=4, help="training images drawn with their masks (default 4)")
    command.add_argument("--profile", default="gpu", help="report box sizes at this train.py profile's training "
                         "scale against its RPN_ANCHOR_SCALES, and suggest scales (default gpu: 1024 px)")
    command.set_defaults(handler=stats)

    command = commands.add_parser("split", help="stratified train/validation split of the training images")
    command.add_argument("--data-dir", required=True)
    size = command.add_mutually_exclusive_group(required=True)
    size.add_argument("--val-fraction", type=float, help="share of images for validation, e.g. 0.2")
    size.add_argument("--val-images", type=int, help="number of validation images, e.g. 450")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--out", required=True, help="folder for train_ids.txt, val_ids.txt, class_proportions.csv")
    command.set_defaults(handler=split)

    command = commands.add_parser("prepare", help="resized copy of train/ and test/ for fast loading")
    command.add_argument("--data-dir", required=True)
    command.add_argument("--max-side", type=int, required=True, help="longest image side in the cache")
    command.add_argument("--out", required=True)
    command.add_argument("--splits", default="train,test", help="folders to cache (default train,test)")
    command.add_argument("--workers", type=int, help="processes (default: all CPU cores)")
    command.set_defaults(handler=prepare)

    command = commands.add_parser("perturb", help="an imperfect submission made from truth (demo of the metric)")
    command.add_argument("--truth", required=True, help="train.csv-format truth with Height/Width")
    command.add_argument("--out", required=True)
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--size", type=size_arg, default=512, help=SIZE_HELP)
    command.set_defaults(handler=perturb)

    command = commands.add_parser("score", help="competition metric of a submission, also with attributes stripped, "
                                              "and attribute precision/recall/F1; last line 'score: <value>'")
    command.add_argument("--truth", required=True, help="train.csv-format truth with Height/Width")
    command.add_argument("--submission", required=True)
    command.add_argument("--size", type=size_arg, default=512, help="scoring " + SIZE_HELP + " (default 512)")
    command.add_argument("--submission-size", type=size_arg, default=512,
                         help="grid of the submission's masks when it has no Height/Width columns: 512 (default, "
                              "Kaggle's) or native")
    command.add_argument("--average", choices=["image", "image_class"], default="image",
                         help="mean over images (default) or over (image, class) pairs")
    command.add_argument("--by", choices=["category", "class_id"], default="category", help="rows of the table")
    command.add_argument("--labels", help="label_descriptions.json (default: the 2019 file)")
    command.add_argument("--coco", action="store_true", help="also print COCO mask AP (pycocotools)")
    command.add_argument("--panels", metavar="DIR", help="draw truth|prediction panels of the worst images here")
    command.add_argument("--image-dir", help="images of the truth (for --panels)")
    command.add_argument("--worst", type=int, default=8, help="panels to draw (default 8)")
    command.set_defaults(handler=score)

    command = commands.add_parser("check-submission", help="list every problem of a submission file; exit 1 if any")
    command.add_argument("--submission", required=True)
    expected = command.add_mutually_exclusive_group(required=True)
    expected.add_argument("--test-dir", help="folder of the test images")
    expected.add_argument("--sample", help="sample_submission.csv")
    command.add_argument("--size", type=size_arg, default=512, help=SIZE_HELP + " (native needs --test-dir)")
    command.set_defaults(handler=check_submission_command)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(run(main))
