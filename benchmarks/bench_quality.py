"""Score against minutes of training: a profile trained from random weights on crowded scenes, scored as it goes.

    python benchmarks/bench_quality.py --profile cpu-crowded --minutes 20 [--marks 5,10,15,20] [--train-images 300]
                                       [--test-images 40] [--work runs/bench_quality] [--train-arg=--set=KEY=VALUE]

Steps, each through the project's own commands: a crowded dataset
(:func:`fashion_seg.data.synthetic.crowded.make_crowded_dataset`, written once per seed and size into ``--work``),
``dataHandling.py split`` and ``prepare --max-side 512``; ``train.py --weights none --profile P`` in a child
process, stopped (SIGTERM, its interrupted checkpoint kept) once ``--minutes`` of training have passed, counted as
the sum of its epochs' seconds in ``history.csv`` (start-up and model building left out); then, for the last
checkpoint written before each minute mark, ``predict.py`` on the held-out test images and the competition metric
(:func:`fashion_seg.evaluation.metrics.score_frames`) against ``test_truth.csv``: the score, the category-only score
(attributes removed from truth and prediction) and the small-parts score (mean pair score, category-only, of
glasses, shoes and zippers). At the last mark the post-processing is also tuned (``predict.py tune`` on the
validation split) and the test images predicted again with the tuned preset.

Writes ``quality.csv`` (columns :data:`COLUMNS`) and ``quality.png`` (the curves) into ``--work`` and prints the
table. The machine may be shared: the load average is printed and kept in the table; compare figures taken at
similar load.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import dataHandling  # noqa: E402
import predict  # noqa: E402
from fashion_seg import plots  # noqa: E402
from fashion_seg.evaluation import metrics  # noqa: E402
from fashion_seg.data.synthetic.crowded import make_crowded_dataset  # noqa: E402
from fashion_seg.data.labels import parse_class_id  # noqa: E402
from fashion_seg.data.train_csv import read_string_csv  # noqa: E402
from fashion_seg.data.synthetic import GLASSES, SHOE, ZIPPER  # noqa: E402
from fashion_seg.trainer.runs import HISTORY_FILE  # noqa: E402

SMALL_PARTS = (GLASSES, SHOE, ZIPPER)
COLUMNS = ["minutes", "epoch", "score", "category_score", "small_parts_score", "tuned_score",
           "tuned_category_score", "tuned_small_parts_score", "load"]


def prepare_data(work: Path, seed: int, train_images: int, test_images: int, cache_side: int) -> Path:
    """The crowded dataset with its split and resized cache, made once per seed and size; returns its folder."""
    data = work / f"crowded_seed{seed}_{train_images}_{test_images}"
    if not (data / "test_truth.csv").exists():
        make_crowded_dataset(data, seed=seed, train_images=train_images, test_images=test_images)
    if not (data / "split").exists():
        dataHandling.main(["split", "--data-dir", str(data), "--val-fraction", "0.2", "--seed", "0",
                           "--out", str(data / "split")])
    dataHandling.main(["prepare", "--data-dir", str(data), "--max-side", str(cache_side), "--out",
                       str(data / "cache")])
    return data


def trained_seconds(run_dir: Path) -> pd.DataFrame:
    """``epoch``, ``minutes`` (cumulative training minutes at the end of the epoch) of a run so far."""
    path = run_dir / HISTORY_FILE
    if not path.exists():
        return pd.DataFrame({"epoch": [], "minutes": []})
    history = pd.read_csv(path)
    return pd.DataFrame({"epoch": history["epoch"], "minutes": history["seconds"].cumsum() / 60})


def train(data: Path, model_dir: Path, profile: str, minutes: float, extra: list[str]) -> tuple[Path, float]:
    """Run train.py until its plan ends or ``minutes`` of training have passed; returns the run directory and the
    mean 1-minute load average while it ran."""
    command = [sys.executable, str(REPO / "train.py"), "--weights", "none", "--profile", profile, "--data-dir",
               str(data), "--split", str(data / "split"), "--image-dir", str(data / "cache" / "train"),
               "--model-dir", str(model_dir), "--new-run", *extra]
    print("$ " + " ".join(command), flush=True)
    before = set(model_dir.glob("*")) if model_dir.exists() else set()
    child = subprocess.Popen(command, cwd=REPO)
    run_dir, loads = None, []
    while child.poll() is None:
        time.sleep(2)
        loads.append(os.getloadavg()[0])
        if run_dir is None:
            new = [p for p in model_dir.glob("*") if p.is_dir() and p not in before] if model_dir.exists() else []
            run_dir = new[0] if new else None
        if run_dir is not None:
            done = trained_seconds(run_dir)
            if len(done) and done["minutes"].iloc[-1] >= minutes:
                child.send_signal(signal.SIGTERM)
                child.wait()
    if child.returncode not in (0, 130, -signal.SIGTERM) or run_dir is None:
        raise SystemExit(f"train.py failed (exit {child.returncode})")
    return run_dir, float(np.mean(loads)) if loads else os.getloadavg()[0]


def checkpoint_at(run_dir: Path, done: pd.DataFrame, mark: float) -> tuple[int, float, Path] | None:
    """(epoch, minutes, checkpoint) of the last epoch finished by ``mark`` minutes, or None."""
    finished = done[done["minutes"] <= mark + 1e-9]
    for epoch, minutes in zip(finished["epoch"][::-1], finished["minutes"][::-1]):
        found = sorted(run_dir.glob(f"mask_rcnn_*_{int(epoch):04d}.h5"))
        if found:
            return int(epoch), float(minutes), found[0]
    return None


def scores(truth: pd.DataFrame, submission_csv: Path) -> tuple[float, float, float]:
    """(score, category-only score, small-parts score) of a 512x512 submission against native-size truth."""
    submission = read_string_csv(submission_csv)
    score = metrics.score_frames(truth, submission, 512, 512, "image").score
    categories = metrics.score_frames(_categories_only(truth), _categories_only(submission), 512, 512, "image")
    pairs = categories.pairs
    small = pairs[[parse_class_id(c)[0] in SMALL_PARTS for c in pairs["ClassId"]]]
    return score, categories.score, float(small["score"].mean()) if len(small) else float("nan")


def _categories_only(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    filled = frame["ClassId"].astype(str) != ""
    frame.loc[filled, "ClassId"] = [str(parse_class_id(c)[0]) for c in frame.loc[filled, "ClassId"]]
    return frame


def predict_test(data: Path, checkpoint: Path, out: Path, preset: str | None = None) -> Path:
    argv = [str(data / "test"), "--weights", str(checkpoint), "--out", str(out), "--restart"]
    predict.main(argv + (["--preset", preset] if preset else []))
    return out


def tune(data: Path, checkpoint: Path, out: Path) -> Path:
    predict.main(["tune", "--split", str(data / "split"), "--data-dir", str(data), "--image-dir",
                  str(data / "cache" / "train"), "--weights", str(checkpoint), "--out", str(out)])
    return out


def draw_curve(table: pd.DataFrame, path: Path, title: str) -> Path:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    for column, label, colour in (("score", "score", "#4c72b0"), ("category_score", "category-only", "#55a868"),
                                  ("small_parts_score", "small parts", "#c44e52")):
        axes.plot(table["minutes"], table[column], marker="o", color=colour, label=label)
    tuned = table.dropna(subset=["tuned_score"])
    axes.plot(tuned["minutes"], tuned["tuned_score"], marker="*", markersize=12, linestyle="", color="#4c72b0",
              label="score, tuned")
    axes.set_xlabel("minutes of training")
    axes.set_ylabel("competition metric (test)")
    axes.set_title(title)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    return plots.save_figure(figure, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu-crowded")
    parser.add_argument("--minutes", type=float, default=20.0, help="minutes of training (default 20)")
    parser.add_argument("--marks", help="minute marks to score, e.g. 5,10,15,20 (default: 4 evenly spaced)")
    parser.add_argument("--train-images", type=int, default=300)
    parser.add_argument("--test-images", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0, help="seed of the dataset")
    parser.add_argument("--cache-side", type=int, default=512, help="long side of the prepared training images")
    parser.add_argument("--work", default=str(REPO / "runs" / "bench_quality"),
                        help="folder for the data, the runs and the results (default runs/bench_quality, ignored)")
    parser.add_argument("--train-arg", action="append", default=[], metavar="ARG",
                        help="extra train.py argument, repeatable (--train-arg=--set=IMAGE_MAX_DIM=384)")
    parser.add_argument("--no-tune", action="store_true", help="skip tuning at the last mark")
    args = parser.parse_args(argv)
    marks = ([float(m) for m in args.marks.split(",")] if args.marks
             else [args.minutes * (k + 1) / 4 for k in range(4)])
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = prepare_data(work, args.seed, args.train_images, args.test_images, args.cache_side)
    run_dir, load = train(data, work / "logs", args.profile, max(marks), args.train_arg)
    done = trained_seconds(run_dir)
    truth = read_string_csv(data / "test_truth.csv")
    rows = []
    for mark in marks:
        found = checkpoint_at(run_dir, done, mark)
        if found is None or (rows and rows[-1]["epoch"] == found[0]):
            continue
        epoch, minutes, checkpoint = found
        submission = predict_test(data, checkpoint, work / f"submission_{epoch:04d}.csv")
        row = dict(zip(COLUMNS, [minutes, epoch, *scores(truth, submission)] + [np.nan] * 3 + [load]))
        rows.append(row)
    if rows and not args.no_tune:
        checkpoint = checkpoint_at(run_dir, done, marks[-1])[2]
        preset = tune(data, checkpoint, work / "tuned.json")
        submission = predict_test(data, checkpoint, work / "submission_tuned.csv", str(preset))
        rows[-1].update(zip(COLUMNS[5:8], scores(truth, submission)))
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.to_csv(work / "quality.csv", index=False)
    draw_curve(table, work / "quality.png", f"{args.profile}: {args.train_images} crowded train images, "
                                            f"{args.test_images} test")
    print(f"run {run_dir}; mean load average (1 min) while training {load:.2f}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {work / 'quality.csv'} and {work / 'quality.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
