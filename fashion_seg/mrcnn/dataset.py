"""The dataset base class, with matterport's ``utils.Dataset`` API.

A dataset registers its classes (``add_class``) and images (``add_image``), is ``prepare()``-d once, and is then read
by internal index: ``load_image(i)`` -> ``uint8 [H, W, 3]`` RGB, ``load_mask(i)`` -> (``bool [H, W, N]``,
``int32 [N]`` internal class ids). Internal class 0 is always the background ``"BG"``.

Classes and images keep their source's own ids: ``map_source_class_id("coco.12")`` gives the internal id of class 12
of source ``"coco"``. Subclasses override ``load_mask`` (and usually ``load_image`` and ``image_reference``).
Differences from matterport: ``sources`` is sorted (matterport's came from a set, in arbitrary order), and
``prepare(class_map)`` rejects a class map instead of silently ignoring it.
"""

from __future__ import annotations

import logging

import numpy as np
import skimage.color
import skimage.io

from ..errors import ConfigError

log = logging.getLogger(__name__)


class Dataset:
    """Images and classes of one or more sources, addressed by contiguous internal ids after :meth:`prepare`.

    Attributes (all set by :meth:`prepare` except the first two): ``image_info`` (list of dicts: ``id``, ``source``,
    ``path`` and whatever else ``add_image`` was given), ``class_info`` (list of dicts: ``source``, ``id``,
    ``name``), ``num_classes``, ``class_ids`` (``int [num_classes]``), ``class_names`` (text before the first comma),
    ``num_images``, ``sources``, ``source_class_ids`` (source -> internal ids, 0 included),
    ``class_from_source_map`` (``"source.id"`` -> internal class id), ``image_from_source_map``
    (``"source.id"`` -> internal image index).
    """

    def __init__(self, class_map=None):
        self._image_ids: np.ndarray | list = []
        self.image_info: list[dict] = []
        self.class_info: list[dict] = [{"source": "", "id": 0, "name": "BG"}]
        self.source_class_ids: dict[str, list[int]] = {}

    def add_class(self, source: str, class_id: int, class_name: str) -> None:
        """Register class ``class_id`` of ``source``; a (source, id) pair already registered is skipped."""
        if "." in source:
            raise ValueError(f"source name {source!r} must not contain a dot")
        for info in self.class_info:
            if info["source"] == source and info["id"] == class_id:
                return
        self.class_info.append({"source": source, "id": class_id, "name": class_name})

    def add_image(self, source: str, image_id, path, **kwargs) -> None:
        """Register an image; extra keyword arguments (``height``, ``width``, annotations, ...) are stored as-is."""
        self.image_info.append({"id": image_id, "source": source, "path": path, **kwargs})

    def image_reference(self, image_id: int) -> str:
        """A human-readable reference to the image (a path or link) for debugging; override in a subclass."""
        return ""

    def prepare(self, class_map=None) -> None:
        """Build the internal ids and lookup tables. Call after the last ``add_class``/``add_image``."""
        if class_map is not None:
            raise ValueError("class_map is not supported: register the classes you want with add_class")

        def short_name(name: str) -> str:
            return ",".join(name.split(",")[:1])

        self.num_classes = len(self.class_info)
        self.class_ids = np.arange(self.num_classes)
        self.class_names = [short_name(c["name"]) for c in self.class_info]
        self.num_images = len(self.image_info)
        self._image_ids = np.arange(self.num_images)
        self.class_from_source_map = {
            f"{info['source']}.{info['id']}": internal for info, internal in zip(self.class_info, self.class_ids)
        }
        self.image_from_source_map = {
            f"{info['source']}.{info['id']}": internal for info, internal in zip(self.image_info, self._image_ids)
        }
        self.sources = sorted({c["source"] for c in self.class_info})
        self.source_class_ids = {
            source: [
                int(internal)
                for internal, info in enumerate(self.class_info)
                if internal == 0 or info["source"] == source
            ]
            for source in self.sources
        }

    def map_source_class_id(self, source_class_id: str) -> int:
        """Internal class id of ``"source.id"``, e.g. ``"coco.12"``."""
        return int(self.class_from_source_map[source_class_id])

    def get_source_class_id(self, class_id: int, source: str) -> int:
        """The id that ``source`` uses for internal class ``class_id``."""
        info = self.class_info[class_id]
        if info["source"] != source:
            raise ValueError(f"class {class_id} belongs to source {info['source']!r}, not {source!r}")
        return info["id"]

    @property
    def image_ids(self) -> np.ndarray:
        """Internal image indices ``0 .. num_images - 1``."""
        return self._image_ids

    def source_image_link(self, image_id: int):
        """Path or URL of the image file."""
        return self.image_info[image_id]["path"]

    def load_image(self, image_id: int) -> np.ndarray:
        """The image as ``uint8 [H, W, 3]`` RGB: grayscale is expanded to three channels, alpha is dropped."""
        image = skimage.io.imread(self.image_info[image_id]["path"])
        if image.ndim != 3:
            image = skimage.color.gray2rgb(image)
        if image.shape[-1] == 4:
            image = image[..., :3]
        return image

    def load_mask(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Instance masks ``bool [H, W, N]`` and internal class ids ``int32 [N]``.

        This base class knows no annotations: it returns no instances (shapes ``[0, 0, 0]`` and ``[0]``) and logs a
        warning, as matterport does. Subclasses with annotations override it.
        """
        log.warning("You are using the default load_mask(), maybe you need to define your own one.")
        return np.empty([0, 0, 0], dtype=bool), np.empty([0], np.int32)

    def attribute_targets(self):
        """The attribute targets of the images, for a model with ``ATTRIBUTE_HEAD`` (not in matterport): a callable
        ``f(image_id) -> (vectors float32 [N, NUM_ATTRIBUTES], known bool [N])`` in :meth:`load_mask` order, with a
        ``num_attributes`` attribute; ``known`` False masks an instance's attribute loss.

        This base class knows no attributes. Subclasses that have them override it (the competition data's:
        :meth:`fashion_seg.data.imaterialist.FashionDataset.attribute_targets`).
        """
        raise ConfigError(f"{type(self).__name__} gives no attribute targets: ATTRIBUTE_HEAD needs a dataset that "
                          "overrides attribute_targets() (as FashionDataset does) or the attributes= argument")
