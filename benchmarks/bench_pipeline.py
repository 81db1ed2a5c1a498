"""Training input pipeline speed: fashion_seg's batches against a straightforward matterport-style generator.

    python benchmarks/bench_pipeline.py [--images 12] [--sizes 1024 512] [--workers 2]
                                        [--augmentation none seed first_place] [--data-dir DIR] [--no-cache]

Inputs are like the competition's: large JPEGs (2000x3000 up to 5214x3676, quality 90) of synthetic fashion scenes
(:func:`fashion_seg.data.synthetic.render_scene`) with their masks as Kaggle RLE at native size in ``train.csv``;
about 7 instances per image on average (the competition: 7.3); one more image with 74 (its maximum) is timed on its
own. They are
written once to ``--data-dir`` (default: a temporary folder) and read through
:class:`fashion_seg.data.imaterialist.FashionDataset`.

Measured, per image, in one process with OpenCV on one thread (the per-core figure):

- ours: :func:`fashion_seg.mrcnn.batches.build_batch` (batches of 2): JPEG decoded reduced and area-resized, RLE
  resized as runs and decoded at the target size, augmentation with bit-packed masks, boxes and mini-masks,
  RPN targets on anchor-grid windows, molding into the batch.
- matterport-style, written here from the description of matterport's ``load_image_gt`` / ``data_generator``:
  full-size ``skimage.io.imread``, RLE decoded at native size with a loop over runs, ``skimage.transform.resize``
  of the image and ``scipy.ndimage.zoom`` of the ``[H, W, N]`` masks, the same albumentations transforms applied with
  one mask per instance, boxes and mini-masks instance by instance (scikit-image), RPN targets from the full
  ``[anchors, GTs]`` IoU matrix, float64 molding.
- ours from the prepared cache: the same, reading the images of ``dataHandling.py prepare --max-side 1024``
  (:func:`fashion_seg.data.cache.prepare_image_cache`) instead of the originals; masks still native-size RLE. Decoding a
  3000x2000 JPEG costs tens of milliseconds even at 1/2 or 1/4 scale (the entropy decoding is not reduced), so this is
  how to train fast.
- workers: :class:`fashion_seg.mrcnn.pipeline.MaskRCNNBatches` with ``--workers`` processes, iterated the way
  ``Model.fit`` does (Keras's ``PyDatasetAdapter``) over the images repeated 8 times, pool start included.

Real matterport's ``data_generator`` on the same files, side by side in one run: bench_vs_matterport.py --only
pipeline. The machine may be shared: the load average is printed; compare figures taken at similar load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.ndimage  # noqa: E402
import skimage.io  # noqa: E402
import skimage.transform  # noqa: E402

from fashion_seg.data import rle  # noqa: E402
from fashion_seg.data.augmentation import make_augmentation  # noqa: E402
from fashion_seg.data.cache import prepare_image_cache  # noqa: E402
from fashion_seg.data.imaterialist import FashionDataset  # noqa: E402
from fashion_seg.data.synthetic import render_scene  # noqa: E402
from fashion_seg.mrcnn.anchors import get_pixel_anchors  # noqa: E402
from fashion_seg.mrcnn.batches import build_batch  # noqa: E402
from fashion_seg.mrcnn.config import Config  # noqa: E402
from fashion_seg.mrcnn.pipeline import MaskRCNNBatches  # noqa: E402
from fashion_seg.mrcnn.ground_truth import StageTimes  # noqa: E402

SIZES = [(3000, 2000), (2000, 3000), (4000, 3000), (5214, 3676), (3264, 2448), (2400, 1600)]
INSTANCES = [4, 7, 9, 5, 12, 6, 8, 3, 10, 7, 5]  # mean 6.9; one more image gets 74
STAGES = [
    ("JPEG decode", "decode", "image"),
    ("RLE decode", "rle", "masks"),
    ("resize image + masks", "resize", None),
    ("augmentation", "augmentation", "augmentation"),
    ("boxes + mini-masks", "instances", "instances"),
    ("RPN targets", "rpn_targets", "rpn_targets"),
    ("molding + batch", "assembly", "assembly"),
]


class BenchConfig(Config):
    NAME = "bench"
    NUM_CLASSES = 47
    IMAGES_PER_GPU = 2


# ------------------------------------------------------------------------------------------------------ the data


def make_data(root: Path, count: int, seed: int = 0) -> None:
    """``count`` large JPEGs and their native-size RLE rows in ``root`` (kept; reused when already there)."""
    if (root / "train.csv").exists():
        return
    (root / "train").mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        height, width = SIZES[index % len(SIZES)]
        image, instances = render_scene(rng, height, width)
        wanted = 74 if index == count - 1 else INSTANCES[index % len(INSTANCES)]
        masks = [(i.class_id, i.mask) for i in instances][:wanted]
        while len(masks) < wanted:  # small accessories, drawn on top: the 74-instance image
            mask = np.zeros((height, width), np.uint8)
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            axes = (int(rng.integers(width // 80, width // 25)), int(rng.integers(height // 80, height // 25)))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            image[mask > 0] = rng.integers(0, 256, 3)
            masks.append(("13" if len(masks) % 2 else "24", mask > 0))
        name = f"{index:04d}{'0' * 28}.jpg"
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        (root / "train" / name).write_bytes(data.tobytes())
        rows += [(name, rle.encode(mask), height, width, class_id) for class_id, mask in masks]
        print(f"  wrote {name} {height}x{width} with {len(masks)} instances", flush=True)
    pd.DataFrame(rows, columns=["ImageId", "EncodedPixels", "Height", "Width", "ClassId"]).to_csv(
        root / "train.csv", index=False)


# ------------------------------------------------------------------------------------- matterport-style generator


def plain_rle_decode(string: str, height: int, width: int) -> np.ndarray:
    flat = np.zeros(height * width, dtype=np.uint8)
    values = [int(v) for v in string.split()]
    for start, length in zip(values[0::2], values[1::2]):
        flat[start - 1:start - 1 + length] = 1
    return flat.reshape((height, width), order="F")


def plain_compute_overlaps(anchors: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """[anchors, GTs] IoU, one GT box at a time against every anchor (float64)."""
    anchor_areas = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    overlaps = np.zeros((len(anchors), len(boxes)))
    for i, box in enumerate(boxes):
        y1 = np.maximum(box[0], anchors[:, 0])
        y2 = np.minimum(box[2], anchors[:, 2])
        x1 = np.maximum(box[1], anchors[:, 1])
        x2 = np.minimum(box[3], anchors[:, 3])
        intersection = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
        area = (box[2] - box[0]) * (box[3] - box[1])
        overlaps[:, i] = intersection / (area + anchor_areas - intersection)
    return overlaps


def plain_rpn_targets(anchors, class_ids, boxes, config):
    match = np.zeros(len(anchors), dtype=np.int32)
    bbox = np.zeros((config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4))
    if len(boxes) == 0:
        return match, bbox
    overlaps = plain_compute_overlaps(anchors, boxes)
    anchor_argmax = np.argmax(overlaps, axis=1)
    anchor_max = overlaps[np.arange(len(anchors)), anchor_argmax]
    match[anchor_max < 0.3] = -1
    match[np.argwhere(overlaps == np.max(overlaps, axis=0))[:, 0]] = 1
    match[anchor_max >= 0.7] = 1
    ids = np.where(match == 1)[0]
    extra = len(ids) - config.RPN_TRAIN_ANCHORS_PER_IMAGE // 2
    if extra > 0:
        match[np.random.choice(ids, extra, replace=False)] = 0
    ids = np.where(match == -1)[0]
    extra = len(ids) - (config.RPN_TRAIN_ANCHORS_PER_IMAGE - np.sum(match == 1))
    if extra > 0:
        match[np.random.choice(ids, extra, replace=False)] = 0
    for row, i in enumerate(np.where(match == 1)[0]):
        gt, anchor = boxes[anchor_argmax[i]], anchors[i]
        gh, gw = gt[2] - gt[0], gt[3] - gt[1]
        ah, aw = anchor[2] - anchor[0], anchor[3] - anchor[1]
        bbox[row] = np.array([
            (gt[0] + 0.5 * gh - anchor[0] - 0.5 * ah) / ah, (gt[1] + 0.5 * gw - anchor[1] - 0.5 * aw) / aw,
            np.log(gh / ah), np.log(gw / aw),
        ]) / config.RPN_BBOX_STD_DEV
    return match, bbox


def plain_sample(dataset, config, image_id, anchors, compose, times: StageTimes):
    info = dataset.image_info[image_id]
    with times.measure("decode"):
        image = skimage.io.imread(info["path"])
    with times.measure("rle"):
        height, width = info["height"], info["width"]
        masks = np.zeros((height, width, len(info["rles"])), dtype=bool)
        for i, string in enumerate(info["rles"]):
            masks[:, :, i] = plain_rle_decode(string, height, width)
        class_ids = np.array([dataset.map_source_class_id(f"imaterialist.{c}") for c in info["category_ids"]])
    with times.measure("resize"):
        side = config.IMAGE_MAX_DIM
        scale = min(max(1, config.IMAGE_MIN_DIM / min(height, width)), side / max(height, width))
        new_shape = (round(height * scale), round(width * scale))
        image = skimage.transform.resize(image, new_shape, order=1, mode="constant", preserve_range=True,
                                         anti_aliasing=False)
        top, left = (side - new_shape[0]) // 2, (side - new_shape[1]) // 2
        padding = [(top, side - new_shape[0] - top), (left, side - new_shape[1] - left), (0, 0)]
        image = np.pad(image, padding).astype(np.uint8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            masks = scipy.ndimage.zoom(masks, zoom=[scale, scale, 1], order=0)
        masks = np.pad(masks, padding)
    if compose is not None:
        with times.measure("augmentation"):
            result = compose(image=image, masks=[masks[:, :, i].astype(np.uint8) for i in range(masks.shape[2])])
            image = result["image"]
            masks = np.stack(result["masks"], axis=-1).astype(bool) if masks.shape[2] else masks
    with times.measure("instances"):
        keep = np.sum(masks, axis=(0, 1)) > 0
        masks, class_ids = masks[:, :, keep], class_ids[keep]
        boxes = np.zeros((masks.shape[2], 4), dtype=np.int32)
        for i in range(masks.shape[2]):
            rows = np.where(np.any(masks[:, :, i], axis=1))[0]
            cols = np.where(np.any(masks[:, :, i], axis=0))[0]
            boxes[i] = [rows[0], cols[0], rows[-1] + 1, cols[-1] + 1]
        mini = np.zeros(tuple(config.MINI_MASK_SHAPE) + (masks.shape[2],), dtype=bool)
        for i, (y1, x1, y2, x2) in enumerate(boxes):
            crop = masks[y1:y2, x1:x2, i].astype(float)
            mini[:, :, i] = np.around(skimage.transform.resize(crop, config.MINI_MASK_SHAPE, order=1,
                                                               mode="constant", anti_aliasing=False)).astype(bool)
    with times.measure("rpn_targets"):
        match, bbox = plain_rpn_targets(anchors, class_ids, boxes, config)
    with times.measure("assembly"):
        molded = image.astype(np.float64) - config.MEAN_PIXEL
    return molded, class_ids, boxes, mini, match, bbox


def plain_batches(dataset, config, image_ids, compose, times: StageTimes) -> None:
    """matterport's data_generator batch layout, two images at a time."""
    anchors = get_pixel_anchors(config, config.IMAGE_SHAPE)
    for start in range(0, len(image_ids), config.BATCH_SIZE):
        chunk = image_ids[start:start + config.BATCH_SIZE]
        images = np.zeros((len(chunk),) + tuple(config.IMAGE_SHAPE), dtype=np.float32)
        rpn_match = np.zeros((len(chunk), len(anchors), 1), dtype=np.int32)
        gt_masks = np.zeros((len(chunk),) + tuple(config.MINI_MASK_SHAPE) + (config.MAX_GT_INSTANCES,), bool)
        for slot, image_id in enumerate(chunk):
            molded, class_ids, boxes, mini, match, bbox = plain_sample(dataset, config, image_id, anchors, compose,
                                                                      times)
            with times.measure("assembly"):
                images[slot] = molded
                rpn_match[slot, :, 0] = match
                gt_masks[slot, :, :, :mini.shape[2]] = mini[:, :, :config.MAX_GT_INSTANCES]


