"""Inference speed of MaskRCNN.detect(): images/s, split into molding, graph and unmolding time.

    python benchmarks/bench_detect.py --backbone resnet50 --size 1024 --batch 1 --precision float32
    KERAS_BACKEND=jax python benchmarks/bench_detect.py --backbone resnet101 --size 1024 --batch 4

Weights are random (seeded) unless --weights is given (e.g. ``--weights coco`` for matterport's COCO file with 81
classes). The confidence filter is off by default (DETECTION_MIN_CONFIDENCE=0), so the detection count, which sets the
cost of the mask head and of unmolding, is whatever the weights give (printed); matterport runs its mask head on 100
rows whatever the count.
Images are the reference bundle's two photos when present (shared/reference_model), else random noise.

Against real matterport, side by side in one run with the same weights and images: bench_vs_matterport.py --only
detect.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet50", choices=["resnet50", "resnet101", "resnet_tiny"])
    parser.add_argument("--size", type=int, default=1024, help="IMAGE_MAX_DIM (square molding)")
    parser.add_argument("--batch", type=int, default=1, help="IMAGES_PER_GPU (images per graph call)")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    parser.add_argument("--jit", choices=["auto", "on", "off"], default="auto", help="JIT_COMPILE None/True/False")
    parser.add_argument("--classes", type=int, default=81, help="NUM_CLASSES (81 = COCO)")
    parser.add_argument("--min-confidence", type=float, default=0.0, help="DETECTION_MIN_CONFIDENCE")
    parser.add_argument("--weights", help="h5 weights file, or 'coco' (downloaded and cached)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (fixes the detection count)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed batches (the first compiles the graph)")
    parser.add_argument("--batches", type=int, default=3, help="timed batches")
    parser.add_argument("--stages", action="store_true", help="also time the network stage by stage")
    return parser.parse_args(argv)


def load_images(count: int) -> list[np.ndarray]:
    reference = Path(os.environ.get("FASHION_SEG_REFERENCE_MODEL") or
                     Path(__file__).resolve().parents[2] / "shared" / "reference_model")
    photos = sorted(reference.glob("image_*.jpg"))
    if photos:
        from PIL import Image

        pool = [np.asarray(Image.open(path).convert("RGB")) for path in photos]
    else:
        rng = np.random.default_rng(0)
        pool = [rng.integers(0, 256, size=(600, 800, 3), dtype=np.uint8)]
    return [pool[i % len(pool)] for i in range(count)]


def stage_times(model, molded, metas, repeats: int) -> dict[str, float]:
    """Seconds per batch of the network up to each stage (each prefix compiled as its own function; the fastest of
    ``repeats`` runs)."""
    import keras

    from fashion_seg.mrcnn.predictor import CompiledPredictor

    graph = model.keras_model
    prefixes = {
        "backbone C2-C5": [graph.get_layer(name).output for name in _stage_outputs(model.config)],
        "+ FPN": [graph.get_layer(f"fpn_p{i}").output for i in range(2, 7)],
        "+ RPN": [graph.get_layer("rpn_class").output, graph.get_layer("rpn_bbox").output],
        "+ proposals": [graph.get_layer("ROI").output],
        "+ classifier, detections": [graph.get_layer("mrcnn_detection").output],
    }
    anchors = np.stack([model.get_anchors(molded.shape[1:])] * len(molded))
    runs = {name: (lambda p=CompiledPredictor(keras.Model(graph.inputs, outputs), model.config.JIT_COMPILE):
                   p(molded, metas, anchors))
            for name, outputs in prefixes.items()}
    runs["+ mask head (raw_detections)"] = lambda: model.raw_detections(molded, metas)
    times = {}
    for name, run in runs.items():
        run()
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            samples.append(time.perf_counter() - start)
        times[name] = min(samples)  # the least disturbed run: other processes share the cores
    return times


def _stage_outputs(config) -> list[str]:
    from fashion_seg.mrcnn.backbone import resnet_layout

    layout = resnet_layout(config.BACKBONE)
    return [f"res{stage}{layout.block_names(stage)[-1]}_out" for stage in (2, 3, 4, 5)]


def main(argv=None) -> int:
    args = parse_args(argv)
    import keras

    from fashion_seg.mrcnn.config import Config
    from fashion_seg.mrcnn.model import MaskRCNN
    from fashion_seg.mrcnn.weights import coco_weights_path

    config = Config(NAME="bench", BACKBONE=args.backbone, NUM_CLASSES=args.classes, IMAGE_MIN_DIM=args.size,
                    IMAGE_MAX_DIM=args.size, IMAGES_PER_GPU=args.batch, PRECISION=args.precision,
                    JIT_COMPILE={"auto": None, "on": True, "off": False}[args.jit],
                    DETECTION_MIN_CONFIDENCE=args.min_confidence)
    keras.utils.set_random_seed(args.seed)
    model = MaskRCNN("inference", config, model_dir="/tmp/bench_detect_logs")
    if args.weights:
        model.load_weights(coco_weights_path() if args.weights == "coco" else args.weights, by_name=True)
    images = load_images(args.batch * (args.warmup + args.batches))
    batches = [images[i:i + args.batch] for i in range(0, len(images), args.batch)]

    timings = {"mold": [], "graph": [], "unmold": [], "cpu": []}
    detections = 0
    for index, batch in enumerate(batches):
        cpu_start = time.process_time()
        start = time.perf_counter()
        molded, metas, windows = model.mold_inputs(batch)
        molded_at = time.perf_counter()
        raw = model.raw_detections(molded, metas)
        graph_at = time.perf_counter()
        for i, image in enumerate(batch):
            rois, _, _, _ = model.unmold_detections(raw.detections[i], raw.masks[i], image.shape, molded.shape[1:],
                                                    windows[i])
            detections += len(rois) if index >= args.warmup else 0
        done = time.perf_counter()
        if index >= args.warmup:
            timings["mold"].append(molded_at - start)
            timings["graph"].append(graph_at - molded_at)
            timings["unmold"].append(done - graph_at)
            timings["cpu"].append(time.process_time() - cpu_start)

    per_batch = {key: statistics.median(values) for key, values in timings.items()}
    cpu = per_batch.pop("cpu")
    total = sum(per_batch.values())
    per_image = total / args.batch
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"backend {keras.backend.backend()}  backbone {args.backbone}  size {args.size}  batch {args.batch}  "
          f"precision {args.precision}  jit {args.jit}  classes {args.classes}  weights {args.weights or 'random'}")
    print(f"cpu load average (1 min) at the end: {load:.2f}   detections per image: "
          f"{detections / (args.batch * args.batches):.1f}")
    print(f"per batch (median of {args.batches}): mold {per_batch['mold']:.3f} s  graph {per_batch['graph']:.3f} s  "
          f"unmold {per_batch['unmold']:.3f} s  total {total:.3f} s")
    print(f"per image: {per_image:.3f} s   {1 / per_image:.2f} images/s   (process CPU time {cpu / args.batch:.3f} s "
          f"per image on {os.cpu_count()} cores; on an idle machine the wall time is at least CPU time / cores)")
    if args.stages:
        molded, metas, _ = model.mold_inputs(batches[0])
        previous = 0.0
        print("network stage by stage (cumulative seconds per batch, increment):")
        for name, seconds in stage_times(model, molded, metas, max(1, args.batches)).items():
            print(f"  {name:28s} {seconds:7.3f}  (+{seconds - previous:.3f})")
            previous = seconds
    return 0


if __name__ == "__main__":
    sys.exit(main())
