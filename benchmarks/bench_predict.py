"""End-to-end prediction speed: JPEG files -> submission rows (load, mold, network, merge, post-process, RLE), in
images/s at several batch sizes, with the share of time of each phase.

    python benchmarks/bench_predict.py --backbone resnet50 --size 1024 --batch-sizes 1,2 --images 8
    KERAS_BACKEND=jax python benchmarks/bench_predict.py --batch-sizes 1,4,8 --images 64

Images: demo scenes (``make_demo_dataset``) saved as JPEGs of ``--min-side``..``--max-side`` px, decoded and molded
to ``--size`` squares by a background thread while the network runs. The network has random weights, so its
detections are meaningless; it runs with DETECTION_MIN_CONFIDENCE=0 and post-processing keeps everything
(min_score 0, min_area 0), so every image has DETECTION_MAX_INSTANCES masks to paste, suppress and encode: the most
post-processing work. A first batch is run before timing (graph compilation).

Side by side, on the same raw detections: the way matterport's ``detect()`` delivers masks (each pasted at the
image's full resolution) followed by the usual resize to 512x512 and encoding (``submission.image_rows``); against
this package's post-processing, which pastes straight at 512x512 on box crops. Real matterport end to end (detect,
paste, RLE), side by side in one run: bench_vs_matterport.py --only predict.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAIN_THREAD_PHASES = ("detect", "merge", "postprocess", "rle")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet50", choices=["resnet50", "resnet101", "resnet_tiny"])
    parser.add_argument("--size", type=int, default=1024, help="IMAGE_MAX_DIM (square molding)")
    parser.add_argument("--batch-sizes", default="1,2", help="comma-separated images per network call")
    parser.add_argument("--images", type=int, default=8, help="timed images per batch size (after a warm-up batch)")
    parser.add_argument("--min-side", type=int, default=700)
    parser.add_argument("--max-side", type=int, default=2000)
    parser.add_argument("--jit", choices=["auto", "on", "off"], default="auto", help="JIT_COMPILE None/True/False")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    parser.add_argument("--tta", default=None, help="e.g. flip")
    parser.add_argument("--out-size", default="512", help="submission grid: 512 or native")
    parser.add_argument("--split-network", action="store_true",
                        help="also time the network's stages at batch 1: backbone+FPN, up to the proposals, all")
    return parser.parse_args(argv)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other jobs on a shared machine slow every figure)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def build_model(args, batch_size: int):
    from fashion_seg.checkpoints import inference_config
    from fashion_seg.mrcnn.model import MaskRCNN

    values = {"NAME": "bench", "NUM_CLASSES": 47, "BACKBONE": args.backbone, "IMAGE_MIN_DIM": min(800, args.size),
              "IMAGE_MAX_DIM": args.size, "PRECISION": args.precision,
              "JIT_COMPILE": {"auto": None, "on": True, "off": False}[args.jit]}
    config = inference_config(values, {}, batch_size)
    config.DETECTION_MIN_CONFIDENCE = 0.0  # random weights: keep DETECTION_MAX_INSTANCES detections per image
    return MaskRCNN("inference", config, tempfile.mkdtemp())


def network_stages(args) -> dict[str, float]:
    """Seconds per forward pass (batch 1, after a warm-up) of the network cut after its stages: backbone + FPN,
    then up to the ProposalLayer's ROIs, then the whole detection graph (ROI heads and DetectionLayer included)."""
    import keras

    from fashion_seg.prediction.inference import LoadedImage, Predictor
    from fashion_seg.mrcnn.predictor import CompiledPredictor

    model = build_model(args, 1)
    graph = model.graph
    image = np.random.default_rng(0).integers(0, 255, (args.size, args.size, 3), np.uint8)
    batch = Predictor([model]).mold([LoadedImage("x", image, image.shape[:2])])
    molded, metas, _ = next(iter(batch.inputs.values()))
    anchors = np.broadcast_to(model.get_anchors(molded.shape[1:]), (1,) + model.get_anchors(molded.shape[1:]).shape)
    stages = {
        "backbone+FPN": (keras.Model(graph.input_image, graph.feature_maps), [molded]),
        "up to proposals": (keras.Model(graph.model.inputs, graph.model.get_layer("ROI").output),
                            [molded, metas, anchors]),
        "whole graph": (graph.detect_model, [molded, metas, anchors]),
    }
    seconds = {}
    for name, (stage, inputs) in stages.items():
        forward = CompiledPredictor(stage, model.config.JIT_COMPILE)
        forward(*inputs)
        start = time.perf_counter()
        for _ in range(2):
            forward(*inputs)
        seconds[name] = (time.perf_counter() - start) / 2
    return seconds


