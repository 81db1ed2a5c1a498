"""Training targets of the ROI heads: matterport's DetectionTargetLayer in ``keras.ops`` (whole batch, static shapes).

For each image, the RPN proposals are split into positives and negatives against the ground truth, sampled, and given
the class, box and mask targets the heads learn from. matterport's rules:

- zero rows of the proposals and of the GT boxes are padding and take no part;
- GTs with a negative class id are crowds: they are never matched, and a proposal whose IoU with any crowd is
  >= 0.001 is not used as a negative;
- a proposal is positive when its best IoU with a (non-crowd) GT is >= 0.5, negative when it is below 0.5;
- at most ``int(TRAIN_ROIS_PER_IMAGE * ROI_POSITIVE_RATIO)`` positives (66 of 200) are kept, a random subset, and
  ``int(P / ROI_POSITIVE_RATIO) - P`` negatives for the P positives kept (a random subset of the candidates);
- each positive is matched with the GT it overlaps most (the first of equals) and gets its class id, the box deltas
  ``box_refinement(roi, gt) / BBOX_STD_DEV`` and a ``MASK_SHAPE`` mask target: the GT mask (mini-mask when
  ``USE_MINI_MASK``) cropped to the ROI and resized by ``crop_and_resize``, then rounded to 0/1;
- positives first, then negatives, then zero rows up to ``TRAIN_ROIS_PER_IMAGE``.

*Added*, for the attribute head (``ATTRIBUTE_HEAD``): each positive also takes its matched GT's attribute vector
and whether that vector is known (:mod:`fashion_seg.data.attributes`); negatives and padding get zeros, not known.

Differences from matterport, deliberate:

- An image without positives gets ``TRAIN_ROIS_PER_IMAGE`` negatives (as many as it has candidates). matterport's
  ``int(0 / ratio) - 0 = 0`` gave it none, so images without instances (or whose proposals all miss) taught the
  classifier nothing, and its class loss averaged over padding only.
- A ``roi_valid`` output marks the real ROIs (positives and negatives), for the class loss
  (:func:`fashion_seg.mrcnn.losses.mrcnn_class_loss`) to ignore the padding rows.
- Mask targets exist only for the first ``int(TRAIN_ROIS_PER_IMAGE * ROI_POSITIVE_RATIO)`` rows, the only rows that
  can hold positives, so the mask head (the costliest part of a training step) runs on those rows only; matterport
  ran it on every row and masked the loss.
- Sampling is seeded: the random order comes from ``keras.random`` with the layer's ``SeedGenerator`` (stateless
  under JAX), so a run with a fixed seed is reproducible.
- Proposals are constants for the heads (``stop_gradient``): no gradient flows from the head losses into the RPN
  through the sampled boxes or their targets, as in the Faster R-CNN papers.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .box_ops import box_iou, box_refinement
from .roi_align import crop_and_resize

POSITIVE_IOU = 0.5  # a proposal whose best IoU with a GT is at least this is a positive; below it, a negative
CROWD_IOU = 0.001  # a proposal touching a crowd at least this much is never a negative


def positive_capacity(train_rois_per_image: int, positive_ratio: float) -> int:
    """The most positives one image keeps, matterport's ``int(TRAIN_ROIS_PER_IMAGE * ROI_POSITIVE_RATIO)``; they
    occupy the first rows of the targets."""
    return int(train_rois_per_image * positive_ratio)


def _any_nonzero(rows):
    return ops.sum(ops.abs(rows), axis=-1) > 0.0


def _gather_rows(values, indices):
    """``values[b, indices[b, j]]`` for ``[batch, n, ...]`` values and ``[batch, k]`` int indices."""
    index = ops.reshape(indices, ops.shape(indices) + (1,) * (len(values.shape) - 2))
    return ops.take_along_axis(values, index, axis=1)


def detection_targets(proposals, gt_class_ids, gt_boxes, gt_masks, random_keys, *, train_rois_per_image: int,
                      positive_ratio: float, bbox_std_dev, mask_shape, use_mini_mask: bool, gt_attributes=None,
                      gt_attributes_known=None):
    """Sample ROIs from ``proposals`` and compute their targets (see the module docstring for the rules).

    Args:
        proposals: ``[batch, N, (y1, x1, y2, x2)]`` normalised, zero rows are padding.
        gt_class_ids: ``[batch, G]`` int; 0 is padding, negative ids are crowds.
        gt_boxes: ``[batch, G, (y1, x1, y2, x2)]`` normalised (the GT boxes of the molded image).
        gt_masks: ``[batch, h, w, G]`` bool or 0/1: mini-masks (each GT's box content resized to ``h x w``) when
            ``use_mini_mask``, else full masks of the molded image.
        random_keys: ``[batch, N]`` float in [0, 1): the sampling order. Candidates are taken by ascending key, so
            ``arange(N)`` keys take them in proposal order (what the tests compare against).
        train_rois_per_image, positive_ratio, bbox_std_dev, mask_shape: matterport's config values.
        gt_attributes: optional ``[batch, G, A]`` 0/1 attribute vectors, with ``gt_attributes_known`` ``[batch, G]``
            (bool or 0/1): the attribute targets.

    Returns:
        ``(rois, target_class_ids, target_bbox, target_mask, roi_valid)``:
        rois float32 ``[batch, T, 4]`` normalised (positives, then negatives, then zero rows; T =
        ``train_rois_per_image``); target_class_ids int32 ``[batch, T]`` (0 for negatives and padding);
        target_bbox float32 ``[batch, T, (dy, dx, log(dh), log(dw))]`` divided by ``bbox_std_dev`` (zero except
        for positives); target_mask float32 ``[batch, C, mask_h, mask_w]`` in {0, 1} for the first C =
        :func:`positive_capacity` rows (zero except for positives); roi_valid float32 ``[batch, T]``, 1 for
        positives and negatives. All outputs are constants for autodiff. With ``gt_attributes``, two more:
        target_attributes float32 ``[batch, T, A]`` (the matched GT's vector for positives, else zero) and
        target_attributes_known float32 ``[batch, T]`` (1 for positives whose GT's vector is known).
    """
    proposals = ops.stop_gradient(ops.cast(proposals, "float32"))
    gt_boxes = ops.stop_gradient(ops.cast(gt_boxes, "float32"))
    gt_class_ids = ops.cast(gt_class_ids, "int32")
    num_proposals = proposals.shape[1]
    rois_per_image = int(train_rois_per_image)
    capacity = positive_capacity(rois_per_image, positive_ratio)

    proposal_real = _any_nonzero(proposals)  # [B, N]
    gt_real = _any_nonzero(gt_boxes)  # [B, G]
    instance = ops.logical_and(gt_real, gt_class_ids > 0)
    crowd = ops.logical_and(gt_real, gt_class_ids < 0)

    overlaps = box_iou(proposals, gt_boxes)  # [B, N, G]
    instance_overlaps = ops.where(instance[:, None, :], overlaps, -1.0)
    best_iou = ops.max(instance_overlaps, axis=2)  # -1 when the image has no instance
    best_gt = ops.cast(ops.argmax(instance_overlaps, axis=2), "int32")  # first of equals
    crowd_iou = ops.max(ops.where(crowd[:, None, :], overlaps, 0.0), axis=2)

    positive = ops.logical_and(proposal_real, best_iou >= POSITIVE_IOU)
    negative = ops.logical_and(ops.logical_and(proposal_real, best_iou < POSITIVE_IOU), crowd_iou < CROWD_IOU)

    # Candidates in random order: sorting keys pushed past 1 for non-candidates puts the candidates first.
    keys = ops.cast(random_keys, "float32")
    positive_order = ops.cast(ops.argsort(ops.where(positive, keys, 2.0), axis=1), "int32")
    negative_order = ops.cast(ops.argsort(ops.where(negative, keys, 2.0), axis=1), "int32")
    positive_count = ops.minimum(ops.sum(ops.cast(positive, "int32"), axis=1), capacity)  # [B]
    # matterport's float32 arithmetic for the negatives that go with P positives: int(P * (1 / ratio)) - P.
    inverse_ratio = np.float32(1.0 / positive_ratio)
    paired = ops.cast(ops.cast(positive_count, "float32") * inverse_ratio, "int32") - positive_count
    wanted = ops.where(positive_count > 0, paired, rois_per_image)
    negative_count = ops.minimum(ops.minimum(wanted, ops.sum(ops.cast(negative, "int32"), axis=1)),
                                 rois_per_image - positive_count)

    slot = ops.arange(rois_per_image, dtype="int32")[None, :]  # [1, T]
    is_positive = slot < positive_count[:, None]  # [B, T]
    is_negative = ops.logical_and(ops.logical_not(is_positive), slot < (positive_count + negative_count)[:, None])
    valid = ops.logical_or(is_positive, is_negative)
    last = num_proposals - 1
    source = ops.where(
        is_positive,
        _gather_rows(positive_order, ops.clip(ops.broadcast_to(slot, ops.shape(is_positive)), 0, last)),
        _gather_rows(negative_order, ops.clip(slot - positive_count[:, None], 0, last)),
    )  # [B, T] proposal index of each slot

    rois = ops.where(valid[..., None], _gather_rows(proposals, source), 0.0)
    assigned = _gather_rows(best_gt, source)  # [B, T] GT index of each slot (meaningful for positives)
    assigned_boxes = _gather_rows(gt_boxes, assigned)  # [B, T, 4]
    target_class_ids = ops.where(is_positive, _gather_rows(gt_class_ids, assigned), 0)

    # Negatives and padding get a unit box on both sides, so no log(0) is ever computed.
    unit = ops.convert_to_tensor([0.0, 0.0, 1.0, 1.0], dtype="float32")
    deltas = box_refinement(ops.where(is_positive[..., None], rois, unit),
                            ops.where(is_positive[..., None], assigned_boxes, unit))
    std_dev = ops.convert_to_tensor(np.asarray(bbox_std_dev, dtype=np.float32).reshape(4))
    target_bbox = ops.where(is_positive[..., None], deltas / std_dev, 0.0)

    target_mask = _mask_targets(rois[:, :capacity], assigned_boxes[:, :capacity], assigned[:, :capacity],
                                is_positive[:, :capacity], gt_masks, mask_shape, use_mini_mask)
    targets = (rois, target_class_ids, target_bbox, target_mask, ops.cast(valid, "float32"))
    if gt_attributes is None:
        return targets
    attributes = _gather_rows(ops.stop_gradient(ops.cast(gt_attributes, "float32")), assigned)
    known = ops.logical_and(is_positive, _gather_rows(ops.cast(gt_attributes_known, "bool"), assigned))
    return targets + (ops.where(is_positive[..., None], attributes, 0.0), ops.cast(known, "float32"))


def _mask_targets(rois, gt_boxes, gt_index, is_positive, gt_masks, mask_shape, use_mini_mask):
    """``[batch, C, mask_h, mask_w]`` 0/1 targets of ``[batch, C, 4]`` ROIs matched with GTs ``gt_index``."""
    batch, count = ops.shape(rois)[0], rois.shape[1]
    mask_shape = (int(mask_shape[0]), int(mask_shape[1]))
    masks = ops.stop_gradient(ops.cast(gt_masks, "float32"))  # [B, h, w, G]
    num_gt = masks.shape[3]
    if use_mini_mask:
        # A mini-mask holds its GT box's content: express the ROI in that box's frame.
        gt_height = gt_boxes[..., 2] - gt_boxes[..., 0]
        gt_width = gt_boxes[..., 3] - gt_boxes[..., 1]
        safe_height = ops.where(gt_height > 0, gt_height, 1.0)
        safe_width = ops.where(gt_width > 0, gt_width, 1.0)
        boxes = ops.stack([
            (rois[..., 0] - gt_boxes[..., 0]) / safe_height,
            (rois[..., 1] - gt_boxes[..., 1]) / safe_width,
            (rois[..., 2] - gt_boxes[..., 0]) / safe_height,
            (rois[..., 3] - gt_boxes[..., 1]) / safe_width,
        ], axis=-1)
        # One single-channel image per GT: [B * G, h, w, 1]; each ROI crops its own GT's mask.
        per_gt = ops.reshape(ops.transpose(masks, (0, 3, 1, 2)), (-1, masks.shape[1], masks.shape[2], 1))
        image_index = ops.arange(batch, dtype="int32")[:, None] * num_gt + gt_index
        crops = crop_and_resize(per_gt, ops.reshape(boxes, (-1, 4)), ops.reshape(image_index, (-1,)), mask_shape)
        crops = ops.reshape(crops, (batch, count) + mask_shape)
    else:
        # Full-image masks are large: crop every GT channel of the ROI's image and keep the matched one, instead of
        # transposing [B, H, W, G] into one image per GT.
        image_index = ops.broadcast_to(ops.arange(batch, dtype="int32")[:, None], (batch, count))
        crops = crop_and_resize(masks, ops.reshape(rois, (-1, 4)), ops.reshape(image_index, (-1,)), mask_shape)
        crops = ops.reshape(crops, (batch, count) + mask_shape + (num_gt,))
        crops = ops.take_along_axis(crops, gt_index[:, :, None, None, None], axis=4)[..., 0]
    return ops.where(is_positive[:, :, None, None], ops.round(crops), 0.0)


@keras.saving.register_keras_serializable(package="fashion_seg")
class DetectionTargetLayer(keras.layers.Layer):
    """matterport's DetectionTargetLayer (``proposal_targets``): see :func:`detection_targets`.

    Built as ``DetectionTargetLayer(config)`` (``TRAIN_ROIS_PER_IMAGE``, ``ROI_POSITIVE_RATIO``, ``BBOX_STD_DEV``,
    ``MASK_SHAPE``, ``USE_MINI_MASK``) or from the same values as keyword arguments. ``seed`` seeds the sampling;
    ``shuffle=False`` takes the candidates in proposal order (by descending RPN score) instead of at random, which
    makes the targets independent of how a batch is split across devices (used to compare data-parallel runs).

    Inputs: ``[proposals [batch, N, 4], gt_class_ids [batch, G], gt_boxes [batch, G, 4] normalised,
    gt_masks [batch, h, w, G]]``. Outputs: ``[rois, target_class_ids, target_bbox, target_mask, roi_valid]``.
    With ``attributes`` (default ``config.ATTRIBUTE_HEAD``) the inputs go on with ``gt_attributes [batch, G, A]`` and
    ``gt_attributes_known [batch, G]``, and the outputs with ``target_attributes [batch, T, A]`` and
    ``target_attributes_known [batch, T]``.
    Computes in float32 whatever the model's dtype policy.
    """

    def __init__(self, config=None, *, train_rois_per_image=None, positive_ratio=None, bbox_std_dev=None,
                 mask_shape=None, use_mini_mask=None, seed=None, shuffle=True, attributes=None, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)

        def setting(value, name):
            return getattr(config, name) if value is None else value

        self.train_rois_per_image = int(setting(train_rois_per_image, "TRAIN_ROIS_PER_IMAGE"))
        self.positive_ratio = float(setting(positive_ratio, "ROI_POSITIVE_RATIO"))
        self.bbox_std_dev = [float(v) for v in np.asarray(setting(bbox_std_dev, "BBOX_STD_DEV")).reshape(4)]
        self.mask_shape = [int(v) for v in setting(mask_shape, "MASK_SHAPE")]
        self.use_mini_mask = bool(setting(use_mini_mask, "USE_MINI_MASK"))
        self.attributes = bool(getattr(config, "ATTRIBUTE_HEAD", False) if attributes is None else attributes)
        self.seed = seed
        self.shuffle = bool(shuffle)
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def positive_capacity(self) -> int:
        return positive_capacity(self.train_rois_per_image, self.positive_ratio)

    def call(self, inputs):
        proposals, gt_class_ids, gt_boxes, gt_masks = inputs[:4]
        gt_attributes, gt_attributes_known = inputs[4:] if self.attributes else (None, None)
        if self.shuffle:
            keys = keras.random.uniform(ops.shape(proposals)[:2], seed=self.seed_generator)
        else:
            keys = ops.broadcast_to(ops.arange(proposals.shape[1], dtype="float32") / proposals.shape[1],
                                    ops.shape(proposals)[:2])
        return detection_targets(
            proposals, gt_class_ids, gt_boxes, gt_masks, keys, train_rois_per_image=self.train_rois_per_image,
            positive_ratio=self.positive_ratio, bbox_std_dev=self.bbox_std_dev, mask_shape=self.mask_shape,
            use_mini_mask=self.use_mini_mask, gt_attributes=gt_attributes, gt_attributes_known=gt_attributes_known,
        )

    def compute_output_spec(self, inputs):
        batch = inputs[0].shape[0]
        rois = self.train_rois_per_image
        specs = (
            keras.KerasTensor((batch, rois, 4), dtype="float32"),
            keras.KerasTensor((batch, rois), dtype="int32"),
            keras.KerasTensor((batch, rois, 4), dtype="float32"),
            keras.KerasTensor((batch, self.positive_capacity, *self.mask_shape), dtype="float32"),
            keras.KerasTensor((batch, rois), dtype="float32"),
        )
        if not self.attributes:
            return specs
        return specs + (keras.KerasTensor((batch, rois, inputs[4].shape[-1]), dtype="float32"),
                        keras.KerasTensor((batch, rois), dtype="float32"))

    def get_config(self):
        return {
            **super().get_config(),
            "train_rois_per_image": self.train_rois_per_image,
            "positive_ratio": self.positive_ratio,
            "bbox_std_dev": self.bbox_std_dev,
            "mask_shape": self.mask_shape,
            "use_mini_mask": self.use_mini_mask,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "attributes": self.attributes,
        }
