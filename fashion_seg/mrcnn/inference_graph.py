"""The inference network, assembled from the stage builders.

Inputs (matterport's): ``input_image`` ``[batch, H, W, 3]`` molded (float32, mean-subtracted, H and W multiples of
64), ``input_image_meta`` ``[batch, IMAGE_META_SIZE]``, ``input_anchors`` ``[batch, anchors, (y1, x1, y2, x2)]``
normalized. Three Keras models share one set of layers:

- ``model`` (``MaskRCNN.keras_model``): matterport's seven outputs ``mrcnn_detection`` ``[batch, DETECTION_MAX_INSTANCES,
  (y1, x1, y2, x2, class_id, score)]`` normalized, ``mrcnn_class``, ``mrcnn_bbox``, ``mrcnn_mask`` ``[batch,
  DETECTION_MAX_INSTANCES, 28, 28, NUM_CLASSES]``, ``ROI``, ``rpn_class``, ``rpn_bbox``.
- ``detect_model``: what prediction needs, ``mrcnn_detection`` and each detection's own-class mask
  ``[batch, DETECTION_MAX_INSTANCES, 28, 28]`` (the class channel is picked inside the graph).
- ``mask_model``: the mask head on given boxes, for test-time augmentation: inputs ``input_image``,
  ``input_image_meta``, ``input_boxes`` ``[batch, n, (y1, x1, y2, x2)]`` normalized and ``input_class_ids``
  ``[batch, n]`` -> masks ``[batch, n, 28, 28]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from .detection import DetectionLayer
from .fpn import build_backbone_and_fpn
from .heads import ClassifierHead, MaskHead, SelectClassMasks
from .proposal import ProposalLayer
from .rpn import build_config_rpn_model, rpn_graph

INFERENCE_OUTPUT_NAMES = ("mrcnn_detection", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask", "ROI", "rpn_class",
                          "rpn_bbox")


@dataclass
class InferenceGraph:
    """The three models, plus the pieces needed to build more on the same weights: the symbolic ``input_image``
    and ``input_image_meta``, the ROI heads' feature maps ``[P2..P5]`` and the head objects (call them on new ROI
    inputs, e.g. ``classifier(rois, input_image_meta, feature_maps)``)."""

    model: keras.Model
    detect_model: keras.Model
    mask_model: keras.Model
    input_image: object
    input_image_meta: object
    feature_maps: list
    classifier: ClassifierHead
    mask_head: MaskHead


def build_inference_graph(config) -> InferenceGraph:
    """Build the three inference models (see the module docstring) under the current dtype policy."""
    input_image = keras.Input(shape=(None, None, int(config.IMAGE_SHAPE[2])), name="input_image")
    input_image_meta = keras.Input(shape=(config.IMAGE_META_SIZE,), name="input_image_meta")
    input_anchors = keras.Input(shape=(None, 4), name="input_anchors")

    rpn_feature_maps, mrcnn_feature_maps = build_backbone_and_fpn(input_image, config)
    _, rpn_class, rpn_bbox = rpn_graph(build_config_rpn_model(config), rpn_feature_maps)
    rpn_rois = ProposalLayer(proposal_count=config.POST_NMS_ROIS_INFERENCE, nms_threshold=config.RPN_NMS_THRESHOLD,
                             config=config, name="ROI")([rpn_class, rpn_bbox, input_anchors])

    classifier = ClassifierHead(config, config.TRAIN_BN)
    _, mrcnn_class, mrcnn_bbox = classifier(rpn_rois, input_image_meta, mrcnn_feature_maps)
    detections = DetectionLayer(config, name="mrcnn_detection")([rpn_rois, mrcnn_class, mrcnn_bbox,
                                                                 input_image_meta])
    mask_head = MaskHead(config, config.TRAIN_BN)
    mrcnn_mask = mask_head(detections[..., :4], input_image_meta, mrcnn_feature_maps)

    inputs = [input_image, input_image_meta, input_anchors]
    model = keras.Model(inputs, [detections, mrcnn_class, mrcnn_bbox, mrcnn_mask, rpn_rois, rpn_class, rpn_bbox],
                        name="mask_rcnn")
    select = SelectClassMasks(name="mrcnn_mask_det_class")
    detect_model = keras.Model(inputs, [detections, select(mrcnn_mask, detections[..., 4])],
                               name="mask_rcnn_detect")

    input_boxes = keras.Input(shape=(None, 4), name="input_boxes")
    input_class_ids = keras.Input(shape=(None,), name="input_class_ids")
    box_masks = mask_head(input_boxes, input_image_meta, mrcnn_feature_maps)
    mask_model = keras.Model([input_image, input_image_meta, input_boxes, input_class_ids],
                             select(box_masks, input_class_ids), name="mask_rcnn_masks")
    return InferenceGraph(model, detect_model, mask_model, input_image, input_image_meta, mrcnn_feature_maps,
                          classifier, mask_head)