def run_batch_size(args, batch_size: int, paths: list[Path], work: Path) -> dict:
    from fashion_seg.prediction.detections import DetectionStore
    from fashion_seg.prediction.inference import PhaseTimes, Predictor
    from fashion_seg.prediction.settings import PostProcessing
    from fashion_seg.prediction.predict_images import predict_submission
    from fashion_seg.prediction.tta import parse_tta

    keep_everything = PostProcessing(min_score=0.0, nms_iou=1.0, max_detections=1000, mask_threshold=0.5, min_area=0)
    size = None if args.out_size == "native" else int(args.out_size)
    model = build_model(args, batch_size)
    warm = Predictor([model], parse_tta(args.tta), batch_size=batch_size)
    predict_submission(warm, paths[:batch_size], work / f"warm{batch_size}.csv", keep_everything, size,
                       progress=False)
    times = PhaseTimes()
    predictor = Predictor([model], parse_tta(args.tta), batch_size=batch_size, times=times)
    store = DetectionStore(work / f"detections{batch_size}", {"batch": batch_size})
    start = time.perf_counter()
    summary = predict_submission(predictor, paths, work / f"submission{batch_size}.csv", keep_everything, size,
                                 store=store, progress=False)
    wall = time.perf_counter() - start
    store_seconds = wall - sum(times.seconds[p] for p in MAIN_THREAD_PHASES)
    return {"batch": batch_size, "wall": wall, "images": summary.images, "rows": summary.rows,
            "times": dict(times.seconds), "other": store_seconds, "store": store}


def reference_postprocessing(store, image_ids: list[str], size) -> tuple[float, float, int]:
    """(seconds per image for this package's post-processing + RLE, for matterport's full-resolution pasting +
    resize + encode, masks) on the same cached detections."""
    from fashion_seg.mrcnn.masks import paste_masks
    from fashion_seg.prediction.postprocess import grid_boxes, postprocess
    from fashion_seg.prediction.settings import PostProcessing
    from fashion_seg.prediction.submission import image_rows

    keep_everything = PostProcessing(min_score=0.0, nms_iou=1.0, max_detections=1000, mask_threshold=0.5, min_area=0)
    detections = [store.load(i) for i in image_ids]
    ours = time.perf_counter()
    count = 0
    for image_id, found in zip(image_ids, detections):
        count += len(postprocess(found, keep_everything, size).rows(image_id))
    ours = time.perf_counter() - ours
    theirs = time.perf_counter()
    for image_id, found in zip(image_ids, detections):
        full = paste_masks(found.masks.astype(np.float32), grid_boxes(found, found.image_shape), found.image_shape,
                           0.5)
        image_rows(image_id, full, [str(c - 1) for c in found.class_ids], found.scores, size)
    theirs = time.perf_counter() - theirs
    return ours / len(image_ids), theirs / len(image_ids), count


def main(argv=None) -> int:
    args = parse_args(argv)
    from threadpoolctl import threadpool_limits

    from fashion_seg.data.synthetic import make_demo_dataset
    from fashion_seg.prediction.submission import expected_image_ids

    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    demo = make_demo_dataset(work / "demo", train_images=1, test_images=args.images + max(batch_sizes),
                             min_side=args.min_side, max_side=args.max_side, large_side=None)
    names = expected_image_ids(demo.root / "test")
    paths = [demo.root / "test" / n for n in names]
    import keras

    print(f"backend {keras.backend.backend()}, {args.backbone} at {args.size}x{args.size}, {args.precision}, jit "
          f"{args.jit}, tta {args.tta or 'none'}, masks at {args.out_size}; images {args.min_side}-{args.max_side} px; "
          f"{os.cpu_count()} CPUs, load average {load_average()} at start")
    results = []
    for batch_size in batch_sizes:
        timed = paths[batch_size:batch_size + args.images]
        result = run_batch_size(args, batch_size, timed, work)
        results.append(result)
        per_image = result["wall"] / result["images"]
        shares = {p: result["times"].get(p, 0.0) / result["wall"] for p in MAIN_THREAD_PHASES}
        print(f"batch {batch_size}: {result['images'] / result['wall']:.3f} images/s ({per_image:.3f} s/image, "
              f"{result['rows'] / result['images']:.0f} masks/image); share of wall time: "
              + ", ".join(f"{p} {100 * s:.1f}%" for p, s in shares.items())
              + f", journal+cache+writing {100 * result['other'] / result['wall']:.1f}%; in the loader thread "
              f"(overlapped): load {result['times'].get('load', 0):.2f} s, mold {result['times'].get('mold', 0):.2f} s")
        post_share = (result["times"].get("postprocess", 0) + result["times"].get("rle", 0)) / result["wall"]
        print(f"  post-processing + RLE: {100 * post_share:.1f}% of the time (goal <= 20%)")
    size = None if args.out_size == "native" else int(args.out_size)
    with threadpool_limits(limits=1, user_api="blas"):
        ours, theirs, masks = reference_postprocessing(results[0]["store"],
                                                       names[batch_sizes[0]:batch_sizes[0] + args.images], size)
    print(f"post-processing + RLE of {masks / args.images:.0f} masks per image: {1000 * ours:.1f} ms/image here, "
          f"{1000 * theirs:.1f} ms/image pasting at full resolution as matterport's detect() does, then resizing "
          f"and encoding: {theirs / ours:.1f}x")
    if args.split_network:
        stages = network_stages(args)
        print("network stages, seconds per image at batch 1 (cumulative): "
              + ", ".join(f"{name} {value:.2f}" for name, value in stages.items()))
    print(f"load average at end {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
