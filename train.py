#!/usr/bin/env python
"""Train Mask R-CNN on iMaterialist Fashion data: transfer learning in stages (heads, then all layers).

    python train.py --weights coco --profile dgx --data-dir data          # the seed project's run on 4 GPUs
    python train.py --weights last --model-dir logs                       # continue the newest run where it stopped
    python train.py --weights none --profile demo                         # the CPU demo (data in demo/)
    python train.py --weights coco --stages heads:10,4+:5,all:10:0.1 --set IMAGES_PER_GPU=4
    python train.py profiles                                              # the profiles and what they set
    python train.py curve [RUN_DIR]                                       # redraw a run's loss curve

Exit codes: 0 done, 2 bad input or a non-finite loss (one line on stderr), 130 interrupted (weights saved).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fashion_seg.cli import EXIT_INTERRUPTED, count_arg, run, setup_logging
from fashion_seg.errors import ConfigError

STRATEGIES = ("auto", "one", "mirrored", "multiworker")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def numbers(text: str, option: str, kind=int) -> tuple:
    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected comma-separated numbers") from None


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py", description="Train Mask R-CNN on a competition folder in stages. Options left out come "
        "from the profile, or, when resuming, from the run being resumed. Other commands: 'train.py profiles', "
        "'train.py curve'.")
    parser.add_argument("--weights", required=True, metavar="coco|imagenet|last|none|PATH",
                        help="starting weights: matterport's COCO file (downloaded once, checked), ImageNet "
                             "backbone, none (random), an .h5 file; or 'last' / a checkpoint of a run to resume it")
    parser.add_argument("--profile", help="named settings from config.py (default gpu; see 'train.py profiles')")
    parser.add_argument("--model-dir", default="logs", help="runs folder (default logs)")
    parser.add_argument("--new-run", action="store_true",
                        help="with --weights CHECKPOINT: start a new run from it instead of resuming its run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change a FashionConfig value, e.g. --set IMAGES_PER_GPU=2 (repeatable)")
    parser.add_argument("--verbose", "-v", action="store_true")

    data = parser.add_argument_group("data")
    data.add_argument("--data-dir", help="competition folder: train.csv, train/, label_descriptions.json")
    data.add_argument("--image-dir", help="read the training images here instead (a dataHandling.py prepare cache)")
    split = data.add_mutually_exclusive_group()
    split.add_argument("--split", help="split folder from dataHandling.py split")
    split.add_argument("--val-fraction", type=float, help="else split now: this share for validation (e.g. 0.2)")
    split.add_argument("--val-images", type=int, help="else split now: this many validation images (e.g. 450)")
    data.add_argument("--seed", type=int, help="seed of the split and of the batches")
    data.add_argument("--workers", type=int, default=1, help="build batches in this many threads (default 1)")
    data.add_argument("--multiprocessing", action="store_true", help="use worker processes instead of threads")

    plan = parser.add_argument_group("stages and schedule")
    plan.add_argument("--stages", metavar="LAYERS:EPOCHS[:LR_FACTOR],...",
                      help="e.g. heads:10,all:15:0.1 (layers: heads, 3+, 4+, 5+, all or a regex; learning rate = "
                           "LEARNING_RATE x factor)")
    plan.add_argument("--warmup-steps", type=int, help="linear warm-up over the run's first N steps")
    plan.add_argument("--warmup-factor", type=float, help="warm-up starts at this fraction of the rate (1/3)")
    plan.add_argument("--decay-epochs", metavar="E1,E2", help="multiply the rate by --decay-factor after these "
                      "epochs, e.g. 10,18 (none: no decay)")
    plan.add_argument("--decay-factor", type=float, help="step decay factor (0.1)")
    plan.add_argument("--augmentation", choices=("none", "seed", "first_place"))
    plan.add_argument("--cutout", action="store_true", default=None, help="add cutout (first_place only)")
    plan.add_argument("--multiscale", metavar="MIN,MAX[,LONG]|off",
                      help="random short side in [MIN, MAX] (long side <= LONG), fitted into the canvas")

    metric = parser.add_argument_group("validation metric")
    metric.add_argument("--val-metric-every", type=int, help="competition metric every K epochs (0: never)")
    metric.add_argument("--val-metric-images", type=int, help="on the first N validation images")
    metric.add_argument("--val-metric-preset", help="post-processing: matterport, first_place or a tune JSON")

    devices = parser.add_argument_group("devices")
    devices.add_argument("--strategy", choices=STRATEGIES, default="auto",
                         help="auto (every GPU), one, mirrored (this machine's GPUs; JAX: DataParallel), "
                              "multiworker (TensorFlow, cluster from TF_CONFIG)")
    devices.add_argument("--cpu-devices", type=count_arg, default=0, metavar="N",
                         help="split the CPU into N devices (try mirrored / DataParallel without GPUs)")
    devices.add_argument("--mixed-precision", choices=PRECISIONS, help="dtype policy (config PRECISION)")
    devices.add_argument("--jit", choices=("on", "off", "auto"), help="XLA / jax.jit (config JIT_COMPILE)")
    return parser


def plan_changes(args) -> dict:
    """The training-plan settings given on the command line (the others come from the profile or the run)."""
    from fashion_seg.trainer.plan import parse_stages

    changes = {}
    if args.stages:
        changes["stages"] = parse_stages(args.stages)
    if args.multiscale:
        changes["multiscale"] = None if args.multiscale == "off" else numbers(args.multiscale, "--multiscale")
    if args.decay_epochs:
        changes["decay_epochs"] = () if args.decay_epochs == "none" else numbers(args.decay_epochs, "--decay-epochs")
    if args.split:
        changes["split"] = args.split
    if args.val_fraction is not None:
        changes.update(split=None, val_fraction=args.val_fraction, val_images=None)
    if args.val_images is not None:
        changes.update(split=None, val_fraction=None, val_images=args.val_images)
    for name in ("augmentation", "cutout", "warmup_steps", "warmup_factor", "decay_factor", "val_metric_every",
                 "val_metric_images", "val_metric_preset", "data_dir", "image_dir", "seed"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    return changes


def config_changes(args, config_class) -> dict:
    from fashion_seg.trainer.overrides import parse_config_overrides

    changes = parse_config_overrides(args.set, config_class)
    if args.mixed_precision:
        changes["PRECISION"] = args.mixed_precision
    if args.jit:
        changes["JIT_COMPILE"] = {"on": True, "off": False, "auto": None}[args.jit]
    return changes


def train_command(args) -> int:
    import config
    from fashion_seg.trainer.session import TrainingInterrupted, TrainingRequest, run_training

    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    request = TrainingRequest(weights=args.weights, model_dir=args.model_dir, profile=args.profile,
                              plan_changes=plan_changes(args), config_changes=config_changes(args, config.FashionConfig),
                              strategy=args.strategy, cpu_devices=args.cpu_devices, workers=args.workers,
                              multiprocessing=args.multiprocessing, new_run=args.new_run)
    try:
        result = run_training(request, config.PROFILES, config.FashionConfig, config.DEFAULT_PROFILE)
    except TrainingInterrupted as interrupted:
        print(f"interrupted: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.last_epoch < result.first_epoch:
        print(f"nothing to train: {result.run_dir} has finished its plan (epoch {result.last_epoch}); add stages "
              "with --stages to train further")
    else:
        print(f"trained epochs {result.first_epoch}-{result.last_epoch} in {result.seconds / 60:.1f} min: "
              f"{result.run_dir}")
    print(f"last checkpoint: {result.checkpoint}")
    if result.best:
        print(f"best: epoch {result.best['epoch']}, {result.best['monitor']} {result.best['value']:.4f} "
              f"({result.best_checkpoint})")
    print(f"history: {result.run_dir / 'history.csv'}; loss curve: {result.run_dir / 'loss_curve.png'}")
    for item in result.broken_images:
        print(f"skipped an unreadable image: {item.reference or item.image_id}: {item.error}")
    return 0


def profiles_command(argv) -> int:
    import config

    argparse.ArgumentParser(prog="train.py profiles", description="List the training profiles.").parse_args(argv)
    for name, profile in config.PROFILES.items():
        default = " (default)" if name == config.DEFAULT_PROFILE else ""
        print(f"{name}{default}: {profile.description}")
        print(f"    stages {profile.plan.describe_stages()}; augmentation {profile.plan.augmentation}")
        print("    " + ", ".join(f"{key}={value}" for key, value in profile.config.items()))
    return 0


def curve_command(argv) -> int:
    from fashion_seg.plots import loss_curves
    from fashion_seg.trainer.history import HistoryFile
    from fashion_seg.trainer.runs import CURVE_FILE, HISTORY_FILE

    parser = argparse.ArgumentParser(prog="train.py curve", description="Draw a run's loss curve from its "
                                     "history.csv (training redraws it after every epoch).")
    parser.add_argument("run_dir", nargs="?", help="run directory (default: the newest under --model-dir)")
    parser.add_argument("--model-dir", default="logs")
    parser.add_argument("--out", help="PNG to write (default RUN_DIR/loss_curve.png)")
    args = parser.parse_args(argv)
    if args.run_dir:
        run_dir = Path(args.run_dir)
    else:
        runs = sorted(Path(args.model_dir).glob(f"*/{HISTORY_FILE}"), key=lambda p: p.parent.name[-13:])
        if not runs:
            raise ConfigError(f"no run with a {HISTORY_FILE} under {args.model_dir}")
        run_dir = runs[-1].parent
    if not (run_dir / HISTORY_FILE).exists():
        raise ConfigError(f"{run_dir / HISTORY_FILE} not found: no epoch of that run has finished")
    out = Path(args.out) if args.out else run_dir / CURVE_FILE
    loss_curves(HistoryFile(run_dir / HISTORY_FILE).read(), out, title=run_dir.name)
    print(out)
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "profiles":
        return profiles_command(argv[1:])
    if argv and argv[0] == "curve":
        return curve_command(argv[1:])
    args = train_parser().parse_args(argv)
    setup_logging(args.verbose)
    return train_command(args)


if __name__ == "__main__":
    sys.exit(run(main))
