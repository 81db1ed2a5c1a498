"""The weights a training run starts from: a resumed run's checkpoint, or COCO / ImageNet / a file for a new run,
loaded by name without the class-specific layers that were trained for another number of classes or attributes."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import WeightsError
from .runs import ResumePoint

log = logging.getLogger(__name__)


def starting_weights_path(weights: str, point: ResumePoint | None, config) -> Path | None:
    """The file of starting weights of a new run (``--weights``: coco, imagenet, none, last or a path), found (and
    for COCO downloaded) before anything is built; None for random weights and for a resumed run."""
    if point is not None or weights in ("none", "last"):
        return None
    if weights == "coco":
        from ..mrcnn.weights import coco_weights_path

        return coco_weights_path()
    if weights == "imagenet":
        from ..mrcnn.imagenet import imagenet_weights_path

        return imagenet_weights_path(config.BACKBONE)
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"--weights {weights}: no such file (give coco, imagenet, last, none or the path "
                           "of an .h5 weights file)")
    return path


def load_run_weights(model, point: ResumePoint | None, starting: Path | None, source: str) -> None:
    """Load a resumed run's checkpoint (every layer must be in it), or the starting weights ``starting`` of a new
    run by name, without the class-specific layers that do not fit (``source``: what ``--weights`` said)."""
    from ..mrcnn import weights as weight_io

    if point is not None:
        report = weight_io.load_weights(model.keras_model, point.path, by_name=True)
        if report.missing_in_file:
            raise WeightsError(f"{point.path} lacks {len(report.missing_in_file)} layers of this model (e.g. "
                               f"{report.missing_in_file[0]}): its config.json does not match it")
        log.info("resuming from %s", point.describe())
        return
    if starting is None:
        log.info("starting from random weights (--weights none)")
        return
    exclude = class_specific_mismatches(model.keras_model, starting)
    report = weight_io.load_weights(model.keras_model, starting, by_name=True, exclude=exclude)
    log.info("starting weights (%s): %s", source, report.summary())


def class_specific_mismatches(keras_model, path: Path) -> list[str]:
    """The class-specific layers (:data:`fashion_seg.mrcnn.weights.CLASS_SPECIFIC_LAYERS`) whose shapes in the
    weights file ``path`` differ from the model's: a file trained for another number of classes (COCO's 81). They
    are excluded from loading (and so start from scratch), which the log says. So is an attribute head
    (``mrcnn_attr_logits``) trained for another number of attributes (a 2019 file in a 2020 run)."""
    from ..mrcnn import weights as weight_io

    model_shapes = {entry.name: [tuple(v.shape) for v in entry.variables]
                    for entry in weight_io.weight_layers(keras_model)}
    with weight_io.WeightFile(path) as weights:
        present = [name for name in weight_io.CLASS_SPECIFIC_LAYERS if name in weights.weight_names]
        different = [name for name in present if [tuple(s) for s in weights.shapes(name)] != model_shapes.get(name)]
        classes = weights.shapes("mrcnn_class_logits")[-1][-1] if "mrcnn_class_logits" in present else None
        attributes = "mrcnn_attr_logits"
        other_attributes = (attributes in weights.weight_names and attributes in model_shapes
                            and [tuple(s) for s in weights.shapes(attributes)] != model_shapes[attributes])
        file_attributes = weights.shapes(attributes)[-1][-1] if other_attributes else None
    if other_attributes:
        log.info("%s was trained for %d attributes, this model has %d: mrcnn_attr_logits starts from scratch", path,
                 file_attributes, model_shapes[attributes][-1][-1])
    if different:
        ours = model_shapes["mrcnn_class_logits"][-1][-1]
        log.info("%s was trained for %s classes, this model has %d: the class-specific layers %s start from "
                 "scratch (matterport's exclude list)", path, classes if classes is not None else "another number of",
                 ours, ", ".join(different))
    return different + ([attributes] if other_attributes else [])
