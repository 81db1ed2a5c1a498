"""The five Mask R-CNN losses, the *added* attribute loss and matterport's L2 weight decay, in ``keras.ops``
(TensorFlow and JAX).

Each loss is a mean over the whole batch of the terms that exist (zero when none exist), computed in float32 whatever
the model's dtype policy. Where matterport is wrong, we differ, and say so:

- ``mrcnn_class_loss``: matterport averages over all ``TRAIN_ROIS_PER_IMAGE`` rows *including zero padding* (whose
  target is background, so an image with few proposals is pushed towards "background" on padding), and takes the
  active classes from the *first* image of the batch for every image. We count only real ROIs (``roi_valid``) and use
  each image's own active classes.
- ``rpn_bbox_loss``: matterport packs the positives of each image with a per-image Python loop; we pair each positive
  anchor with its target row by its rank among the image's positives (the same pairing, whole-batch).
- Smooth-L1 and the mask BCE are averaged over elements (4 per box, 28x28 per mask) exactly as matterport's
  ``K.mean`` does, so loss magnitudes are comparable with matterport's logs.

Every loss is a ratio ``sum / max(count, 1)``. The ``*_terms`` functions return the two parts as a :class:`LossTerms`,
so a data-parallel trainer can add up the counts of all replicas before dividing: each replica's share
``sum_r / total_count`` then adds up to exactly the loss of the whole batch on one device.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
from keras import ops

LOSS_NAMES = ("rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss", "mrcnn_mask_loss")
ATTRIBUTE_LOSS_NAME = "mrcnn_attr_loss"


def loss_names(config) -> tuple[str, ...]:
    """The losses a model of ``config`` trains with: matterport's five, then ``mrcnn_attr_loss`` with
    ``ATTRIBUTE_HEAD``."""
    return LOSS_NAMES + ((ATTRIBUTE_LOSS_NAME,) if config.ATTRIBUTE_HEAD else ())


def loss_weights(config) -> dict[str, float]:
    """The weight of each of :func:`loss_names`: ``LOSS_WEIGHTS``, and ``ATTRIBUTE_LOSS_WEIGHT`` for the attribute
    loss."""
    weights = {name: float(config.LOSS_WEIGHTS[name]) for name in LOSS_NAMES}
    if config.ATTRIBUTE_HEAD:
        weights[ATTRIBUTE_LOSS_NAME] = float(config.ATTRIBUTE_LOSS_WEIGHT)
    return weights


def smooth_l1(y_true, y_pred):
    """Elementwise smooth-L1 (Huber with delta 1): 0.5 d^2 where |d| < 1, else |d| - 0.5."""
    diff = ops.abs(y_true - y_pred)
    return ops.where(diff < 1.0, 0.5 * diff * diff, diff - 0.5)


class LossTerms(NamedTuple):
    """A loss as ``total / max(count, 1)``: ``total`` float32 scalar (differentiable), ``count`` float32 scalar
    (how many terms were added up; no gradient flows through it)."""

    total: object
    count: object

    def value(self):
        """The loss: the mean of the terms, 0 when there are none."""
        return self.total / ops.maximum(self.count, 1.0)


def _masked_terms(values, weights) -> LossTerms:
    """``sum(values * weights)`` over ``sum(weights)``."""
    return LossTerms(ops.sum(values * weights), ops.stop_gradient(ops.sum(weights)))


def rpn_class_loss_terms(rpn_match, rpn_class_logits) -> LossTerms:
    """The parts of :func:`rpn_class_loss`."""
    rpn_match = ops.squeeze(ops.cast(rpn_match, "int32"), -1)
    logits = ops.cast(rpn_class_logits, "float32")
    target = ops.cast(ops.equal(rpn_match, 1), "int32")
    sampled = ops.cast(ops.not_equal(rpn_match, 0), "float32")
    cross_entropy = keras.losses.sparse_categorical_crossentropy(target, logits, from_logits=True)
    return _masked_terms(cross_entropy, sampled)


def rpn_class_loss(rpn_match, rpn_class_logits):
    """Anchor objectness cross-entropy over the sampled anchors (match +1 or -1; 0 is ignored).

    rpn_match: ``[batch, anchors, 1]`` int (+1 positive, -1 negative, 0 neutral).
    rpn_class_logits: ``[batch, anchors, 2]`` (background, foreground) logits.
    """
    return rpn_class_loss_terms(rpn_match, rpn_class_logits).value()


def rpn_bbox_loss_terms(target_bbox, rpn_match, rpn_bbox) -> LossTerms:
    """The parts of :func:`rpn_bbox_loss`."""
    positive = ops.equal(ops.squeeze(ops.cast(rpn_match, "int32"), -1), 1)
    positive_f = ops.cast(positive, "float32")
    rank = ops.cast(ops.cumsum(positive_f, axis=1) - 1.0, "int32")  # row of each positive in target_bbox
    rows = ops.shape(target_bbox)[1]
    rank = ops.clip(rank, 0, rows - 1)
    target = ops.take_along_axis(ops.cast(target_bbox, "float32"), rank[..., None], axis=1)
    # A positive beyond the packed rows has no target (cannot happen with matterport's sampling); ignore it.
    usable = positive_f * ops.cast(ops.cumsum(positive_f, axis=1) <= ops.cast(rows, "float32"), "float32")
    loss = ops.sum(smooth_l1(target, ops.cast(rpn_bbox, "float32")), axis=-1)
    return LossTerms(ops.sum(loss * usable), ops.stop_gradient(4.0 * ops.sum(usable)))


def rpn_bbox_loss(target_bbox, rpn_match, rpn_bbox):
    """Smooth-L1 between the predicted deltas of positive anchors and their packed targets.

    target_bbox: ``[batch, RPN_TRAIN_ANCHORS_PER_IMAGE, 4]``: the targets of an image's positive anchors, in anchor
    order, in its first rows. rpn_match: ``[batch, anchors, 1]``. rpn_bbox: ``[batch, anchors, 4]`` predicted deltas.
    """
    return rpn_bbox_loss_terms(target_bbox, rpn_match, rpn_bbox).value()


def mrcnn_class_loss_terms(target_class_ids, pred_class_logits, active_class_ids, roi_valid) -> LossTerms:
    """The parts of :func:`mrcnn_class_loss`."""
    target = ops.cast(target_class_ids, "int32")
    logits = ops.cast(pred_class_logits, "float32")
    predicted = ops.argmax(logits, axis=-1)
    active = ops.cast(active_class_ids, "float32")
    predicted_active = ops.take_along_axis(active, ops.cast(predicted, "int32"), axis=1)
    weights = predicted_active * ops.cast(roi_valid, "float32")
    cross_entropy = keras.losses.sparse_categorical_crossentropy(target, logits, from_logits=True)
    return _masked_terms(cross_entropy, weights)


def mrcnn_class_loss(target_class_ids, pred_class_logits, active_class_ids, roi_valid):
    """Classifier cross-entropy over the real ROIs of each image.

    target_class_ids: ``[batch, rois]`` int (0 = background). pred_class_logits: ``[batch, rois, classes]``.
    active_class_ids: ``[batch, classes]`` 1 for the classes of the image's dataset. roi_valid: ``[batch, rois]``
    1 for real ROIs, 0 for zero padding. A ROI whose *predicted* class is not active for its image is not counted
    (matterport's rule, for training on several datasets with different class sets).
    """
    return mrcnn_class_loss_terms(target_class_ids, pred_class_logits, active_class_ids, roi_valid).value()


def mrcnn_bbox_loss_terms(target_bbox, target_class_ids, pred_bbox) -> LossTerms:
    """The parts of :func:`mrcnn_bbox_loss`."""
    class_ids = ops.cast(target_class_ids, "int32")
    positive = ops.cast(class_ids > 0, "float32")
    predicted = ops.take_along_axis(ops.cast(pred_bbox, "float32"), class_ids[..., None, None], axis=2)[:, :, 0]
    loss = ops.sum(smooth_l1(ops.cast(target_bbox, "float32"), predicted), axis=-1)
    return LossTerms(ops.sum(loss * positive), ops.stop_gradient(4.0 * ops.sum(positive)))


def mrcnn_bbox_loss(target_bbox, target_class_ids, pred_bbox):
    """Smooth-L1 of the deltas predicted for each positive ROI's own class.

    target_bbox: ``[batch, rois, 4]``; target_class_ids: ``[batch, rois]``; pred_bbox: ``[batch, rois, classes, 4]``.
    """
    return mrcnn_bbox_loss_terms(target_bbox, target_class_ids, pred_bbox).value()


def mrcnn_mask_loss_terms(target_masks, target_class_ids, pred_masks) -> LossTerms:
    """The parts of :func:`mrcnn_mask_loss`."""
    class_ids = ops.cast(target_class_ids, "int32")
    positive = ops.cast(class_ids > 0, "float32")
    predicted = ops.take_along_axis(ops.cast(pred_masks, "float32"), class_ids[:, :, None, None, None], axis=4)
    predicted = predicted[..., 0]
    bce = keras.losses.binary_crossentropy(ops.cast(target_masks, "float32")[..., None], predicted[..., None])
    per_roi = ops.sum(bce, axis=(2, 3))
    pixels = ops.cast(ops.shape(target_masks)[2] * ops.shape(target_masks)[3], "float32")
    return LossTerms(ops.sum(per_roi * positive), ops.stop_gradient(pixels * ops.sum(positive)))


def mrcnn_mask_loss(target_masks, target_class_ids, pred_masks):
    """Binary cross-entropy of each positive ROI's mask in its own class channel.

    target_masks: ``[batch, rois, height, width]`` in {0, 1}; target_class_ids: ``[batch, rois]``;
    pred_masks: ``[batch, rois, height, width, classes]`` sigmoid probabilities.
    """
    return mrcnn_mask_loss_terms(target_masks, target_class_ids, pred_masks).value()


def mrcnn_attr_loss_terms(target_attributes, target_attributes_known, pred_attr_logits) -> LossTerms:
    """The parts of :func:`mrcnn_attr_loss`."""
    logits = ops.cast(pred_attr_logits, "float32")
    target = ops.cast(target_attributes, "float32")
    known = ops.cast(target_attributes_known, "float32")
    # max(x, 0) - x z + log(1 + exp(-|x|)): the binary cross-entropy of a logit, stable for large |x|.
    bce = ops.maximum(logits, 0.0) - logits * target + ops.log1p(ops.exp(-ops.abs(logits)))
    per_roi = ops.sum(bce, axis=-1)
    attributes = ops.cast(ops.shape(target_attributes)[-1], "float32")
    return LossTerms(ops.sum(per_roi * known), ops.stop_gradient(attributes * ops.sum(known)))


def mrcnn_attr_loss(target_attributes, target_attributes_known, pred_attr_logits):
    """Binary cross-entropy of the attribute logits, averaged over the attributes of the positive ROIs whose GT has a
    known attribute vector (:mod:`fashion_seg.data.attributes`); 0 when there are none.

    target_attributes: ``[batch, rois, A]`` in {0, 1}; target_attributes_known: ``[batch, rois]`` 1 for positive
    ROIs with a known vector (0 for negatives, padding and unknown vectors); pred_attr_logits: ``[batch, rois, A]``.
    """
    return mrcnn_attr_loss_terms(target_attributes, target_attributes_known, pred_attr_logits).value()


def weight_decay_loss(weights, weight_decay: float):
    """matterport's L2 term: ``weight_decay * mean(w^2)`` summed over the given weights.

    Pass the trainable weights; BatchNorm gamma/beta are excluded (by name), as matterport excludes them.
    """
    terms = [ops.mean(ops.square(ops.cast(w, "float32"))) for w in weights
             if not any(part in w.path for part in ("gamma", "beta"))]
    if not terms:
        return ops.convert_to_tensor(0.0)
    return weight_decay * ops.sum(ops.stack(terms))
