"""Train/validation split of the training images, stratified on each image's set of categories.

Multilabel iterative stratification (Sechidis et al. 2011, ``iterative-stratification`` package): every category
keeps about the same share of images in train and validation, which a random split does not guarantee for rare
categories (leg warmer: 112 masks in 45k images). The stratifier balances rare categories first and its validation
size is off by a few images; a short seeded refinement then makes the size exact and swaps image pairs between the
sides while that brings every category's validation count closer to its target (``share x total``). Deterministic in
``seed``.

On disk (``dataHandling.py split``): ``train_ids.txt`` and ``val_ids.txt`` (one ImageId per line) and
``class_proportions.csv``; :func:`load_split` turns such a folder back into two :class:`FashionDataset`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

from ..atomic import atomic_write
from ..errors import DataError
from .imaterialist import FashionDataset
from .labels import read_data_dir_labels
from .train_csv import read_train_csv


def image_category_matrix(annotations: pd.DataFrame, num_categories: int = 46) -> tuple[list[str], np.ndarray]:
    """(ImageIds in first-appearance order, ``uint8 [num_images, num_categories]`` with 1 where the image has the
    category). Rows with an unparseable or out-of-range category are ignored here (``validate`` reports them)."""
    codes, image_ids = pd.factorize(annotations["ImageId"], sort=False)
    categories = annotations["CategoryId"].to_numpy()
    valid = (categories >= 0) & (categories < num_categories)
    labels = np.zeros((len(image_ids), num_categories), dtype=np.uint8)
    labels[codes[valid], categories[valid]] = 1
    return [str(i) for i in image_ids], labels


def stratified_split(
    image_ids: list[str],
    labels: np.ndarray,
    val_fraction: float | None = None,
    val_images: int | None = None,
    seed: int = 0,
) -> tuple[list[str], list[str]]:
    """Split ``image_ids`` (rows of the multi-hot ``labels``) into (train, validation) ImageId lists.

    Give exactly one of ``val_fraction`` (0 < f < 1, e.g. 0.2 like the seed project) or ``val_images`` (e.g. 450
    like the 1st place). Both lists keep the input order.
    """
    count = len(image_ids)
    if (val_fraction is None) == (val_images is None):
        raise DataError("give exactly one of val_fraction and val_images")
    if val_fraction is not None:
        if not 0 < val_fraction < 1:
            raise DataError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
        val_images = int(round(val_fraction * count))
    if not 1 <= val_images < count:
        raise DataError(f"cannot put {val_images} of {count} images in validation: need 1 <= N < {count}")
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=val_images, random_state=seed)
    _, val_index = next(splitter.split(np.zeros((count, 1)), labels))
    is_val = np.zeros(count, dtype=bool)
    is_val[val_index] = True
    _rebalance(is_val, labels, val_images, np.random.default_rng(seed))
    train = [image_ids[i] for i in np.flatnonzero(~is_val)]
    val = [image_ids[i] for i in np.flatnonzero(is_val)]
    return train, val


def _rebalance(
    is_val: np.ndarray, labels: np.ndarray, val_images: int, rng: np.random.Generator, rounds: int = 400,
    candidates: int = 64, patience: int = 40,
) -> None:
    """Make ``is_val`` hold exactly ``val_images`` images, then improve the balance by swaps (in place).

    Cost: the squared distance of the per-category validation counts to their targets. Each step looks at
    ``candidates`` random images per side and applies the best move or swap, only if it lowers the cost; it stops
    after ``rounds`` steps or ``patience`` steps in a row without a gain.
    """
    labels = labels.astype(np.int64)
    target = labels.sum(axis=0) * (val_images / len(labels))
    val_counts = labels[is_val].sum(axis=0)

    def sample(pool: np.ndarray) -> np.ndarray:
        return rng.choice(pool, min(candidates, pool.size), replace=False)

    while is_val.sum() != val_images:
        leaving = is_val.sum() > val_images
        options = sample(np.flatnonzero(is_val if leaving else ~is_val))
        new_counts = val_counts - labels[options] if leaving else val_counts + labels[options]
        pick = options[np.argmin(((new_counts - target) ** 2).sum(axis=1))]
        is_val[pick] = not leaving
        val_counts = val_counts - labels[pick] if leaving else val_counts + labels[pick]
    cost = ((val_counts - target) ** 2).sum()
    idle = 0
    for _ in range(rounds):
        out_of_val, into_val = sample(np.flatnonzero(is_val)), sample(np.flatnonzero(~is_val))
        change = labels[into_val][None, :, :] - labels[out_of_val][:, None, :]  # [out, in, categories]
        costs = ((val_counts + change - target) ** 2).sum(axis=-1)
        best = np.unravel_index(np.argmin(costs), costs.shape)
        if costs[best] >= cost:
            idle += 1
            if idle == patience:
                break
            continue
        idle = 0
        is_val[out_of_val[best[0]]], is_val[into_val[best[1]]] = False, True
        val_counts = val_counts + change[best]
        cost = costs[best]


def class_proportions(
    image_ids: list[str], labels: np.ndarray, train_ids: list[str], val_ids: list[str], names: list[str] | None = None
) -> pd.DataFrame:
    """Per category: images in train and validation and the share of each side's images that have it."""
    row = {image_id: index for index, image_id in enumerate(image_ids)}
    train_labels = labels[[row[i] for i in train_ids]]
    val_labels = labels[[row[i] for i in val_ids]]
    frame = pd.DataFrame({
        "category": np.arange(labels.shape[1]),
        "name": names if names is not None else [""] * labels.shape[1],
        "train_images": train_labels.sum(axis=0),
        "val_images": val_labels.sum(axis=0),
        "train_share": train_labels.mean(axis=0) if len(train_ids) else 0.0,
        "val_share": val_labels.mean(axis=0) if len(val_ids) else 0.0,
    })
    frame["difference"] = (frame["val_share"] - frame["train_share"]).abs()
    return frame


