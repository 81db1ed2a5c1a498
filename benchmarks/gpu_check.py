"""GPU check (JAX, bf16, XLA): training images/s at 1024x1024 with MFU, inference images/s with post-processing
and RLE, peak GPU memory; one table at the end. Run by ``gpu_check.sh`` (which installs the carried Keras wheels);
``--toy`` runs the same code at a toy size, on CPU too.

MFU = (training FLOPs per image, counted by ``flops.train_step_flops``) x images/s / peak; the peak is the chip's
dense bf16 figure where the device is known (H100 / H200: 989 TFLOP/s) and, always, a bf16 matrix product measured in
the same run. Training: batches of synthetic shapes (``bench_train_step.SyntheticShapes``) with their targets, fed
to every step, all layers trained; the batch starts at ``--train-batch`` and is halved when the device runs out of
memory. Inference: JPEG files -> submission rows (``predict_submission``: loading, molding, network, post-processing
that keeps every detection, RLE at 512x512), random weights with DETECTION_MIN_CONFIDENCE 0 (the most masks).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

NOMINAL_BF16 = {"H100": 989e12, "H200": 989e12}  # dense bf16 tensor-core peak, FLOP/s (SXM)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--toy", action="store_true",
                        help="toy size (CI, CPU): resnet_tiny at 128x128, few ROIs, 2 steps, 4 images")
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--train-batch", type=int, default=16, help="first batch tried (halved on out-of-memory)")
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--infer-batch", type=int, default=8)
    parser.add_argument("--infer-images", type=int, default=64)
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.toy:
        args.backbone, args.size = "resnet_tiny", 128
        args.train_batch, args.train_steps, args.infer_batch, args.infer_images = 2, 2, 2, 4
    return args


def device_description():
    import jax

    device = jax.devices()[0]
    return device, f"{device.platform} {getattr(device, 'device_kind', '')}".strip()


def measured_bf16_peak(device) -> float:
    """FLOP/s of a square bf16 matrix product on the device (best of 5)."""
    import jax
    import jax.numpy as jnp

    side = 8192 if device.platform == "gpu" else 1024
    a = jax.device_put(jnp.ones((side, side), jnp.bfloat16), device)
    product = jax.jit(lambda x: x @ x)
    product(a).block_until_ready()
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        product(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2.0 * side ** 3 / best


def peak_memory(device) -> tuple[float, str]:
    """(GiB, what it is): the device's peak bytes in use, or on a CPU the process's peak resident memory."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2 ** 30, "device peak"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, "host peak RSS"


# the toy size also keeps the ROI heads small (their cost does not shrink with the image)
TOY_HEADS = {"TRAIN_ROIS_PER_IMAGE": 16, "POST_NMS_ROIS_TRAINING": 64, "POST_NMS_ROIS_INFERENCE": 64,
             "DETECTION_MAX_INSTANCES": 8, "RPN_ANCHOR_SCALES": (8, 16, 32, 64, 128)}


def config_values(args, batch: int) -> dict:
    return {"NAME": "gpucheck", "BACKBONE": args.backbone, "NUM_CLASSES": 47, "IMAGE_MIN_DIM": min(800, args.size),
            "IMAGE_MAX_DIM": args.size, "IMAGES_PER_GPU": batch, "PRECISION": args.precision, "JIT_COMPILE": True,
            **(TOY_HEADS if args.toy else {})}


def out_of_memory(error: Exception) -> bool:
    text = str(error)
    return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def train(args, work: Path) -> dict:
    import keras

    from bench_train_step import SyntheticShapes
    from flops import train_step_flops
    from fashion_seg.mrcnn.batches import build_batch
    from fashion_seg.mrcnn.config import Config
    from fashion_seg.mrcnn.model import MaskRCNN

    batch_size = args.train_batch
    while True:
        keras.backend.clear_session()
        config = Config(**config_values(args, batch_size))
        try:
            shapes = SyntheticShapes(batch_size, args.size, 47)
            batch = build_batch(shapes, shapes.image_ids[:config.BATCH_SIZE], config)
            model = MaskRCNN("training", config, str(work))
            model.set_trainable("all", verbose=0)
            model.compile(config.LEARNING_RATE, config.LEARNING_MOMENTUM)
            network = model.keras_model
            start = time.perf_counter()
            network.train_on_batch(batch)
            compile_seconds = time.perf_counter() - start
            network.train_on_batch(batch)
            start = time.perf_counter()
            for _ in range(args.train_steps):
                losses = network.train_on_batch(batch)
            step = (time.perf_counter() - start) / args.train_steps
            break
        except Exception as error:
            if not out_of_memory(error) or batch_size == 1:
                raise
            print(f"training batch {batch_size} ran out of memory; trying {batch_size // 2}", flush=True)
            batch_size //= 2
    loss = float(np.sum(losses)) if np.ndim(losses) else float(losses)
    if not math.isfinite(loss):
        raise RuntimeError(f"training loss is {loss} at batch {batch_size}")
    return {"train_batch": batch_size, "train_step_s": step, "train_img_s": batch_size / step,
            "train_compile_s": compile_seconds, "train_flops_per_image": train_step_flops(network, config),
            "train_loss": loss}


