"""Speed of one Mask R-CNN training step (images/s, s/step), after warm-up.

    python benchmarks/bench_train_step.py --backbone resnet50 --size 512 --batch 2 --layers all
    python benchmarks/bench_train_step.py --backbone resnet50 --size 512 --batch 2 --layers heads
    KERAS_BACKEND=jax python benchmarks/bench_train_step.py --size 1024 --precision mixed_bfloat16 --batch 8

Model: matterport's defaults (FPN 256, RPN 512, heads 1024/256 wide, 2000 training proposals, TRAIN_ROIS_PER_IMAGE
200) for ``--classes`` classes, ``--backbone`` at ``--size`` x ``--size``. Data: one batch of synthetic images
(rectangles and ellipses of random classes on noise) with real RPN targets, fed to every step, so only the step is
timed. ``--profile`` adds the forward pass alone and the forward pass up to the FPN / RPN / proposals / heads.

Against real matterport, side by side in one run with the same weights and data: bench_vs_matterport.py --only
train. The machine may be shared: ``uptime`` is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

import keras
import numpy as np

from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.dataset import Dataset
from fashion_seg.mrcnn.model import MaskRCNN
from fashion_seg.mrcnn.batches import build_batch


class SyntheticShapes(Dataset):
    """A few images of rectangles and ellipses of random classes on noise."""

    def __init__(self, count: int, size: int, classes: int, seed: int = 0):
        super().__init__()
        for class_id in range(1, classes):
            self.add_class("shapes", class_id, f"class{class_id}")
        rng = np.random.default_rng(seed)
        self.scenes = []
        rows, cols = np.mgrid[:size, :size]
        for index in range(count):
            image = rng.uniform(0, 90, (size, size, 3)).astype(np.uint8)
            masks, ids = [], []
            for _ in range(int(rng.integers(3, 9))):
                cy, cx = rng.uniform(0.15, 0.85, 2) * size
                ry, rx = rng.uniform(0.04, 0.2, 2) * size
                if rng.random() < 0.5:
                    mask = ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1
                else:
                    mask = (np.abs(rows - cy) <= ry) & (np.abs(cols - cx) <= rx)
                image[mask] = rng.integers(100, 256, 3)
                masks.append(mask)
                ids.append(int(rng.integers(1, classes)))
            self.scenes.append((image, np.stack(masks, -1), np.array(ids, np.int32)))
            self.add_image("shapes", index, None)
        self.prepare()

    def load_image(self, image_id):
        return self.scenes[image_id][0]

    def load_mask(self, image_id):
        return self.scenes[image_id][1], self.scenes[image_id][2]


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def time_calls(function, steps: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet50", choices=["resnet50", "resnet101", "resnet_tiny"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--classes", type=int, default=47, help="NUM_CLASSES, background included")
    parser.add_argument("--rois", type=int, default=200, help="TRAIN_ROIS_PER_IMAGE")
    parser.add_argument("--layers", default="all", help="heads, 3+, 4+, 5+, all or a regex")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    parser.add_argument("--jit", choices=["auto", "on", "off"], default="auto",
                        help="XLA (TensorFlow jit_compile / jax.jit); auto: Keras's choice (TF CPU: off, JAX: on)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="also time the forward pass and its stages")
    args = parser.parse_args()

    class BenchConfig(Config):
        NAME = "bench"
        NUM_CLASSES = args.classes
        BACKBONE = args.backbone
        IMAGE_MIN_DIM = args.size
        IMAGE_MAX_DIM = args.size
        IMAGES_PER_GPU = args.batch
        TRAIN_ROIS_PER_IMAGE = args.rois
        PRECISION = args.precision
        JIT_COMPILE = {"auto": None, "on": True, "off": False}[args.jit]

    config = BenchConfig()
    print(f"backend {keras.backend.backend()}, {args.backbone}, {args.size}x{args.size}, batch {args.batch}, "
          f"{args.rois} ROIs/image, {args.classes} classes, layers {args.layers}, {args.precision}, jit {args.jit}")
    print("before:", uptime())
    shapes = SyntheticShapes(args.batch, args.size, args.classes)
    batch = build_batch(shapes, shapes.image_ids[:config.BATCH_SIZE], config)
    with tempfile.TemporaryDirectory() as model_dir:
        model = MaskRCNN("training", config, model_dir)
        model.set_trainable(args.layers, verbose=0)
        model.compile(config.LEARNING_RATE, config.LEARNING_MOMENTUM)
        network = model.keras_model
        start = time.perf_counter()
        network.train_on_batch(batch)
        print(f"first step (tracing and compilation included): {time.perf_counter() - start:.1f} s")
        times = time_calls(lambda: network.train_on_batch(batch), args.steps, args.warmup - 1)
        step = float(np.median(times))
        print(f"training step: {step:.3f} s median of {args.steps} (min {min(times):.3f}, max {max(times):.3f}); "
              f"{args.batch / step:.2f} images/s")
        if args.profile:
            profile_forward(network, batch, args.steps)
    print("after:", uptime())


def profile_forward(network, batch, steps: int) -> None:
    """Forward-pass time up to successive stages (cumulative), to see where a step's time goes."""
    stages = [("backbone + FPN", ["fpn_p2", "fpn_p3", "fpn_p4", "fpn_p5"]), ("+ RPN", ["rpn_class", "rpn_bbox"]),
              ("+ proposals (NMS)", ["ROI"]), ("+ detection targets", ["proposal_targets"]),
              ("+ classifier head", ["mrcnn_class_logits", "mrcnn_bbox"]), ("+ mask head (whole forward)", None)]
    for label, names in stages:
        if names is None:
            sub = network
        else:
            outputs = []
            for name in names:
                output = network.get_layer(name).output
                outputs.extend(output if isinstance(output, (list, tuple)) else [output])
            sub = keras.Model(network.inputs, outputs)
        times = time_calls(lambda: sub.predict_on_batch(batch), steps, 1)
        print(f"forward {label:30s} {np.median(times):.3f} s")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
