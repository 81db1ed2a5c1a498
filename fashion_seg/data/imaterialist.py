"""The iMaterialist Fashion competition's training images as a Mask R-CNN dataset: :class:`FashionDataset`, and the
competition's constants (the submission grid, the two training images with swapped sizes).

The files it reads: :mod:`fashion_seg.data.labels` (``label_descriptions.json``, ClassIds) and
:mod:`fashion_seg.data.train_csv` (``train.csv`` in the 2019 or 2020 format).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, RLEError
from ..mrcnn.dataset import Dataset
from . import rle
from .attributes import AttributeTargets
from .images import image_size, load_image
from .labels import LabelDescriptions, read_data_dir_labels, read_label_descriptions
from .mask_geometry import resize_masks, scaled_size
from .train_csv import COLUMNS_2019, image_file_name, normalise_annotations, read_train_csv

#: The two training images whose train.csv Height/Width are the JPEG's swapped (Kaggle discussion 91217).
KNOWN_SWAPPED_SIZE_IMAGES = ("f4d6e71fbffc3e891e5009fef2c8bf6b.jpg", "2ab8c02ce17612733ddee218b4ce1fd1.jpg")
SWAPPED_SIZE_POLICIES = ("skip", "rotate")
#: the side of the square grid the competition's submissions encode their masks on (and the metric compares at)
SUBMISSION_SIZE = 512

log = logging.getLogger(__name__)


class FashionDataset(Dataset):
    """iMaterialist images with their masks, read lazily: masks are decoded only for the image asked for.

    Built from a (subset of a) table of :func:`read_train_csv`; rows are grouped per image without decoding.
    Classes: the label file's categories, registered in file order as source ``"imaterialist"``; internal class id
    = category + 1 for the competition files (0 is the background).

    ``image_info[i]`` holds ``id`` (the ImageId), ``path``, ``height``/``width`` (the stored image size, from the
    CSV; never read from the image), ``rles``, ``class_id_strings``, ``category_ids``, ``attribute_ids``, ``lines``
    (train.csv line numbers), ``rotate`` (masks need the swapped-size fix, see below).

    Swapped sizes: for the images in ``swapped_image_ids`` (by default the two known bad train images) the JPEG
    header is read; if it shows the CSV size swapped, ``swapped_sizes="skip"`` (default) leaves the image out and
    ``"rotate"`` keeps it with its masks decoded at the CSV size and turned with ``mask.T[::-1, :]`` (90 degrees
    counter-clockwise) onto the JPEG's grid. Skip is the default because the rotation is inferred, not confirmed,
    and the 2020 release removed both images.

    ``load_image(i, max_side)`` and ``load_mask(i, max_side)`` return the same (height, width): the stored size,
    or shrunk to ``max_side`` on the longer side (:func:`fashion_seg.data.mask_geometry.scaled_size`). ``image_dir``
    may be a cache written by ``dataHandling.py prepare``: its smaller images are brought to that same size.
    """

    SOURCE = "imaterialist"

    def __init__(
        self,
        annotations: pd.DataFrame,
        image_dir: str | os.PathLike,
        labels: LabelDescriptions | None = None,
        swapped_sizes: str = "skip",
        swapped_image_ids: Iterable[str] = KNOWN_SWAPPED_SIZE_IMAGES,
    ):
        super().__init__()
        if swapped_sizes not in SWAPPED_SIZE_POLICIES:
            raise DataError(f"swapped_sizes must be one of {SWAPPED_SIZE_POLICIES}, got {swapped_sizes!r}")
        self.labels = labels if labels is not None else read_label_descriptions()
        self.image_dir = Path(image_dir)
        self.swapped_sizes = swapped_sizes
        self.skipped_image_ids: list[str] = []
        for category in self.labels.categories:
            self.add_class(self.SOURCE, category["id"], category["name"])
        self._check_rows(annotations)
        self._add_images(annotations, {image_file_name(i) for i in swapped_image_ids})
        self.prepare()
        self._internal_class = {
            category["id"]: self.map_source_class_id(f"{self.SOURCE}.{category['id']}")
            for category in self.labels.categories
        }
        self._attribute_columns = self.labels.attribute_columns

    @classmethod
    def from_data_dir(
        cls, data_dir: str | os.PathLike, csv_name: str = "train.csv", image_dir: str | os.PathLike | None = None,
        **kwargs,
    ) -> "FashionDataset":
        """The dataset of a competition folder: ``DATA_DIR/train.csv``, images in ``DATA_DIR/train/`` (or
        ``image_dir``, e.g. a ``prepare`` cache), and ``DATA_DIR/label_descriptions.json`` if present (else the
        packaged 2019 file)."""
        data_dir = Path(data_dir)
        kwargs.setdefault("labels", read_data_dir_labels(data_dir))
        return cls(read_train_csv(data_dir / csv_name), image_dir or data_dir / "train", **kwargs)

    @classmethod
    def from_images(
        cls,
        image_dir: str | os.PathLike,
        image_ids: Sequence[str] | None = None,
        labels: LabelDescriptions | None = None,
    ) -> "FashionDataset":
        """Images without annotations (the test set): sizes come from the image headers; no instances."""
        image_dir = Path(image_dir)
        if image_ids is None:
            image_ids = sorted(p.name for p in image_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        rows = []
        for image_id in image_ids:
            height, width = image_size(image_dir / image_file_name(image_id))
            rows.append({"ImageId": image_id, "EncodedPixels": "", "Height": str(height), "Width": str(width),
                         "ClassId": ""})
        empty = normalise_annotations(pd.DataFrame(rows, columns=COLUMNS_2019), str(image_dir))
        return cls(empty, image_dir, labels=labels, swapped_image_ids=())

    # -- construction

    def _check_rows(self, annotations: pd.DataFrame) -> None:
        source = annotations.attrs.get("path", "annotations")
        has_mask = annotations["EncodedPixels"].to_numpy(dtype=str) != ""
        bad_size = (annotations["Height"].to_numpy() < 1) | (annotations["Width"].to_numpy() < 1)
        unknown = has_mask & ~np.isin(annotations["CategoryId"].to_numpy(), sorted(self.labels.category_ids))
        columns = self.labels.attribute_columns
        unknown_attribute = np.array([any(a not in columns for a in ids) for ids in annotations["AttributeIds"]], bool)
        bad = bad_size | unknown | unknown_attribute
        if bad.any():
            index = int(np.argmax(bad))
            row = annotations.iloc[index]
            if bad_size[index]:
                what = "Height/Width are not positive integers"
            else:
                what = f"ClassId {row['ClassId']!r} has an unknown category or attribute"
            raise DataError(
                f"{source} line {row['line']}: {what}; run `dataHandling.py validate` to list every problem "
                f"and `validate --fix` to write a cleaned CSV"
            )

    def _add_images(self, annotations: pd.DataFrame, swapped: set[str]) -> None:
        """Group rows per image (first-appearance order) with numpy slicing: fast for 333k rows."""
        codes, image_ids = pd.factorize(annotations["ImageId"], sort=False)
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order], prepend=-1, append=len(image_ids)))
        column = {name: annotations[name].to_numpy()[order] for name in
                  ("EncodedPixels", "Height", "Width", "ClassId", "CategoryId", "AttributeIds", "line")}
        source = annotations.attrs.get("path", "annotations")
        for image_id, begin, end in zip(image_ids, bounds[:-1], bounds[1:]):
            rows = {name: values[begin:end] for name, values in column.items()}
            self._add_image_rows(str(image_id), rows, image_file_name(image_id) in swapped, source)

    def _add_image_rows(self, image_id: str, rows: dict, maybe_swapped: bool, source: str) -> None:
        heights, widths = rows["Height"], rows["Width"]
        if (heights != heights[0]).any() or (widths != widths[0]).any():
            raise DataError(
                f"{source} lines {rows['line'].min()}-{rows['line'].max()}: image {image_id} has rows with "
                f"different Height/Width; run `dataHandling.py validate --fix`"
            )
        csv_size = (int(heights[0]), int(widths[0]))
        path = self.image_dir / image_file_name(image_id)
        rotate = False
        if maybe_swapped and path.exists() and _shows_swapped_size(image_size(path), csv_size):
            if self.swapped_sizes == "skip":
                self.skipped_image_ids.append(image_id)
                log.info("skipping %s: train.csv gives its size swapped (swapped_sizes='skip')", image_id)
                return
            rotate = True
        annotated = rows["EncodedPixels"].astype(str) != ""
        self.add_image(
            self.SOURCE,
            image_id,
            path,
            height=csv_size[1] if rotate else csv_size[0],
            width=csv_size[0] if rotate else csv_size[1],
            csv_height=csv_size[0],
            csv_width=csv_size[1],
            rotate=rotate,
            rles=tuple(rows["EncodedPixels"][annotated]),
            class_id_strings=tuple(rows["ClassId"][annotated]),
            category_ids=rows["CategoryId"][annotated].astype(np.int64),
            attribute_ids=tuple(rows["AttributeIds"][annotated]),
            lines=rows["line"][annotated].astype(np.int64),
        )

    # -- reading

    def image_reference(self, image_id: int) -> str:
        return str(self.image_info[image_id]["path"])

    def image_size(self, image_id: int, max_side: int | None = None) -> tuple[int, int]:
        """(height, width) that :meth:`load_image` and :meth:`load_mask` return; from the CSV, no file access."""
        info = self.image_info[image_id]
        return scaled_size(info["height"], info["width"], max_side)

    def load_image(self, image_id: int, max_side: int | None = None) -> np.ndarray:
        """RGB ``uint8 [H, W, 3]`` at :meth:`image_size` (reduced JPEG decoding when much smaller)."""
        return load_image(self.image_info[image_id]["path"], size=self.image_size(image_id, max_side))

    def load_mask(self, image_id: int, max_side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Masks ``bool [H, W, N]`` at :meth:`image_size` and internal class ids ``int32 [N]`` (category + 1).

        Memory layout: instance-major, each ``masks[:, :, i]`` a Fortran-ordered 2-D array (the layout RLE decodes
        to; writing a C-ordered ``[H, W, N]`` instead takes 2-3x longer). Call
        ``np.ascontiguousarray`` if you need C order. With ``max_side`` the masks are resized on their run-length
        form (nearest neighbour), never decoded at the full size. A malformed RLE raises :class:`RLEError` naming
        the train.csv line.
        """
        info = self.image_info[image_id]
        height, width = self.image_size(image_id, max_side)
        masks = np.empty((len(info["rles"]), width, height), dtype=bool)
        for index, (encoded, line) in enumerate(zip(info["rles"], info["lines"])):
            masks[index] = self._instance_mask(info, encoded, line, height, width).T
        class_ids = np.array([self._internal_class[c] for c in info["category_ids"]], dtype=np.int32)
        return masks.transpose(2, 1, 0), class_ids

    def _instance_mask(self, info: dict, encoded: str, line: int, height: int, width: int) -> np.ndarray:
        csv_height, csv_width = info["csv_height"], info["csv_width"]
        try:
            runs = rle.parse_runs(encoded, csv_height, csv_width)
        except RLEError as error:
            raise RLEError(f"{info['id']} (train.csv line {line}): {error}") from None
        if info["rotate"]:
            rotated = rle.runs_to_mask(runs, csv_height, csv_width).T[::-1, :]
            return resize_masks(rotated, height, width)
        runs = rle.resize_runs(runs, csv_height, csv_width, height, width)
        return rle.runs_to_mask(runs, height, width)

    def load_attributes(self, image_id: int) -> np.ndarray:
        """Per-instance attribute multi-hot ``bool [N, num_attributes]`` (columns: ``labels.attribute_columns``)."""
        info = self.image_info[image_id]
        multi_hot = np.zeros((len(info["attribute_ids"]), self.labels.num_attributes), dtype=bool)
        for instance, attributes in enumerate(info["attribute_ids"]):
            multi_hot[instance, [self._attribute_columns[a] for a in attributes]] = True
        return multi_hot

    def attribute_targets(self):
        """The attribute targets of these images by their own table
        (:class:`~fashion_seg.data.attributes.AttributeTargets`: which instances' attributes are known, by the rule
        of :mod:`fashion_seg.data.attributes`)."""
        return AttributeTargets(self)

    def class_id_strings(self, image_id: int) -> list[str]:
        """The 2019 ClassId string of each instance, in :meth:`load_mask` order (e.g. ``"10_3_14_20"``)."""
        return list(self.image_info[image_id]["class_id_strings"])

    def image_index(self, image_id: str) -> int:
        """Internal index of an ImageId."""
        try:
            return int(self.image_from_source_map[f"{self.SOURCE}.{image_id}"])
        except KeyError:
            raise DataError(f"image {image_id!r} is not in this dataset") from None

    @property
    def image_id_strings(self) -> list[str]:
        """ImageId of each internal index."""
        return [info["id"] for info in self.image_info]


def _shows_swapped_size(stored: tuple[int, int], csv_size: tuple[int, int]) -> bool:
    """Whether an image file of size ``stored`` is the CSV's Height x Width turned sideways; a ``prepare`` cache
    holds it shrunk, so sizes are compared after scaling to the file's longer side."""
    longest = max(stored)
    return stored == scaled_size(csv_size[1], csv_size[0], longest) != scaled_size(csv_size[0], csv_size[1], longest)
