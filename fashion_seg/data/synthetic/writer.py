"""Writing the demo dataset in the competition layout (see the package docstring): images, ``train.csv``,
``test_truth.csv``, ``sample_submission.csv`` and the 2019 label file, each file written atomically."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ...atomic import atomic_path, atomic_write
from .. import rle
from ..imaterialist import PACKAGED_LABELS_2019
from .scenes import render_scene


@dataclass(frozen=True)
class DemoDataset:
    """Where :func:`make_demo_dataset` wrote things, and how much."""

    root: Path
    train_images: int
    test_images: int
    train_rows: int
    test_rows: int


def _image_id(seed: int, split: str, index: int) -> str:
    return hashlib.md5(f"fashion_seg-demo-{seed}-{split}-{index}".encode()).hexdigest() + ".jpg"


def _write_jpeg(path: Path, image: np.ndarray, grayscale: bool) -> None:
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if grayscale else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_write(path, "wb") as handle:
        handle.write(data.tobytes())


def _split(root: Path, split: str, count: int, seed: int, min_side: int, max_side: int, large_side: int | None):
    rows = []
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence([seed, 0 if split == "train" else 1]).spawn(count)
    for index in range(count):
        rng = np.random.default_rng(seeds[index])
        if split == "train" and index == 1 and large_side:
            height, width = large_side, int(large_side * rng.uniform(0.6, 0.75))
        else:
            height, width = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
        image, instances = render_scene(rng, height, width)
        image_id = _image_id(seed, split, index)
        _write_jpeg(folder / image_id, image, grayscale=index == 0)
        for instance in instances:
            rows.append((image_id, rle.encode(instance.mask), height, width, instance.class_id))
    frame = pd.DataFrame(rows, columns=["ImageId", "EncodedPixels", "Height", "Width", "ClassId"])
    return frame.sort_values("ImageId", kind="stable").reset_index(drop=True)


def make_demo_dataset(
    out_dir: str | os.PathLike,
    seed: int = 0,
    train_images: int = 40,
    test_images: int = 8,
    min_side: int = 200,
    max_side: int = 700,
    large_side: int | None = 3000,
) -> DemoDataset:
    """Write the demo dataset (layout in the module docstring) and return what was written.

    Image sides are drawn uniformly from [min_side, max_side]; train image 1 has a ``large_side`` long side (None:
    no large image); train and test image 0 are grayscale JPEGs.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    train = _split(root, "train", train_images, seed, min_side, max_side, large_side)
    test = _split(root, "test", test_images, seed, min_side, max_side, None)
    with atomic_write(root / "train.csv", newline="") as handle:
        train.to_csv(handle, index=False)
    with atomic_write(root / "test_truth.csv", newline="") as handle:
        test.to_csv(handle, index=False)
    sample = pd.DataFrame({"ImageId": sorted(test["ImageId"].unique()) if len(test) else [],
                           "EncodedPixels": "1 1", "ClassId": "23"})
    with atomic_write(root / "sample_submission.csv", newline="") as handle:
        sample.to_csv(handle, index=False)
    with atomic_path(root / "label_descriptions.json") as tmp:
        shutil.copyfile(PACKAGED_LABELS_2019, tmp)
    return DemoDataset(root, train_images, test_images, len(train), len(test))
