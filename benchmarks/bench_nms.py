"""Speed of fashion_seg.mrcnn.nms (blocked, batched, keras.ops) against tf.image.non_max_suppression and the numpy
greedy reference, on RPN-like proposals: PRE_NMS_LIMIT boxes per image thinned to 1000 (inference) and 2000 (training).

    python benchmarks/bench_nms.py [--image-size 1024] [--batch 2] [--tile-size 512] [--repeats 5]
    KERAS_BACKEND=jax python benchmarks/bench_nms.py

The proposals are made the way the RPN makes them, so that they cluster as real ones do: matterport's anchors for
the image size, scored by their best IoU with 25 random "objects" (plus noise), the top ``--pre-nms`` kept, refined by
small random deltas and clipped to the image. Real RPN output is similarly clustered, so NMS has to visit most of the
6,000 boxes before it has 1,000 survivors (the figure printed as "visited").

Timings are the median of ``--repeats`` runs after a warm-up (compilation excluded), in milliseconds per image:
ours is compiled whole-batch with the active backend's XLA (``tf.function(jit_compile=True)`` or ``jax.jit``);
TensorFlow's kernel runs image by image inside one ``tf.function`` (how matterport's ProposalLayer uses it); the numpy
reference is :func:`fashion_seg.mrcnn.boxes.non_max_suppression`. Every run checks that the three keep the same boxes in
the same order. Ratios > 1 mean ours is faster.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from fashion_seg.mrcnn.anchors import get_anchors  # noqa: E402
from fashion_seg.mrcnn.boxes import apply_box_deltas, compute_overlaps, non_max_suppression  # noqa: E402
from fashion_seg.mrcnn.config import Config  # noqa: E402
from fashion_seg.mrcnn.nms import non_max_suppression_padded  # noqa: E402
from timing import compiled, median_ms  # noqa: E402


def rpn_like_proposals(image_size: int, pre_nms: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``[pre_nms, 4]`` normalised boxes and their scores, best first, clustered around 25 objects."""
    rng = np.random.default_rng(seed)
    anchors = get_anchors(Config(NAME="bench", NUM_CLASSES=2), (image_size, image_size, 3))
    corners = rng.uniform(0, 0.8, (25, 2))
    objects = np.concatenate([corners, corners + rng.uniform(0.05, 0.5, (25, 2))], axis=1).clip(0, 1)
    scores = compute_overlaps(anchors, objects).max(axis=1) + rng.normal(0, 0.05, len(anchors))
    top = np.argsort(-scores, kind="stable")[:pre_nms]
    deltas = rng.normal(0, 0.5, (pre_nms, 4)) * np.array([0.1, 0.1, 0.2, 0.2])
    boxes = apply_box_deltas(anchors[top], deltas).clip(0, 1).astype(np.float32)
    return boxes, scores[top].astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--pre-nms", type=int, default=6000)
    parser.add_argument("--keep", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--tile-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    images = [rpn_like_proposals(args.image_size, args.pre_nms, seed) for seed in range(args.batch)]
    boxes = np.stack([b for b, _ in images])
    scores = np.stack([s for _, s in images])
    print(f"backend {keras.backend.backend()}, {args.batch} images of {args.pre_nms} boxes "
          f"({args.image_size} px anchors), IoU > {args.threshold}, tile {args.tile_size}; ms per image")
    print(f"{'keep':>5} {'visited':>8} {'ours':>8} {'tf.image':>9} {'tf/ours':>8} {'numpy':>9} {'numpy/ours':>11}")
    for keep in args.keep:
        ours = compiled(lambda b, s: non_max_suppression_padded(b, s, keep, args.threshold,
                                                                tile_size=args.tile_size))
        tensorflow = tf.function(lambda b, s: [
            tf.image.non_max_suppression(b[i], s[i], keep, args.threshold) for i in range(args.batch)])

        ours_inputs = [ops.convert_to_tensor(x) for x in (boxes, scores)]
        tensorflow_inputs = [tf.constant(x) for x in (boxes, scores)]

        def run_ours():
            indices, valid = ours(*ours_inputs)
            return ops.convert_to_numpy(indices), ops.convert_to_numpy(valid)

        def run_tensorflow():
            return [kept.numpy() for kept in tensorflow(*tensorflow_inputs)]

        def run_numpy():
            return [non_max_suppression(b, s, args.threshold, keep) for b, s in zip(boxes, scores)]

        indices, valid = run_ours()
        expected_tf, expected_np = run_tensorflow(), run_numpy()
        for image in range(args.batch):
            ours_kept = indices[image, :valid[image]]
            if not (np.array_equal(ours_kept, expected_tf[image]) and np.array_equal(ours_kept, expected_np[image])):
                raise SystemExit(f"image {image}: the implementations disagree on the kept boxes")
        visited = int(np.mean([indices[image, valid[image] - 1] for image in range(args.batch)])) + 1

        ours_ms = median_ms(run_ours, args.repeats) / args.batch
        tf_ms = median_ms(run_tensorflow, args.repeats) / args.batch
        numpy_ms = median_ms(run_numpy, max(1, args.repeats // 3)) / args.batch
        print(f"{keep:>5} {visited:>8} {ours_ms:>8.2f} {tf_ms:>9.2f} {tf_ms / ours_ms:>8.2f} {numpy_ms:>9.1f} "
              f"{numpy_ms / ours_ms:>11.1f}")


if __name__ == "__main__":
    main()
