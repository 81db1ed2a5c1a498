"""Region proposals: matterport's ProposalLayer in ``keras.ops`` (whole batch, static shapes, jit-safe)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .box_ops import apply_box_deltas, clip_boxes
from .nms import non_max_suppression_padded


def generate_proposals(rpn_probs, rpn_deltas, anchors, proposal_count, nms_threshold, pre_nms_limit, bbox_std_dev):
    """Refine the best-scoring anchors by their RPN deltas and thin them out by NMS, as matterport does.

    1. Take the ``min(pre_nms_limit, num_anchors)`` anchors with the highest foreground score (ties: lower anchor
       index first, as ``top_k``).
    2. Apply their deltas times ``bbox_std_dev`` and clip the boxes to ``[0, 1]`` (the whole molded image, padding
       included, as matterport).
    3. Greedy NMS at ``nms_threshold``; keep up to ``proposal_count`` boxes in selection order (descending score).

    Args:
        rpn_probs: ``[batch, num_anchors, 2]`` (background, foreground) probabilities.
        rpn_deltas: ``[batch, num_anchors, 4]`` ``(dy, dx, log(dh), log(dw))``, before the std dev scaling.
        anchors: ``[batch, num_anchors, 4]`` normalised ``(y1, x1, y2, x2)``. ``num_anchors`` should be static; if it
            is not, at least ``pre_nms_limit`` anchors are needed at run time.
        proposal_count, pre_nms_limit: Python ints. nms_threshold: float. bbox_std_dev: 4 floats.

    Returns:
        ``(proposals, anchor_indices, count)``: proposals float32 ``[batch, proposal_count, 4]`` normalised, rows after
        the ``count[b]`` real ones are zero; anchor_indices int32 ``[batch, proposal_count]``, the anchor each
        proposal was refined from (``-1`` on padding rows); count int32 ``[batch]``.
    """
    scores = ops.cast(rpn_probs, "float32")[:, :, 1]
    std_dev = ops.convert_to_tensor(np.reshape(np.asarray(bbox_std_dev, dtype=np.float32), [1, 1, 4]))
    deltas = ops.cast(rpn_deltas, "float32") * std_dev
    num_anchors = scores.shape[1]
    top_count = int(pre_nms_limit) if num_anchors is None else min(int(pre_nms_limit), num_anchors)
    top_scores, top_anchors = ops.top_k(scores, k=top_count, sorted=True)
    boxes = apply_box_deltas(
        ops.take_along_axis(ops.cast(anchors, "float32"), top_anchors[..., None], axis=1),
        ops.take_along_axis(deltas, top_anchors[..., None], axis=1),
    )
    boxes = clip_boxes(boxes, ops.convert_to_tensor([0.0, 0.0, 1.0, 1.0], dtype="float32"))
    keep, count = non_max_suppression_padded(boxes, top_scores, proposal_count, nms_threshold)
    real = ops.arange(proposal_count, dtype="int32")[None, :] < count[:, None]
    proposals = ops.where(real[..., None], ops.take_along_axis(boxes, keep[..., None], axis=1), 0.0)
    anchor_indices = ops.where(real, ops.take_along_axis(top_anchors, keep, axis=1), -1)
    return proposals, anchor_indices, count


class ProposalLayer(keras.layers.Layer):
    """matterport's ProposalLayer: RPN outputs -> up to ``proposal_count`` proposals per image.

    Inputs: ``[rpn_probs [batch, num_anchors, 2], rpn_deltas [batch, num_anchors, 4], anchors [batch, num_anchors, 4]]``
    (anchors normalised ``(y1, x1, y2, x2)``).
    Output: proposals ``[batch, proposal_count, 4]`` float32, normalised ``(y1, x1, y2, x2)``, in selection order,
    zero-padded. With ``return_anchor_indices=True`` a second output ``[batch, proposal_count]`` int32 gives each
    proposal's anchor index (``-1`` on padding). See :func:`generate_proposals` for the steps.

    Built as matterport's ``ProposalLayer(proposal_count, nms_threshold, config)``: ``PRE_NMS_LIMIT`` and
    ``RPN_BBOX_STD_DEV`` come from ``config``, or from the keyword arguments of the same meaning. Computes in
    float32 whatever the dtype policy of the model around it.
    """

    def __init__(self, proposal_count, nms_threshold, config=None, *, pre_nms_limit=None, bbox_std_dev=None,
                 return_anchor_indices=False, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.proposal_count = int(proposal_count)
        self.nms_threshold = float(nms_threshold)
        self.pre_nms_limit = int(config.PRE_NMS_LIMIT if pre_nms_limit is None else pre_nms_limit)
        std_dev = config.RPN_BBOX_STD_DEV if bbox_std_dev is None else bbox_std_dev
        self.bbox_std_dev = [float(value) for value in np.asarray(std_dev).reshape(4)]
        self.return_anchor_indices = bool(return_anchor_indices)

    def call(self, inputs):
        rpn_probs, rpn_deltas, anchors = inputs
        proposals, anchor_indices, _ = generate_proposals(
            rpn_probs, rpn_deltas, anchors, self.proposal_count, self.nms_threshold, self.pre_nms_limit,
            self.bbox_std_dev,
        )
        return (proposals, anchor_indices) if self.return_anchor_indices else proposals

    def compute_output_shape(self, input_shape):
        batch = input_shape[0][0]
        proposals = (batch, self.proposal_count, 4)
        return (proposals, (batch, self.proposal_count)) if self.return_anchor_indices else proposals

    def compute_output_spec(self, inputs):
        batch = inputs[0].shape[0]
        proposals = keras.KerasTensor((batch, self.proposal_count, 4), dtype="float32")
        if self.return_anchor_indices:
            return proposals, keras.KerasTensor((batch, self.proposal_count), dtype="int32")
        return proposals

    def get_config(self):
        return {
            **super().get_config(),
            "proposal_count": self.proposal_count,
            "nms_threshold": self.nms_threshold,
            "pre_nms_limit": self.pre_nms_limit,
            "bbox_std_dev": self.bbox_std_dev,
            "return_anchor_indices": self.return_anchor_indices,
        }