# ------------------------------------------------------------------------------------------------------ measuring


def measure_ours(dataset, config, image_ids, augmentation) -> tuple[float, StageTimes]:
    times = StageTimes()
    build_batch(dataset, image_ids[:2], config, augmentation=augmentation)  # warm-up: anchor grid, imports
    start = time.perf_counter()
    for index in range(0, len(image_ids), config.BATCH_SIZE):
        build_batch(dataset, image_ids[index:index + config.BATCH_SIZE], config, augmentation=augmentation,
                    epoch=1, times=times)
    return time.perf_counter() - start, times


def measure_plain(dataset, config, image_ids, preset) -> tuple[float, StageTimes]:
    augmentation = make_augmentation(preset)
    compose = A.Compose(augmentation.transforms()) if augmentation is not None else None
    times = StageTimes()
    np.random.seed(0)
    start = time.perf_counter()
    plain_batches(dataset, config, image_ids, compose, times)
    return time.perf_counter() - start, times


def measure_workers(dataset, config, image_ids, augmentation, workers: int) -> float:
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    batches = MaskRCNNBatches(dataset, config, augmentation=augmentation, image_ids=np.tile(image_ids, 8),
                              workers=workers, use_multiprocessing=True)
    adapter = PyDatasetAdapter(batches, shuffle=False)
    start = time.perf_counter()
    adapter.on_epoch_begin()
    images = sum(len(batch["input_image"]) for batch in adapter.get_numpy_iterator())
    adapter.on_epoch_end()
    return images / (time.perf_counter() - start)


