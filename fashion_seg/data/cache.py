"""A resized copy of the image folders (``dataHandling.py prepare``), so training reads small files.

``prepare_image_cache(data_dir, out_dir, max_side)`` writes ``out/train/<ImageId>`` and ``out/test/<ImageId>``,
each image shrunk so its longer side is at most ``max_side`` (aspect ratio kept; smaller images copied as they are),
and ``out/manifest.csv`` (split, ImageId, Height, Width of the original, CachedHeight, CachedWidth). Masks are not
touched: they stay run-length encoded in train.csv and are resized on demand. Use the cache with
``FashionDataset.from_data_dir(data_dir, image_dir=out / "train")`` and ask for ``max_side`` <= the cache's.

Work is spread over processes with a progress bar; each file is written atomically, files already present at the right size are kept
(a stopped run resumes), and an unreadable image is reported, not fatal.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import pandas as pd
from tqdm import tqdm

from ..atomic import atomic_path, atomic_write
from ..errors import ConfigError, DataError
from .images import image_size, load_image
from .mask_geometry import scaled_size

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class CacheReport:
    """What :func:`prepare_image_cache` did; ``failed``: (split, ImageId, message) of images it could not read."""

    written: int = 0
    kept: int = 0
    copied: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)


def _prepare_one(task: tuple[str, str, str, str, int, int]) -> tuple:
    """Worker: (split, name, source, target, max_side, quality) -> (split, name, original size, cached size, outcome)."""
    split, name, source, target, max_side, quality = task
    try:
        original = image_size(source)
        size = scaled_size(*original, max_side)
        target_path = Path(target)
        if target_path.exists() and image_size(target_path) == size:
            return split, name, original, size, "kept"
        if size == original:
            with atomic_path(target_path) as tmp:
                shutil.copyfile(source, tmp)
            return split, name, original, size, "copied"
        image = cv2.cvtColor(load_image(source, size=size), cv2.COLOR_RGB2BGR)
        suffix = target_path.suffix.lower()
        params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in (".jpg", ".jpeg") else []
        ok, data = cv2.imencode(suffix, image, params)
        if not ok:
            raise DataError(f"could not encode {target_path}")
        with atomic_write(target_path, "wb") as handle:
            handle.write(data.tobytes())
        return split, name, original, size, "written"
    except DataError as error:
        return split, name, None, None, str(error)


def prepare_image_cache(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    max_side: int,
    splits: tuple[str, ...] = ("train", "test"),
    workers: int | None = None,
    quality: int = 95,
    progress: bool = True,
) -> CacheReport:
    """Write the resized cache of ``DATA_DIR/<split>/`` for each split that exists (see the module docstring)."""
    if max_side < 32:
        raise DataError(f"--max-side {max_side} is too small to train on; use at least 32")
    if workers is not None and workers < 0:
        raise ConfigError(f"--workers {workers}: give a number of processes (0, or leave it out, for one per core)")
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if data_dir.resolve() == out_dir.resolve():
        raise DataError("the cache must go to another folder than the data (it would overwrite the originals)")
    tasks = []
    for split in splits:
        folder = data_dir / split
        if not folder.is_dir():
            continue
        (out_dir / split).mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                tasks.append((split, path.name, str(path), str(out_dir / split / path.name), max_side, quality))
    if not tasks:
        raise DataError(f"no images under {data_dir} in {', '.join(f'{s}/' for s in splits)}")
    report = CacheReport()
    manifest = []
    workers = workers or max(1, min(len(tasks), os.cpu_count() or 1))
    context = multiprocessing.get_context("spawn" if os.name == "nt" else "fork")
    with context.Pool(workers) as pool:
        results = pool.imap_unordered(_prepare_one, tasks, chunksize=max(1, len(tasks) // (workers * 16)))
        for split, name, original, size, outcome in tqdm(results, total=len(tasks), desc="prepare", unit="img",
                                                         disable=not progress):
            if original is None:
                report.failed.append((split, name, outcome))
                continue
            setattr(report, outcome, getattr(report, outcome) + 1)
            manifest.append((split, name, *original, *size))
    frame = pd.DataFrame(manifest, columns=["split", "ImageId", "Height", "Width", "CachedHeight", "CachedWidth"])
    with atomic_write(out_dir / "manifest.csv", newline="") as handle:
        frame.sort_values(["split", "ImageId"]).to_csv(handle, index=False)
    return report