def infer(args, work: Path) -> dict:
    import keras

    from fashion_seg.checkpoints import inference_config
    from fashion_seg.data.synthetic import make_demo_dataset
    from fashion_seg.prediction.inference import Predictor
    from fashion_seg.mrcnn.model import MaskRCNN
    from fashion_seg.prediction.settings import PostProcessing
    from fashion_seg.prediction.predict_images import predict_submission
    from fashion_seg.prediction.submission import expected_image_ids

    keras.backend.clear_session()
    batch = args.infer_batch
    demo = make_demo_dataset(work / "demo", train_images=1, test_images=args.infer_images + batch,
                             min_side=min(700, args.size), max_side=max(args.size, 200), large_side=None)
    paths = [demo.root / "test" / name for name in expected_image_ids(demo.root / "test")]
    config = inference_config(config_values(args, batch), {}, batch)
    config.DETECTION_MIN_CONFIDENCE = 0.0
    keep_everything = PostProcessing(min_score=0.0, nms_iou=1.0, max_detections=1000, mask_threshold=0.5, min_area=0)
    predictor = Predictor([MaskRCNN("inference", config, str(work))], batch_size=batch)
    start = time.perf_counter()
    predict_submission(predictor, paths[:batch], work / "warm.csv", keep_everything, 512, progress=False)
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    summary = predict_submission(predictor, paths[batch:], work / "submission.csv", keep_everything, 512,
                                 progress=False)
    seconds = time.perf_counter() - start
    return {"infer_batch": batch, "infer_images": summary.images, "infer_img_s": summary.images / seconds,
            "infer_rows_per_image": summary.rows / max(summary.images, 1), "infer_compile_s": compile_seconds}


def table(figures: dict) -> str:
    rows = [
        ("device", figures["device"]),
        ("model", f"{figures['backbone']} {figures['size']}x{figures['size']} {figures['precision']}, XLA (jax.jit)"),
        ("training images/s", f"{figures['train_img_s']:.2f} (batch {figures['train_batch']}, "
                              f"{figures['train_step_s'] * 1e3:.1f} ms/step, compile {figures['train_compile_s']:.0f} s)"),
        ("training GFLOP/image", f"{figures['train_flops_per_image'] / 1e9:.1f}"),
        ("MFU vs measured bf16 matmul", f"{100 * figures['mfu_measured']:.1f}% "
                                        f"(matmul {figures['matmul_bf16_flops'] / 1e12:.2f} TFLOP/s)"),
        ("MFU vs nominal bf16 peak", "n/a (unknown device)" if figures["mfu_nominal"] is None
         else f"{100 * figures['mfu_nominal']:.1f}%"),
        ("inference images/s", f"{figures['infer_img_s']:.2f} (batch {figures['infer_batch']}, post-processing + "
                               f"RLE, {figures['infer_rows_per_image']:.0f} masks/image)"),
        (f"peak memory ({figures['memory_kind']})", f"{figures['peak_memory_gib']:.2f} GiB"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"| {name:<{width}} | {value} |" for name, value in rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit(f"gpu_check needs KERAS_BACKEND=jax (got {keras.backend.backend()})")
    device, description = device_description()
    print(f"device: {description}; backbone {args.backbone} at {args.size}, {args.precision}", flush=True)
    figures = {"device": description, "backbone": args.backbone, "size": args.size, "precision": args.precision}
    figures["matmul_bf16_flops"] = measured_bf16_peak(device)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as scratch:
        figures.update(train(args, Path(scratch)))
        print(f"training: {figures['train_img_s']:.2f} images/s at batch {figures['train_batch']}", flush=True)
        figures.update(infer(args, Path(scratch)))
        print(f"inference: {figures['infer_img_s']:.2f} images/s", flush=True)
    achieved = figures["train_flops_per_image"] * figures["train_img_s"]
    nominal = next((peak for name, peak in NOMINAL_BF16.items() if name in description), None)
    figures["mfu_measured"] = achieved / figures["matmul_bf16_flops"]
    figures["mfu_nominal"] = achieved / nominal if nominal else None
    figures["peak_memory_gib"], figures["memory_kind"] = peak_memory(device)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    print("\n" + table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
