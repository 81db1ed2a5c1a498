"""fashion_seg against real matterport Mask R-CNN (TF 1.15.5, Keras 2.2.4), side by side in one run, with the
machine's measured float32 peak and each model workload's FLOPs and share of that peak.

    python benchmarks/matterport/setup_env.py          # once: builds the reference environment (Python 3.7)
    python benchmarks/bench_vs_matterport.py            # everything, small iteration counts (a few minutes each)
    python benchmarks/bench_vs_matterport.py --only detect --detect-cases resnet50:512 --repeats 3

Both sides load the same weights: random (seeded) ones written by this project in matterport's h5 layout
(:func:`fashion_seg.mrcnn.weights.save_weights`), loaded by name by each. Same config (NUM_CLASSES 47, square
molding, DETECTION_MIN_CONFIDENCE 0 so that both keep up to DETECTION_MAX_INSTANCES detections), same images.
matterport runs in its own process (``matterport/runner.py``) after ours; the figures are medians.

- detect: ``MaskRCNN.detect([image])`` on the reference bundle's photos (shared/reference_model), batch 1.
- train: one ``train_on_batch`` of a batch of 2 synthetic images with their targets (each side's own generator),
  layers ``heads`` and ``all``, TRAIN_ROIS_PER_IMAGE 200.
- pipeline: one process making training batches of 2 from large JPEGs with native-size RLE masks (competition-like,
  written by bench_pipeline.make_data): ours ``build_batch`` against matterport's ``data_generator`` over a Dataset
  that reads the JPEG with skimage and decodes each RLE row at native size. No augmentation.
- predict: JPEG file -> submission rows at 512x512: ours ``predict_submission`` (loading, molding, network,
  post-processing, RLE) against matterport ``detect`` (masks pasted at full resolution) + resize to 512 + RLE.
- bf16: ours detect (resnet50 512) in mixed_bfloat16 against float32, where the CPU has AVX512_BF16 or AMX.

Goals (issue 16): detect >= 1.5x matterport and >= 80% of peak; train step >= 6x and >= 70% of peak; pipeline >= 5x.
The machine may be shared with other work: the 1-minute load average is printed with every row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

from flops import forward_flops, train_step_flops  # noqa: E402
from matterport.runner import run_workload  # noqa: E402
from peak import measure_peak  # noqa: E402

CLASSES = 47
WORKLOADS = ("detect", "train", "pipeline", "predict", "bf16")


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


class Table:
    """The rows printed as they come and again together at the end."""

    header = (f"{'workload':<34}{'ours s':>9}{'mp s':>9}{'ratio':>7}{'GFLOP':>8}{'ours %pk':>9}{'mp %pk':>8}"
              f"{'load':>6}")

    def __init__(self, peak_gflops: float):
        self.peak = peak_gflops
        self.rows: list[str] = []

    def add(self, name: str, ours: float, theirs: float | None, gflop: float | None = None, unit: str = "") -> None:
        ratio = f"{theirs / ours:6.2f}x" if theirs else f"{'-':>7}"
        mine = f"{100 * gflop / ours / self.peak:8.0f}%" if gflop else f"{'-':>9}"
        other = f"{100 * gflop / theirs / self.peak:7.0f}%" if gflop and theirs else f"{'-':>8}"
        flop_text = f"{gflop:8.1f}" if gflop else f"{'-':>8}"
        theirs_text = f"{theirs:9.3f}" if theirs else f"{'-':>9}"
        row = f"{(name + unit)[:34]:<34}{ours:9.3f}{theirs_text}{ratio}{flop_text}{mine}{other}{load():>6}"
        self.rows.append(row)
        print(row, flush=True)

    def print(self) -> None:
        print("\n" + self.header)
        for row in self.rows:
            print(row)


def matterport_values(backbone: str, size: int, batch: int, **extra) -> dict:
    """The config both sides use (matterport attribute names)."""
    return {"NAME": "bench", "BACKBONE": backbone, "NUM_CLASSES": CLASSES, "IMAGE_MIN_DIM": min(800, size),
            "IMAGE_MAX_DIM": size, "IMAGES_PER_GPU": batch, "GPU_COUNT": 1, "DETECTION_MIN_CONFIDENCE": 0.0, **extra}


def our_config(values: dict, **ours):
    from fashion_seg.mrcnn.config import Config

    return Config(**values, **ours)


def write_weights(backbone: str, path: Path, seed: int = 0) -> Path:
    """Seeded random weights of the whole model in matterport's h5 layout (the same file for every size)."""
    if path.exists():
        return path
    import keras

    from fashion_seg.mrcnn.model import MaskRCNN
    from fashion_seg.mrcnn.weights import save_weights

    keras.utils.set_random_seed(seed)
    model = MaskRCNN("inference", our_config(matterport_values(backbone, 256, 1)), str(path.parent))
    save_weights(model.keras_model, path)
    return path