def write_split(out_dir: str | os.PathLike, train_ids: list[str], val_ids: list[str],
                proportions: pd.DataFrame | None = None) -> list[Path]:
    """Write ``train_ids.txt``, ``val_ids.txt`` (and ``class_proportions.csv``) atomically; returns the paths."""
    out_dir = Path(out_dir)
    paths = []
    for name, ids in (("train_ids.txt", train_ids), ("val_ids.txt", val_ids)):
        with atomic_write(out_dir / name) as handle:
            handle.write("".join(f"{i}\n" for i in ids))
        paths.append(out_dir / name)
    if proportions is not None:
        with atomic_write(out_dir / "class_proportions.csv", newline="") as handle:
            proportions.to_csv(handle, index=False, float_format="%.5f")
        paths.append(out_dir / "class_proportions.csv")
    return paths


def read_split(split_dir: str | os.PathLike) -> tuple[list[str], list[str]]:
    """(train ImageIds, validation ImageIds) from a folder written by :func:`write_split`."""
    split_dir = Path(split_dir)
    out = []
    for name in ("train_ids.txt", "val_ids.txt"):
        try:
            out.append([line.strip() for line in (split_dir / name).read_text().splitlines() if line.strip()])
        except FileNotFoundError:
            raise DataError(f"{split_dir / name} not found: make the split with `dataHandling.py split`") from None
    overlap = set(out[0]) & set(out[1])
    if overlap:
        raise DataError(f"{split_dir}: {len(overlap)} images are in both train and val, e.g. {sorted(overlap)[0]}")
    return out[0], out[1]


def split_data_dir(
    data_dir: str | os.PathLike, val_fraction: float | None = None, val_images: int | None = None, seed: int = 0
) -> tuple[list[str], list[str], pd.DataFrame]:
    """Split ``DATA_DIR/train.csv``: (train ids, val ids, per-category proportions)."""
    data_dir = Path(data_dir)
    labels = read_data_dir_labels(data_dir)
    annotations = read_train_csv(data_dir / "train.csv")
    num_categories = max(labels.category_ids) + 1
    image_ids, matrix = image_category_matrix(annotations, num_categories)
    train, val = stratified_split(image_ids, matrix, val_fraction, val_images, seed)
    names = [labels.category_name(c) if c in labels.category_ids else "" for c in range(num_categories)]
    return train, val, class_proportions(image_ids, matrix, train, val, names)


def load_split(
    split_dir: str | os.PathLike, data_dir: str | os.PathLike, **dataset_kwargs
) -> tuple[FashionDataset, FashionDataset]:
    """(train, validation) datasets of ``DATA_DIR`` for a split folder; keyword arguments go to FashionDataset
    (e.g. ``swapped_sizes``, ``labels``; ``image_dir`` to read a ``prepare`` cache instead of ``DATA_DIR/train``)."""
    data_dir = Path(data_dir)
    train_ids, val_ids = read_split(split_dir)
    annotations = read_train_csv(data_dir / "train.csv")
    known = set(annotations["ImageId"])
    unknown = [i for i in train_ids + val_ids if i not in known]
    if unknown:
        raise DataError(f"{split_dir}: {len(unknown)} ImageIds are not in {data_dir / 'train.csv'}, e.g. {unknown[0]}")
    dataset_kwargs.setdefault("labels", read_data_dir_labels(data_dir))
    image_dir = dataset_kwargs.pop("image_dir", data_dir / "train")
    datasets = []
    for ids in (train_ids, val_ids):
        subset = annotations[annotations["ImageId"].isin(ids)]
        subset.attrs = dict(annotations.attrs)
        datasets.append(FashionDataset(subset, image_dir, **dataset_kwargs))
    return datasets[0], datasets[1]
