"""The inference network, assembled from the stage builders.

Inputs (matterport's): ``input_image`` ``[batch, H, W, 3]`` molded (float32, mean-subtracted, H and W multiples of
64), ``input_image_meta`` ``[batch, IMAGE_META_SIZE]``, ``input_anchors`` ``[batch, anchors, (y1, x1, y2, x2)]``
normalized. These Keras models share one set of layers:

- ``model`` (``MaskRCNN.keras_model``): matterport's seven outputs ``mrcnn_detection``
  ``[batch, DETECTION_MAX_INSTANCES, (y1, x1, y2, x2, class_id, score)]`` normalized, ``mrcnn_class``,
  ``mrcnn_bbox``, ``mrcnn_mask`` ``[batch, DETECTION_MAX_INSTANCES, 28, 28, NUM_CLASSES]``, ``ROI``, ``rpn_class``,
  ``rpn_bbox``.
- ``mask_model``: the mask head on given boxes, for test-time augmentation: inputs ``input_image``,
  ``input_image_meta``, ``input_boxes`` ``[batch, n, (y1, x1, y2, x2)]`` normalized and ``input_class_ids``
  ``[batch, n]`` -> masks ``[batch, n, 28, 28]``.

And what prediction needs, in two halves, so that the mask head runs on the real detections only (its cost is per
box: on a CPU, 100 padded boxes cost about as much as a ResNet-50 at 512x512); masks come out for each box's own
class only (the class channel is picked inside the graph):

- ``features_model``: ``input_image``, ``input_image_meta``, ``input_anchors`` -> ``mrcnn_detection`` and the heads'
  feature maps P2..P5;
- ``mask_head_model``: ``input_image_meta``, ``input_boxes``, ``input_class_ids`` and P2..P5 -> masks
  ``[batch, n, 28, 28]``.

*Added*, with ``ATTRIBUTE_HEAD``: the attribute head runs on the classifier's shared features of every proposal,
and each detection takes the attribute probabilities of the proposal it came from (``mrcnn_attr_detections``
``[batch, DETECTION_MAX_INSTANCES, NUM_ATTRIBUTES]``, zero on padding rows); ``model`` has it as an eighth output
(``mrcnn_attributes``) and ``features_model`` as its last. Without it the models are exactly the above.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from .detection import DetectionLayer
from .fpn import build_backbone_and_fpn
from .heads import ClassifierHead, DetectionAttributes, MaskHead, SelectClassMasks
from .proposal import ProposalLayer
from .rpn import build_config_rpn_model, rpn_graph

INFERENCE_OUTPUT_NAMES = ("mrcnn_detection", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask", "ROI", "rpn_class",
                          "rpn_bbox")
ATTRIBUTE_OUTPUT_NAME = "mrcnn_attributes"


def inference_output_names(config) -> tuple[str, ...]:
    """The names of ``model``'s outputs under ``config`` (matterport's seven, then ``mrcnn_attributes`` with
    ``ATTRIBUTE_HEAD``)."""
    return INFERENCE_OUTPUT_NAMES + ((ATTRIBUTE_OUTPUT_NAME,) if config.ATTRIBUTE_HEAD else ())


@dataclass
class InferenceGraph:
    """The models, plus the pieces needed to build more on the same weights: the symbolic ``input_image``
    and ``input_image_meta``, the ROI heads' feature maps ``[P2..P5]`` and the head objects (call them on new ROI
    inputs, e.g. ``classifier(rois, input_image_meta, feature_maps)``)."""

    model: keras.Model
    mask_model: keras.Model
    features_model: keras.Model
    mask_head_model: keras.Model
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
    shared = classifier.features(rpn_rois, input_image_meta, mrcnn_feature_maps)
    _, mrcnn_class, mrcnn_bbox = classifier.classify(shared)
    detection_layer = DetectionLayer(config, return_roi_indices=bool(config.ATTRIBUTE_HEAD), name="mrcnn_detection")
    detected = detection_layer([rpn_rois, mrcnn_class, mrcnn_bbox, input_image_meta])
    attribute_outputs = []
    if config.ATTRIBUTE_HEAD:
        detections, roi_indices = detected
        roi_attributes = classifier.attribute_probs(classifier.attribute_logits(shared))
        attribute_outputs = [DetectionAttributes(name="mrcnn_attr_detections")(roi_attributes, roi_indices)]
    else:
        detections = detected
    mask_head = MaskHead(config, config.TRAIN_BN)
    mrcnn_mask = mask_head(detections[..., :4], input_image_meta, mrcnn_feature_maps)

    inputs = [input_image, input_image_meta, input_anchors]
    model = keras.Model(inputs, [detections, mrcnn_class, mrcnn_bbox, mrcnn_mask, rpn_rois, rpn_class, rpn_bbox,
                                 *attribute_outputs], name="mask_rcnn")
    select = SelectClassMasks(name="mrcnn_mask_det_class")
    input_boxes = keras.Input(shape=(None, 4), name="input_boxes")
    input_class_ids = keras.Input(shape=(None,), name="input_class_ids")
    box_masks = mask_head(input_boxes, input_image_meta, mrcnn_feature_maps)
    mask_model = keras.Model([input_image, input_image_meta, input_boxes, input_class_ids],
                             select(box_masks, input_class_ids), name="mask_rcnn_masks")

    features_model = keras.Model(inputs, [detections, *mrcnn_feature_maps, *attribute_outputs],
                                 name="mask_rcnn_features")
    feature_inputs = [keras.Input(shape=(None, None, int(level.shape[-1])), dtype=level.dtype, name=f"input_p{i}")
                      for i, level in enumerate(mrcnn_feature_maps, start=2)]
    head_masks = mask_head(input_boxes, input_image_meta, feature_inputs)
    mask_head_model = keras.Model([input_image_meta, input_boxes, input_class_ids, *feature_inputs],
                                  select(head_masks, input_class_ids), name="mask_rcnn_mask_head")
    return InferenceGraph(model, mask_model, features_model, mask_head_model, input_image,
                          input_image_meta, mrcnn_feature_maps, classifier, mask_head)
