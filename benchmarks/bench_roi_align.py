"""Speed of fashion_seg.mrcnn.roi_align.PyramidROIAlign (one gather over the flattened pyramid, keras.ops) against a
matterport-style PyramidROIAlign built on tf.image.crop_and_resize (boxes split by level, cropped level by level,
put back in order).

    python benchmarks/bench_roi_align.py [--image-size 1024] [--batch 1] [--repeats 5]
    KERAS_BACKEND=jax python benchmarks/bench_roi_align.py

Two workloads per image, as in inference: the classifier's 1000 ROIs at 7x7 and the mask head's 100 detections at
14x14, on a 256-channel P2..P5 pyramid. ROI sizes are log-uniform (2% to 60% of the image side), so every level gets
boxes. Timings are the median of ``--repeats`` runs after a warm-up, in milliseconds per image. Ours runs compiled by
the active backend's XLA; the TensorFlow version runs in a ``tf.function`` (its kernel has no XLA implementation).
Each run checks that both give the same crops (to 1e-5). A ratio > 1 means ours is faster.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from fashion_seg.mrcnn.molding import compose_image_meta  # noqa: E402
from fashion_seg.mrcnn.roi_align import PyramidROIAlign, roi_pyramid_levels  # noqa: E402
from timing import compiled, median_ms  # noqa: E402


def tensorflow_pyramid_roi_align(boxes, image_meta, feature_maps, pool_shape):
    """matterport's algorithm: gather each level's boxes, crop them with TensorFlow's kernel, restore the order."""
    height, width = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    image_area = tf.cast(image_meta[0, 4] * image_meta[0, 5], tf.float32)
    levels = tf.math.log(tf.sqrt(height * width) / (224.0 / tf.sqrt(image_area))) / tf.math.log(2.0)
    levels = tf.minimum(5, tf.maximum(2, 4 + tf.cast(tf.round(levels), tf.int32)))
    crops, order = [], []
    for level, feature_map in zip((2, 3, 4, 5), feature_maps):
        where = tf.where(tf.equal(levels, level))  # [n, (image, box)]
        crops.append(tf.image.crop_and_resize(feature_map, tf.gather_nd(boxes, where), tf.cast(where[:, 0], tf.int32),
                                              pool_shape))
        order.append(where)
    order = tf.concat(order, axis=0)
    sort_key = order[:, 0] * tf.cast(tf.shape(boxes)[1], tf.int64) + order[:, 1]
    crops = tf.gather(tf.concat(crops, axis=0), tf.argsort(sort_key))
    return tf.reshape(crops, tf.concat([tf.shape(boxes)[:2], tf.shape(crops)[1:]], axis=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    size = args.image_size
    maps = [rng.normal(size=(args.batch, size // stride, size // stride, args.channels)).astype(np.float32)
            for stride in (4, 8, 16, 32)]
    meta = np.stack([compose_image_meta(0, (size, size, 3), (size, size, 3), (0, 0, size, size), 1.0, np.zeros(2))]
                    * args.batch)
    print(f"backend {keras.backend.backend()}, batch {args.batch}, {size} px image, {args.channels} channels; "
          "ms per image")
    print(f"{'workload':>16} {'levels P2..P5':>20} {'ours':>8} {'tf kernel':>10} {'tf/ours':>8}")
    for num_boxes, pool in ((1000, 7), (100, 14)):
        centres = rng.uniform(0, 1, (args.batch, num_boxes, 2))
        sides = np.exp(rng.uniform(np.log(0.02), np.log(0.6), (args.batch, num_boxes, 2)))
        boxes = np.clip(np.concatenate([centres - sides / 2, centres + sides / 2], -1), 0, 1).astype(np.float32)
        layer = PyramidROIAlign((pool, pool))
        ours = compiled(lambda b, m, *f: layer([b, m, *f]))
        reference = tf.function(lambda b, m, *f: tensorflow_pyramid_roi_align(b, m, f, (pool, pool)))

        # inputs are converted once, outside the timed calls, as they would be tensors inside a model
        ours_inputs = [ops.convert_to_tensor(x) for x in (boxes, meta, *maps)]
        reference_inputs = [tf.constant(x) for x in (boxes, meta, *maps)]

        def run_ours():
            return ops.convert_to_numpy(ours(*ours_inputs))

        def run_reference():
            return reference(*reference_inputs).numpy()

        if not np.allclose(run_ours(), run_reference(), atol=1e-5):
            raise SystemExit("the two implementations disagree")
        counts = np.bincount(ops.convert_to_numpy(roi_pyramid_levels(boxes, meta)).ravel(), minlength=6)[2:]
        ours_ms = median_ms(run_ours, args.repeats) / args.batch
        reference_ms = median_ms(run_reference, args.repeats) / args.batch
        workload = f"{num_boxes} x {pool}x{pool}"
        print(f"{workload:>16} {str(counts.tolist()):>20} {ours_ms:>8.1f} {reference_ms:>10.1f} "
              f"{reference_ms / ours_ms:>8.2f}")


if __name__ == "__main__":
    main()
