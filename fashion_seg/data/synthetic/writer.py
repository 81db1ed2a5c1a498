"""Writing the demo dataset in the competition layout (see the package docstring): images, ``train.csv``,
``test_truth.csv``, ``sample_submission.csv`` and the 2019 label file, each file written atomically."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pandas as pd

from ...atomic import atomic_path, atomic_write
from .. import rle
from ..labels import PACKAGED_LABELS_2019
from .painting import SceneInstance
from .scenes import render_scene


@dataclass(frozen=True)
class DemoDataset:
    """Where :func:`write_scene_dataset` wrote things, and how much."""

    root: Path
    train_images: int
    test_images: int
    train_rows: int
    test_rows: int


#: ``(rng, split, index) -> (RGB image uint8 [H, W, 3], its instances, grayscale?)``: one scene of a split, drawn
#: with the scene's own random generator
SceneMaker = Callable[[np.random.Generator, str, int], tuple[np.ndarray, list[SceneInstance], bool]]


def write_scene_dataset(out_dir: str | os.PathLike, name: str, seed: int, train_images: int, test_images: int,
                        make_scene: SceneMaker, seed_key: tuple[int, ...] = ()) -> DemoDataset:
    """Write ``train_images`` + ``test_images`` scenes from ``make_scene`` in the competition layout (package
    docstring). Scene ``index`` of a split draws from its own generator, spawned from ``[seed, split, *seed_key]``;
    its ImageId is a hash of ``name``, ``seed``, the split and ``index``, so every file is deterministic in ``seed``."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    frames, test_ids = {}, []
    for split, count in (("train", train_images), ("test", test_images)):
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        seeds = np.random.SeedSequence([seed, 0 if split == "train" else 1, *seed_key]).spawn(count)
        for index in range(count):
            image, instances, grayscale = make_scene(np.random.default_rng(seeds[index]), split, index)
            image_id = hashlib.md5(f"fashion_seg-{name}-{seed}-{split}-{index}".encode()).hexdigest() + ".jpg"
            write_jpeg(folder / image_id, image, grayscale)
            height, width = image.shape[:2]
            rows.extend((image_id, rle.encode(i.mask), height, width, i.class_id) for i in instances)
            if split == "test":
                test_ids.append(image_id)
        frame = pd.DataFrame(rows, columns=["ImageId", "EncodedPixels", "Height", "Width", "ClassId"])
        frames[split] = frame.sort_values("ImageId", kind="stable").reset_index(drop=True)
    for file_name, frame in (("train.csv", frames["train"]), ("test_truth.csv", frames["test"]),
                             ("sample_submission.csv", pd.DataFrame({"ImageId": sorted(test_ids),
                                                                     "EncodedPixels": "1 1", "ClassId": "23"}))):
        with atomic_write(root / file_name, newline="") as handle:
            frame.to_csv(handle, index=False)
    with atomic_path(root / "label_descriptions.json") as tmp:
        shutil.copyfile(PACKAGED_LABELS_2019, tmp)
    return DemoDataset(root, train_images, test_images, len(frames["train"]), len(frames["test"]))


def write_jpeg(path: Path, image: np.ndarray, grayscale: bool) -> None:
    """``image`` (RGB) as a quality-90 JPEG, written atomically; ``grayscale``: one channel."""
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if grayscale else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_write(path, "wb") as handle:
        handle.write(data.tobytes())


def make_demo_dataset(
    out_dir: str | os.PathLike,
    seed: int = 0,
    train_images: int = 40,
    test_images: int = 8,
    min_side: int = 200,
    max_side: int = 700,
    large_side: int | None = 3000,
) -> DemoDataset:
    """Write the demo dataset (layout in the package docstring) and return what was written.

    Image sides are drawn uniformly from [min_side, max_side]; train image 1 has a ``large_side`` long side (None:
    no large image); train and test image 0 are grayscale JPEGs.
    """
    def demo_scene(rng: np.random.Generator, split: str, index: int):
        if split == "train" and index == 1 and large_side:
            height, width = large_side, int(large_side * rng.uniform(0.6, 0.75))
        else:
            height, width = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
        image, instances = render_scene(rng, height, width)
        return image, instances, index == 0

    return write_scene_dataset(out_dir, "demo", seed, train_images, test_images, demo_scene)
