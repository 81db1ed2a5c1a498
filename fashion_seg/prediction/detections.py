"""One image's raw detections: what the network found, before any threshold of the post-processing is applied.

This is the value that travels between the stages of prediction: the network's output is turned into it
(:meth:`Detections.from_network`), test-time augmentations and checkpoints are merged as it
(:func:`fashion_seg.prediction.tta.merge_detections`), it is cached on disk for threshold tuning (:class:`DetectionStore`),
and post-processing turns it into masks (:func:`fashion_seg.prediction.postprocess.postprocess`).

Coordinates: ``boxes`` are float ``(y1, x1, y2, x2)`` in the ORIGINAL image's pixels, edge coordinates (pixel ``y``
spans ``[y, y + 1)``; ``y2``, ``x2`` exclusive), not rounded, so that they can be scaled to any output size (rounding
them at the image's own size gives exactly matterport's integer ``rois``). ``masks`` are the mask head's
probabilities on a grid (28x28) that spans each detection's box. ``attributes``, from a model with an attribute head,
are each detection's attribute probabilities (row ``i`` <-> detection ``i``, column ``j`` <-> column ``j`` of the
run's ``attributes.json``); every selection, flip, merge and the cache keep them aligned with the other fields, and
without them (older checkpoints) every stage behaves as before.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_write
from ..errors import DataError
from ..mrcnn.boxes import norm_boxes

MASK_SHAPE = (28, 28)


@dataclass(frozen=True)
class Detections:
    """Detections of one image (``N`` of them).

    ``boxes``: float64 ``[N, (y1, x1, y2, x2)]`` original-image pixels (edge coordinates, see the module docstring);
    ``class_ids``: int32 ``[N]`` model class ids (1..NUM_CLASSES-1; 0 is the background); ``scores``: float32 ``[N]``;
    ``masks``: float32 (float16 when compacted) ``[N, h, w]`` probabilities over each box;
    ``image_shape``: ``(height, width)`` of the original image; ``attributes``: float32 ``[N, A]`` attribute
    probabilities, or None for a model without an attribute head.
    """

    boxes: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray
    masks: np.ndarray
    image_shape: tuple[int, int]
    attributes: np.ndarray | None = None

    def __post_init__(self):
        count = len(self.boxes)
        if self.boxes.shape != (count, 4) or self.class_ids.shape != (count,) or self.scores.shape != (count,) \
                or self.masks.ndim != 3 or len(self.masks) != count \
                or (self.attributes is not None and (self.attributes.ndim != 2 or len(self.attributes) != count)):
            raise ValueError(f"inconsistent detections: boxes {self.boxes.shape}, class_ids {self.class_ids.shape}, "
                             f"scores {self.scores.shape}, masks {self.masks.shape}, attributes "
                             f"{None if self.attributes is None else self.attributes.shape}")

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def num_attributes(self) -> int | None:
        """Attribute columns, or None without attributes."""
        return None if self.attributes is None else self.attributes.shape[1]

    @classmethod
    def empty(cls, image_shape, mask_shape=MASK_SHAPE, num_attributes: int | None = None) -> "Detections":
        attributes = None if num_attributes is None else np.zeros((0, num_attributes), np.float32)
        return cls(np.zeros((0, 4)), np.zeros(0, np.int32), np.zeros(0, np.float32),
                   np.zeros((0,) + tuple(mask_shape), np.float32), _shape(image_shape), attributes)

    @classmethod
    def from_network(cls, detections: np.ndarray, masks: np.ndarray, molded_shape, window,
                     image_shape, attributes: np.ndarray | None = None) -> "Detections":
        """One image's network outputs -> detections in the original image.

        ``detections``: ``[max_instances, (y1, x1, y2, x2, class_id, score)]``, boxes normalized in the molded
        image of ``molded_shape`` (matterport's convention), zero rows after the last detection; ``masks``:
        ``[max_instances, h, w]`` own-class probabilities; ``window``: (y1, x1, y2, x2) pixels of the image inside the
        molded image; ``image_shape``: the original image's ``(height, width)`` (which may be larger than the image
        that was molded, when a big JPEG was decoded at reduced size); ``attributes``: ``[max_instances, A]`` attribute
        probabilities (a model with an attribute head) or None. Rows without area are dropped.

        Arithmetic follows matterport's unmolding (float32 window normalisation, then ``* (size - 1) + (0, 0, 1, 1)``)
        without its final rounding.
        """
        detections = np.asarray(detections)
        padding = np.flatnonzero(detections[:, 4] == 0)
        count = int(padding[0]) if len(padding) else len(detections)
        wy1, wx1, wy2, wx2 = norm_boxes(np.asarray(window), tuple(molded_shape)[:2])
        shift = np.array([wy1, wx1, wy1, wx1], dtype=np.float32)
        scale = np.array([wy2 - wy1, wx2 - wx1, wy2 - wy1, wx2 - wx1], dtype=np.float32)
        relative = (detections[:count, :4].astype(np.float32) - shift) / scale
        height, width = _shape(image_shape)
        boxes = relative.astype(np.float64) * np.array([height - 1, width - 1, height - 1, width - 1]) \
            + np.array([0.0, 0.0, 1.0, 1.0])
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        if attributes is not None:
            attributes = np.asarray(attributes)[:count][keep].astype(np.float32, copy=False)
        return cls(boxes[keep], detections[:count, 4][keep].astype(np.int32),
                   detections[:count, 5][keep].astype(np.float32),
                   np.asarray(masks)[:count][keep].astype(np.float32, copy=False), (height, width), attributes)

    def select(self, index) -> "Detections":
        """The detections at ``index`` (indices or a boolean mask), in that order."""
        return Detections(self.boxes[index], self.class_ids[index], self.scores[index], self.masks[index],
                          self.image_shape, None if self.attributes is None else self.attributes[index])

    def flip_horizontal(self) -> "Detections":
        """The same detections mirrored left-right in the image (their own inverse): ``x -> width - x``."""
        width = self.image_shape[1]
        boxes = self.boxes.copy()
        boxes[:, 1], boxes[:, 3] = width - self.boxes[:, 3], width - self.boxes[:, 1]
        return Detections(boxes, self.class_ids, self.scores, self.masks[:, :, ::-1].copy(), self.image_shape,
                          self.attributes)

    def compact(self) -> "Detections":
        """The same detections with float16 mask probabilities (half the memory; what the cache stores). Attribute
        probabilities stay float32: they are few, and compared with thresholds as they are."""
        return Detections(self.boxes, self.class_ids, self.scores, self.masks.astype(np.float16), self.image_shape,
                          self.attributes)

    def order_by_score(self) -> "Detections":
        """Sorted by descending score (ties keep their order)."""
        return self.select(np.argsort(-self.scores, kind="stable"))


def concatenate(parts: Sequence[Detections]) -> Detections:
    """All detections of several sources of one image, in order. Either every part has attributes (of one width) or
    none has."""
    if not parts:
        raise ValueError("nothing to concatenate")
    shapes = {p.image_shape for p in parts}
    if len(shapes) > 1:
        raise ValueError(f"detections of different image sizes {sorted(shapes)} cannot be combined")
    widths = {p.num_attributes for p in parts}
    if len(widths) > 1:
        raise ValueError(f"detections with attributes of different widths {sorted(widths, key=str)} (None: no "
                         "attribute head) cannot be combined")
    attributes = None if parts[0].attributes is None else np.concatenate([p.attributes for p in parts])
    return Detections(np.concatenate([p.boxes for p in parts]), np.concatenate([p.class_ids for p in parts]),
                      np.concatenate([p.scores for p in parts]), np.concatenate([p.masks for p in parts]),
                      parts[0].image_shape, attributes)


def _shape(image_shape) -> tuple[int, int]:
    return int(image_shape[0]), int(image_shape[1])


# ------------------------------------------------------------------------------------------------------------ cache


class DetectionStore:
    """A folder of cached detections, one ``.npz`` per image (float16 masks), written atomically.

    ``identity``: what produced them (weights, augmentations, inference config), kept in ``store.json``; opening an
    existing folder with a different identity raises :class:`DataError`, so cached results of one model are never
    mixed with another's. A stopped run keeps what it wrote; :meth:`has` tells what is left to do.
    """

    MANIFEST = "store.json"

    def __init__(self, folder: str | os.PathLike, identity: dict):
        self.folder = Path(folder)
        self.identity = json.loads(json.dumps(identity))  # normalise tuples to lists, as the JSON file will have them
        manifest = self.folder / self.MANIFEST
        if manifest.exists():
            try:
                stored = json.loads(manifest.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                raise DataError(f"{manifest} is not valid JSON ({error}); delete the folder to start again") from None
            if stored != self.identity:
                changed = sorted(k for k in set(stored) | set(self.identity) if stored.get(k) != self.identity.get(k))
                raise DataError(f"{self.folder} holds detections made with other settings (differs in "
                                f"{', '.join(changed)}); use another folder or delete it")
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_write(manifest) as handle:
                json.dump(self.identity, handle, indent=2, sort_keys=True)

    def _path(self, image_id: str) -> Path:
        return self.folder / (re.sub(r"[^\w.-]", "_", image_id) + ".npz")

    def has(self, image_id: str) -> bool:
        return self._path(image_id).exists()

    def save(self, image_id: str, detections: Detections) -> None:
        compact = detections.compact()
        extra = {} if compact.attributes is None else {"attributes": compact.attributes}
        with atomic_write(self._path(image_id), "wb") as handle:
            np.savez(handle, boxes=compact.boxes, class_ids=compact.class_ids, scores=compact.scores,
                     masks=compact.masks, image_shape=np.asarray(compact.image_shape), **extra)

    def load(self, image_id: str) -> Detections:
        path = self._path(image_id)
        try:
            with np.load(path) as data:
                return Detections(data["boxes"], data["class_ids"], data["scores"], data["masks"],
                                  _shape(data["image_shape"]),
                                  data["attributes"] if "attributes" in data.files else None)
        except FileNotFoundError:
            raise DataError(f"no cached detections for {image_id} in {self.folder}") from None
        except (OSError, ValueError, KeyError) as error:
            raise DataError(f"cached detections {path} are unreadable ({error}); delete the file to redo it") from None