def stage_table(ours: StageTimes, plain: StageTimes, count: int) -> None:
    print(f"    {'stage (ms per image)':<24}{'ours':>9}{'matterport-style':>18}")
    for label, plain_key, our_key in STAGES:
        mine = ours.get(our_key, 0.0) * 1000 / count if our_key else None
        theirs = plain.get(plain_key, 0.0) * 1000 / count
        mine_text = f"{mine:9.1f}" if mine is not None else f"{'(above)':>9}"
        print(f"    {label:<24}{mine_text}{theirs:18.1f}")
    print(f"    {'total':<24}{sum(ours.values()) * 1000 / count:9.1f}{sum(plain.values()) * 1000 / count:18.1f}")
    print("    (ours decodes the JPEG reduced and resizes it in one step, and resizes masks as runs before decoding)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=12, help="distinct images (default 12)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 512], help="IMAGE_MAX_DIM values")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the parallel figure")
    parser.add_argument("--augmentation", nargs="+", default=["none", "seed", "first_place"])
    parser.add_argument("--data-dir", type=Path, help="where the benchmark images are (written if missing)")
    parser.add_argument("--no-cache", action="store_true", help="skip the runs from the prepared image cache")
    args = parser.parse_args()

    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.data_dir or Path(scratch)
        print(f"data: {root}")
        make_data(root, args.images)
        dataset = FashionDataset.from_data_dir(root)
        counts = np.array([len(info["rles"]) for info in dataset.image_info])
        image_ids = np.array(dataset.image_ids)[counts < 74]  # the throughput set: the competition's mean
        crowded = np.array(dataset.image_ids)[counts >= 74]  # timed on its own
        sizes = [f"{info['height']}x{info['width']}" for info in dataset.image_info]
        print(f"{len(image_ids)} images ({', '.join(sorted(set(sizes)))}), instances per image: mean "
              f"{counts[counts < 74].mean():.1f}; plus {len(crowded)} image with {counts.max()} instances")
        print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
              f"on {os.cpu_count()} cores")
        cached = None
        if not args.no_cache:
            prepare_image_cache(root, root / "cache1024", max_side=1024, splits=("train",), workers=1, progress=False)
            cached = FashionDataset.from_data_dir(root, image_dir=root / "cache1024" / "train")
        for side in args.sizes:
            config = BenchConfig(IMAGE_MAX_DIM=side, IMAGE_MIN_DIM=min(800, side))
            for preset in args.augmentation:
                augmentation = make_augmentation(preset)
                ours_seconds, ours_times = measure_ours(dataset, config, image_ids, augmentation)
                plain_seconds, plain_times = measure_plain(dataset, config, image_ids, preset)
                ours_rate, plain_rate = len(image_ids) / ours_seconds, len(image_ids) / plain_seconds
                print(f"\n{side}x{side}, augmentation {preset}: one process, images/s")
                print(f"  ours {ours_rate:.1f}   matterport-style {plain_rate:.2f}   "
                      f"ratio {ours_rate / plain_rate:.1f}x")
                stage_table(ours_times, plain_times, len(image_ids))
                if len(crowded):
                    ours_crowded = measure_ours(dataset, config, crowded, augmentation)[0] / len(crowded)
                    plain_crowded = measure_plain(dataset, config, crowded, preset)[0] / len(crowded)
                    print(f"  the image with {counts.max()} instances: ours {ours_crowded * 1000:.0f} ms, "
                          f"matterport-style {plain_crowded * 1000:.0f} ms")
                if cached is not None:
                    cache_seconds, cache_times = measure_ours(cached, config, image_ids, augmentation)
                    cache_rate = len(image_ids) / cache_seconds
                    print(f"  ours from the prepared 1024 cache: {cache_rate:.1f} images/s "
                          f"({cache_rate / plain_rate:.1f}x matterport-style); JPEG decode {cache_times.get('image', 0) * 1000 / len(image_ids):.1f} ms")
                if args.workers > 1:
                    for name, source in (("originals", dataset), ("cache", cached)):
                        if source is None:
                            continue
                        rate = measure_workers(source, config, image_ids, augmentation, args.workers)
                        print(f"  ours with {args.workers} worker processes ({name}): {rate:.1f} images/s "
                              f"({rate / args.workers:.1f} per worker)")
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
