"""Feature Pyramid Network on top of the backbone, with matterport's layer names.

Top-down: ``P5 = fpn_c5p5(C5)``; ``P4 = fpn_p4add(fpn_p5upsampled(P5), fpn_c4p4(C4))`` and likewise down to P2 (1x1
lateral convs, nearest-neighbour x2 upsampling). Each merged map then goes through a 3x3 'same' conv (``fpn_p2`` ..
``fpn_p5``); ``P6 = fpn_p6(P5)`` is a 1x1 max-pool with stride 2 (``P5[:, ::2, ::2]``), used only by the RPN.
All maps have ``TOP_DOWN_PYRAMID_SIZE`` channels and strides 4, 8, 16, 32, 64.
"""

from __future__ import annotations

from keras import layers

from .backbone import backbone_feature_maps


def fpn_graph(c2, c3, c4, c5, pyramid_size: int) -> list:
    """``[P2, P3, P4, P5, P6]`` from the backbone's C2..C5."""
    p5 = layers.Conv2D(pyramid_size, 1, name="fpn_c5p5")(c5)
    p4 = layers.Add(name="fpn_p4add")([
        layers.UpSampling2D(2, name="fpn_p5upsampled")(p5),
        layers.Conv2D(pyramid_size, 1, name="fpn_c4p4")(c4),
    ])
    p3 = layers.Add(name="fpn_p3add")([
        layers.UpSampling2D(2, name="fpn_p4upsampled")(p4),
        layers.Conv2D(pyramid_size, 1, name="fpn_c3p3")(c3),
    ])
    p2 = layers.Add(name="fpn_p2add")([
        layers.UpSampling2D(2, name="fpn_p3upsampled")(p3),
        layers.Conv2D(pyramid_size, 1, name="fpn_c2p2")(c2),
    ])
    p2 = layers.Conv2D(pyramid_size, 3, padding="same", name="fpn_p2")(p2)
    p3 = layers.Conv2D(pyramid_size, 3, padding="same", name="fpn_p3")(p3)
    p4 = layers.Conv2D(pyramid_size, 3, padding="same", name="fpn_p4")(p4)
    p5 = layers.Conv2D(pyramid_size, 3, padding="same", name="fpn_p5")(p5)
    p6 = layers.MaxPooling2D(pool_size=1, strides=2, name="fpn_p6")(p5)
    return [p2, p3, p4, p5, p6]


def build_backbone_and_fpn(input_image, config) -> tuple[list, list]:
    """Backbone + FPN on ``input_image`` ``[batch, H, W, 3]`` (H, W multiples of 64).

    Returns ``(rpn_feature_maps, mrcnn_feature_maps)``: ``[P2, P3, P4, P5, P6]`` for the RPN and ``[P2, P3, P4, P5]``
    for the ROI heads.
    """
    c2, c3, c4, c5 = backbone_feature_maps(input_image, config)
    pyramid = fpn_graph(c2, c3, c4, c5, config.TOP_DOWN_PYRAMID_SIZE)
    return pyramid, pyramid[:4]
