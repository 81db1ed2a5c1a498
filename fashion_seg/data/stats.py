"""Dataset statistics: instances and images per category, attribute counts, masks per image, image sizes, and how
many instances fall in each case of the attribute rule (:mod:`fashion_seg.data.attributes`).

Computed from train.csv alone (no image is opened); :func:`write_stats` writes them as CSV tables and PNG charts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import plots
from ..atomic import atomic_write
from .attributes import CASES, AttributeTable
from .labels import LabelDescriptions


@dataclass
class DatasetStats:
    """``categories``: category, name, supercategory, instances, images, with_attributes;
    ``attributes``: attribute, name, supercategory, instances; ``masks_per_image``: ImageId -> count;
    ``image_sizes``: ImageId, Height, Width (from the CSV); ``attribute_cases``: instances per case of the attribute
    rule (:data:`fashion_seg.data.attributes.CASES`: with attributes, known none, unknown, category never
    attributed)."""

    categories: pd.DataFrame
    attributes: pd.DataFrame
    masks_per_image: pd.Series
    image_sizes: pd.DataFrame
    attribute_cases: dict[str, int]

    def summary(self) -> str:
        counts = self.masks_per_image
        sizes = self.image_sizes
        lines = [
            f"{len(counts)} images, {int(counts.sum())} masks ({counts.mean():.2f} per image, max {counts.max()} in "
            f"{counts.idxmax()})",
            f"image height {sizes['Height'].min()}-{sizes['Height'].max()}, width "
            f"{sizes['Width'].min()}-{sizes['Width'].max()}",
            f"{int((self.categories['with_attributes'] > 0).sum())} categories carry attributes; "
            f"{int(self.categories['with_attributes'].sum())} masks have attributes",
            "attribute targets: " + ", ".join(f"{self.attribute_cases[case]} {case.replace('_', ' ')}"
                                              for case in CASES)
            + " (unknown and never attributed: no attribute loss)",
            "",
            self.categories.to_string(index=False),
        ]
        return "\n".join(lines)


def compute_stats(annotations: pd.DataFrame, labels: LabelDescriptions) -> DatasetStats:
    """Statistics of a table of :func:`~fashion_seg.data.train_csv.read_train_csv` (unparseable rows ignored)."""
    valid = annotations[annotations["CategoryId"] >= 0]
    has_attributes = valid["AttributeIds"].map(len) > 0
    categories = pd.DataFrame({
        "category": [c["id"] for c in labels.categories],
        "name": [c["name"] for c in labels.categories],
        "supercategory": [c["supercategory"] for c in labels.categories],
    })
    categories["instances"] = categories["category"].map(valid["CategoryId"].value_counts()).fillna(0).astype(int)
    images_with = valid.drop_duplicates(["ImageId", "CategoryId"])["CategoryId"].value_counts()
    categories["images"] = categories["category"].map(images_with).fillna(0).astype(int)
    with_attributes = valid.loc[has_attributes, "CategoryId"].value_counts()
    categories["with_attributes"] = categories["category"].map(with_attributes).fillna(0).astype(int)

    attribute_counts = valid["AttributeIds"].explode().dropna().astype(int).value_counts()
    attributes = pd.DataFrame({
        "attribute": [a["id"] for a in labels.attributes],
        "name": [a["name"] for a in labels.attributes],
        "supercategory": [a["supercategory"] for a in labels.attributes],
    })
    attributes["instances"] = attributes["attribute"].map(attribute_counts).fillna(0).astype(int)
    masks_per_image = annotations.groupby("ImageId", sort=False).size().rename("masks")
    image_sizes = annotations.drop_duplicates("ImageId")[["ImageId", "Height", "Width"]].reset_index(drop=True)
    cases = AttributeTable.from_annotations(annotations, labels).count_cases(annotations)
    return DatasetStats(categories, attributes, masks_per_image, image_sizes, cases)


def write_stats(stats: DatasetStats, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``categories.csv``, ``attributes.csv``, ``image_sizes.csv`` and the charts ``categories.png``,
    ``attributes.png``, ``masks_per_image.png``, ``image_sizes.png``; returns the paths."""
    out_dir = Path(out_dir)
    paths = []
    for name, frame in (("categories.csv", stats.categories), ("attributes.csv", stats.attributes),
                        ("image_sizes.csv", stats.image_sizes)):
        with atomic_write(out_dir / name, newline="") as handle:
            frame.to_csv(handle, index=False)
        paths.append(out_dir / name)
    categories = stats.categories
    paths.append(plots.bar_chart(
        [f"{c} {n}" for c, n in zip(categories["category"], categories["name"])], categories["instances"],
        out_dir / "categories.png", "Masks per category", "masks (log scale)", log_scale=bool(categories["instances"].any()),
    ))
    used = stats.attributes[stats.attributes["instances"] > 0]
    paths.append(plots.bar_chart(
        [f"{a} {n}" for a, n in zip(used["attribute"], used["name"])], used["instances"],
        out_dir / "attributes.png", f"Masks per attribute ({len(used)} of {len(stats.attributes)} used)", "masks",
    ))
    counts = stats.masks_per_image
    paths.append(plots.histogram(counts, out_dir / "masks_per_image.png", "Masks per image", "masks",
                                 bins=range(0, int(counts.max()) + 2)))
    paths.append(plots.scatter(stats.image_sizes["Width"], stats.image_sizes["Height"], out_dir / "image_sizes.png",
                               "Image sizes", "width (px)", "height (px)"))
    return paths
