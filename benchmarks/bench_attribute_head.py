"""Cost of the attribute head (``ATTRIBUTE_HEAD``): a training step and ``detect()`` with the head on vs off, side by
side in one run.

    python benchmarks/bench_attribute_head.py --backbone resnet50 --size 256 --repeats 5
    KERAS_BACKEND=jax python benchmarks/bench_attribute_head.py --backbone resnet101 --size 1024 --batch 2

Both models have matterport's default widths (FPN 256, heads 1024/256, TRAIN_ROIS_PER_IMAGE 200) and the same
weights: the head-on model loads the head-off model's by name, so the two detect the same boxes and differ only by the
attribute layers. Training data: one batch of synthetic shapes (bench_train_step.py's) with random attribute vectors
(every instance known) for the head-on model. Detection: the same synthetic images, DETECTION_MIN_CONFIDENCE 0.
The timings alternate off / on in each repeat (so a load change on a shared machine hits both alike); medians and
their ratio are printed. ``uptime`` is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_train_step import SyntheticShapes, uptime  # noqa: E402

from fashion_seg.mrcnn.config import Config  # noqa: E402
from fashion_seg.mrcnn.model import MaskRCNN  # noqa: E402
from fashion_seg.mrcnn.batches import build_batch  # noqa: E402
from fashion_seg.mrcnn.weights import save_weights  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet50", choices=["resnet50", "resnet101", "resnet_tiny"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1, help="IMAGES_PER_GPU")
    parser.add_argument("--classes", type=int, default=47, help="NUM_CLASSES, background included")
    parser.add_argument("--attributes", type=int, default=92, help="NUM_ATTRIBUTES (2019: 92, 2020: 294)")
    parser.add_argument("--layers", default="heads", help="the layers trained: heads, 3+, 4+, 5+, all or a regex")
    parser.add_argument("--jit", choices=["auto", "on", "off"], default="auto", help="JIT_COMPILE None/True/False")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each, alternating off and on")
    return parser.parse_args(argv)


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def side_by_side(label: str, off, on, repeats: int) -> None:
    """Time ``off()`` and ``on()`` alternately after one warm-up call each; print medians and the ratio."""
    off(), on()
    times = {"off": [], "on": []}
    for _ in range(repeats):
        times["off"].append(timed(off))
        times["on"].append(timed(on))
    medians = {key: statistics.median(values) for key, values in times.items()}
    print(f"{label:12s} off {1e3 * medians['off']:9.1f} ms   on {1e3 * medians['on']:9.1f} ms   "
          f"on/off {medians['on'] / medians['off']:.3f}   (medians of {repeats}; off "
          f"{1e3 * min(times['off']):.1f}-{1e3 * max(times['off']):.1f}, on "
          f"{1e3 * min(times['on']):.1f}-{1e3 * max(times['on']):.1f} ms)")


def main(argv=None) -> None:
    args = parse_args(argv)

    class BenchConfig(Config):
        NAME = "bench"
        NUM_CLASSES = args.classes
        BACKBONE = args.backbone
        IMAGE_MIN_DIM = args.size
        IMAGE_MAX_DIM = args.size
        IMAGES_PER_GPU = args.batch
        NUM_ATTRIBUTES = args.attributes
        DETECTION_MIN_CONFIDENCE = 0.0
        JIT_COMPILE = {"auto": None, "on": True, "off": False}[args.jit]

    off_config, on_config = BenchConfig(), BenchConfig(ATTRIBUTE_HEAD=True)
    print(f"backend {keras.backend.backend()}, {args.backbone}, {args.size}x{args.size}, batch {args.batch}, "
          f"{args.classes} classes, {args.attributes} attributes, layers {args.layers}, jit {args.jit}")
    print("before:", uptime())
    data = SyntheticShapes(args.batch, args.size, args.classes)
    batch = build_batch(data, data.image_ids[:off_config.BATCH_SIZE], off_config)
    rng = np.random.default_rng(0)
    real = batch["input_gt_class_ids"] > 0
    attribute_batch = {**batch,
                       "input_gt_attributes": (rng.random(real.shape + (args.attributes,)) < 0.05).astype(np.float32),
                       "input_gt_attributes_known": real}
    images = [scene[0] for scene in data.scenes]

    with tempfile.TemporaryDirectory() as model_dir:
        keras.utils.set_random_seed(0)
        trainers = {}
        for key, config in (("off", off_config), ("on", on_config)):
            trainers[key] = MaskRCNN("training", config, model_dir)
            trainers[key].set_trainable(args.layers, verbose=0)
            trainers[key].compile(config.LEARNING_RATE, config.LEARNING_MOMENTUM)
        side_by_side("train step", lambda: trainers["off"].keras_model.train_on_batch(batch),
                     lambda: trainers["on"].keras_model.train_on_batch(attribute_batch), args.repeats)

        detectors = {key: MaskRCNN("inference", config, model_dir)
                     for key, config in (("off", off_config), ("on", on_config))}
        weights = save_weights(detectors["off"].keras_model, Path(model_dir) / "off.h5")
        detectors["on"].load_weights(weights, by_name=True)
        counts = [len(r["class_ids"]) for r in detectors["off"].detect(images)]
        assert counts == [len(r["class_ids"]) for r in detectors["on"].detect(images)], "the models differ"
        print(f"detections per image: {counts}")
        side_by_side("detect", lambda: detectors["off"].detect(images), lambda: detectors["on"].detect(images),
                     args.repeats)
    print("after:", uptime())


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
