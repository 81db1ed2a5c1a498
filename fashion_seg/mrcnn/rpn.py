"""Region Proposal Network head: one small conv net (``rpn_model``) shared by all pyramid levels.

As in matterport, ``rpn_model`` is a nested Keras ``Model`` (its three convs ``rpn_conv_shared``, ``rpn_class_raw`` and
``rpn_bbox_pred`` are stored under one ``rpn_model`` group in weight files). It is applied to P2..P6 and the per-level
outputs are concatenated in level order, which is the order of :func:`~fashion_seg.mrcnn.anchors.get_anchors`:
for each level, positions row-major, then the anchor ratios.
"""

from __future__ import annotations

import keras
from keras import layers

# RPN scores and deltas are produced and concatenated in float32 even under a mixed-precision policy: they are
# compared against each other in top-k and NMS, where bfloat16's 8-bit mantissa would create thousands of ties.
OUTPUT_DTYPE = "float32"


def build_rpn_model(anchor_stride: int, anchors_per_location: int, depth: int, conv_filters: int = 512
                    ) -> keras.Model:
    """The shared RPN model: ``[batch, h, w, depth]`` feature map -> per-anchor outputs of that level.

    Outputs: ``rpn_class_logits`` ``[batch, h*w*anchors_per_location, 2]`` (background, foreground), ``rpn_probs``
    (softmax of the logits, same shape) and ``rpn_bbox`` ``[batch, h*w*anchors_per_location, 4]`` deltas
    ``(dy, dx, log(dh), log(dw))`` before scaling by ``RPN_BBOX_STD_DEV``.
    """
    feature_map = keras.Input(shape=(None, None, depth), name="input_rpn_feature_map")
    shared = layers.Conv2D(conv_filters, 3, padding="same", activation="relu", strides=anchor_stride,
                           name="rpn_conv_shared")(feature_map)
    x = layers.Conv2D(2 * anchors_per_location, 1, name="rpn_class_raw", dtype=OUTPUT_DTYPE)(shared)
    class_logits = layers.Reshape((-1, 2), dtype=OUTPUT_DTYPE)(x)
    probs = layers.Activation("softmax", name="rpn_class_xxx", dtype=OUTPUT_DTYPE)(class_logits)
    x = layers.Conv2D(4 * anchors_per_location, 1, name="rpn_bbox_pred", dtype=OUTPUT_DTYPE)(shared)
    bbox = layers.Reshape((-1, 4), dtype=OUTPUT_DTYPE)(x)
    return keras.Model(feature_map, [class_logits, probs, bbox], name="rpn_model")


def build_config_rpn_model(config) -> keras.Model:
    """:func:`build_rpn_model` with the config's anchor layout and widths."""
    return build_rpn_model(config.RPN_ANCHOR_STRIDE, len(config.RPN_ANCHOR_RATIOS), config.TOP_DOWN_PYRAMID_SIZE,
                           config.RPN_CONV_FILTERS)


def rpn_graph(rpn_model: keras.Model, feature_maps: list) -> tuple:
    """Apply the shared ``rpn_model`` to every level and concatenate along the anchor axis.

    Returns ``(rpn_class_logits, rpn_class, rpn_bbox)``: ``[batch, anchors, 2]``, ``[batch, anchors, 2]``,
    ``[batch, anchors, 4]``, in anchor order (levels P2..P6). The layers carry matterport's names.
    """
    per_level = [rpn_model(feature_map) for feature_map in feature_maps]
    names = ("rpn_class_logits", "rpn_class", "rpn_bbox")
    return tuple(
        layers.Concatenate(axis=1, name=name, dtype=OUTPUT_DTYPE)([outputs[index] for outputs in per_level])
        for index, name in enumerate(names)
    )