def timed(function, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def photos() -> list[np.ndarray]:
    from PIL import Image

    reference = Path(os.environ.get("FASHION_SEG_REFERENCE_MODEL") or HERE.parents[1] / "shared" / "reference_model")
    paths = sorted(reference.glob("image_*.jpg"))
    if not paths:
        return [np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)]
    return [np.asarray(Image.open(path).convert("RGB")) for path in paths]


def our_detect(values: dict, weights: Path, images, repeats: int, precision: str = "float32"):
    """(median seconds per image, FLOPs per image, detections per image) of ours."""
    from fashion_seg.mrcnn.model import MaskRCNN

    model = MaskRCNN("inference", our_config(values, PRECISION=precision), tempfile.mkdtemp())
    model.load_weights(str(weights), by_name=True)
    state = {"next": 0, "found": []}

    def detect():
        result = model.detect([images[state["next"] % len(images)]])[0]
        state["next"] += 1
        state["found"].append(len(result["class_ids"]))

    seconds = timed(detect, 1, repeats)
    return statistics.median(seconds), forward_flops(model.keras_model, model.config), np.mean(state["found"])


def bench_detect(args, table: Table, work: Path) -> None:
    images = photos()
    data = work / "photos.npz"
    np.savez(data, **{f"image_{i}": image for i, image in enumerate(images)})
    for case in args.detect_cases:
        backbone, size = case.split(":")
        values = matterport_values(backbone, int(size), 1)
        weights = write_weights(backbone, work / f"{backbone}.h5")
        ours, flops, found = our_detect(values, weights, images, args.repeats)
        theirs = run_workload("detect", config=values, weights=str(weights), data=str(data), warmup=1,
                              repeats=args.repeats)
        table.add(f"detect {backbone} {size}² ({found:.0f}/{theirs['detections_per_image']:.0f} det)", ours,
                  statistics.median(theirs["seconds"]), flops / 1e9)


def bench_bf16(args, table: Table, work: Path, flags: list[str]) -> None:
    if not flags:
        print("bf16: the CPU has neither AVX512_BF16 nor AMX; skipped")
        return
    images = photos()
    values = matterport_values("resnet50", 512, 1)
    weights = write_weights("resnet50", work / "resnet50.h5")
    fp32, flops, _ = our_detect(values, weights, images, args.repeats)
    bf16, _, _ = our_detect(values, weights, images, args.repeats, precision="mixed_bfloat16")
    table.add("ours detect r50 512² float32", fp32, None, flops / 1e9)
    table.add("ours detect r50 512² bf16 (mp=fp32)", bf16, fp32, flops / 1e9)


def synthetic_training_data(work: Path, values: dict):
    from bench_train_step import SyntheticShapes

    dataset = SyntheticShapes(values["IMAGES_PER_GPU"], values["IMAGE_MAX_DIM"], CLASSES)
    path = work / f"shapes{values['IMAGE_MAX_DIM']}.npz"
    arrays = {}
    for index, (image, masks, ids) in enumerate(dataset.scenes):
        arrays.update({f"image_{index}": image, f"masks_{index}": masks, f"class_ids_{index}": ids})
    np.savez(path, **arrays)
    return dataset, path


def bench_train(args, table: Table, work: Path) -> None:
    from fashion_seg.mrcnn.batches import build_batch
    from fashion_seg.mrcnn.model import MaskRCNN

    values = matterport_values("resnet50", args.train_size, 2, TRAIN_ROIS_PER_IMAGE=200)
    weights = write_weights("resnet50", work / "resnet50.h5")
    dataset, data = synthetic_training_data(work, values)
    for layers in args.train_layers:
        config = our_config(values)
        batch = build_batch(dataset, dataset.image_ids[:config.BATCH_SIZE], config)
        model = MaskRCNN("training", config, tempfile.mkdtemp())
        model.load_weights(str(weights), by_name=True)
        model.set_trainable(layers, verbose=0)
        model.compile(config.LEARNING_RATE, config.LEARNING_MOMENTUM)
        network = model.keras_model
        ours = statistics.median(timed(lambda: network.train_on_batch(batch), 2, args.train_repeats))
        flops = 2 * train_step_flops(network, config)
        theirs = run_workload("train_step", config=values, weights=str(weights), data=str(data), layers=layers,
                              warmup=0, repeats=args.train_repeats)
        table.add(f"train step r50 {args.train_size}² b2 {layers}", ours, statistics.median(theirs["seconds"]),
                  flops / 1e9, " (s/step)")
        del model, network


def bench_pipeline(args, table: Table, work: Path) -> None:
    import cv2

    from bench_pipeline import BenchConfig, make_data, measure_ours
    from fashion_seg.data.imaterialist import FashionDataset

    cv2.setNumThreads(1)
    root = work / "pipeline"
    make_data(root, args.pipeline_images + 1)  # the last one (74 instances) is left out, as in bench_pipeline
    dataset = FashionDataset.from_data_dir(root)
    image_ids = [i for i in dataset.image_ids if len(dataset.image_info[i]["rles"]) < 74]
    image_ids = image_ids[:len(image_ids) // 2 * 2]
    samples = [{"path": str(dataset.image_info[i]["path"]), "height": int(dataset.image_info[i]["height"]),
                "width": int(dataset.image_info[i]["width"]), "rles": list(dataset.image_info[i]["rles"]),
                "class_ids": [int(c) + 1 for c in dataset.image_info[i]["category_ids"]]} for i in image_ids]
    for side in args.pipeline_sizes:
        values = matterport_values("resnet50", side, 2)
        config = BenchConfig(IMAGE_MAX_DIM=side, IMAGE_MIN_DIM=min(800, side))
        ours = measure_ours(dataset, config, np.array(image_ids), None)[0] / len(image_ids)
        theirs = run_workload("data_generator", config=values, samples=samples)
        table.add(f"pipeline {side}² one process", ours, sum(theirs["seconds"]) / len(image_ids), None, " (s/img)")


def bench_predict(args, table: Table, work: Path) -> None:
    from fashion_seg.checkpoints import inference_config
    from fashion_seg.data.synthetic import make_demo_dataset
    from fashion_seg.prediction.inference import Predictor
    from fashion_seg.mrcnn.model import MaskRCNN
    from fashion_seg.prediction.settings import PostProcessing
    from fashion_seg.prediction.predict_images import predict_submission
    from fashion_seg.prediction.submission import expected_image_ids

    demo = make_demo_dataset(work / "demo", train_images=1, test_images=args.predict_images + 1, min_side=700,
                             max_side=2000, large_side=None)
    paths = [demo.root / "test" / name for name in expected_image_ids(demo.root / "test")]
    keep_everything = PostProcessing(min_score=0.0, nms_iou=1.0, max_detections=1000, mask_threshold=0.5, min_area=0)
    for case in args.predict_cases:
        backbone, size = case.split(":")
        values = matterport_values(backbone, int(size), 1)
        weights = write_weights(backbone, work / f"{backbone}.h5")
        model = MaskRCNN("inference", inference_config(values, {}, 1), tempfile.mkdtemp())
        model.load_weights(str(weights), by_name=True)
        predictor = Predictor([model], batch_size=1)
        predict_submission(predictor, paths[:1], work / "warm.csv", keep_everything, 512, progress=False)
        start = time.perf_counter()
        summary = predict_submission(predictor, paths[1:], work / "ours.csv", keep_everything, 512, progress=False)
        ours = (time.perf_counter() - start) / summary.images
        theirs = run_workload("predict", config=values, weights=str(weights), paths=[str(p) for p in paths[1:]],
                              out_size=512, warmup=1, repeats=len(paths) - 1)
        table.add(f"predict {backbone} {size}² ({summary.rows / summary.images:.0f}/"
                  f"{theirs['rows_per_image']:.0f} rows)", ours, statistics.median(theirs["seconds"]), None,
                  " (s/img)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--detect-cases", nargs="+", default=["resnet50:1024", "resnet101:1024", "resnet50:512"],
                        help="BACKBONE:SIZE")
    parser.add_argument("--repeats", type=int, default=2, help="timed detect calls per side (after one warm-up)")
    parser.add_argument("--train-layers", nargs="+", default=["heads", "all"])
    parser.add_argument("--train-size", type=int, default=512)
    parser.add_argument("--train-repeats", type=int, default=1, help="timed steps per side (after the warm-up)")
    parser.add_argument("--pipeline-images", type=int, default=6)
    parser.add_argument("--pipeline-sizes", type=int, nargs="+", default=[1024, 512])
    parser.add_argument("--predict-cases", nargs="+", default=["resnet50:1024"], help="BACKBONE:SIZE")
    parser.add_argument("--predict-images", type=int, default=3)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import subprocess

    model = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    name = next((line.split(":", 1)[1].strip() for line in model.splitlines() if line.startswith("Model name")), "?")
    print(f"CPU {name}, {os.cpu_count()} cores; load average {os.getloadavg()}")
    peak = measure_peak()
    for line in peak.lines():
        print(line)
    table = Table(peak.float32)
    print("ours and matterport (mp): seconds per image unless marked; ratio = mp / ours (>1: ours faster); "
          "%pk = share of the float32 peak\n" + table.header)
    with tempfile.TemporaryDirectory(prefix="bench_vs_matterport_") as scratch:
        work = Path(scratch)
        failed = []
        for workload in args.only:
            try:
                if workload == "bf16":
                    bench_bf16(args, table, work, peak.bf16_flags)
                else:
                    globals()[f"bench_{workload}"](args, table, work)
            except Exception as error:  # one failed workload must not hide the others' figures
                failed.append(workload)
                print(f"{workload} failed: {type(error).__name__}: {error}", flush=True)
    table.print()
    if failed:
        print(f"failed: {', '.join(failed)}")
    print(f"float32 peak {peak.float32:.1f} GFLOP/s; load average at the end {os.getloadavg()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
