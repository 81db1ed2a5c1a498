"""The ROI heads: box classifier/regressor and mask branch, with matterport's 16 ``TimeDistributed`` layer names.

Both heads pool their ROIs from P2..P5 with :class:`~fashion_seg.mrcnn.roi_align.PyramidROIAlign` and run the same
layers on every ROI. The heads are objects holding their layers, so one set of weights can be applied to several
ROI sets (the inference graph applies the mask head to the detections; test-time augmentation can apply it to merged
boxes with :meth:`MaskRCNN.mask_model`).

Classifier (``ClassifierHead``): ``roi_align_classifier`` (POOL_SIZE) -> ``mrcnn_class_conv1`` (POOL_SIZExPOOL_SIZE
valid conv = a fully connected layer, FPN_CLASSIF_FC_LAYERS_SIZE) -> ``mrcnn_class_bn1`` -> ReLU ->
``mrcnn_class_conv2`` (1x1) -> ``mrcnn_class_bn2`` -> ReLU -> ``pool_squeeze`` -> ``mrcnn_class_logits`` /
``mrcnn_class`` (softmax) and ``mrcnn_bbox_fc`` -> ``mrcnn_bbox`` (reshape to per-class deltas).

Mask (``MaskHead``): ``roi_align_mask`` (MASK_POOL_SIZE) -> 4 x (``mrcnn_mask_conv{i}`` 3x3 -> ``mrcnn_mask_bn{i}`` ->
ReLU) -> ``mrcnn_mask_deconv`` (2x2 stride-2 transposed conv, ReLU) -> ``mrcnn_mask`` (1x1 conv, sigmoid, one channel
per class).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from .batch_norm import BatchNorm
from .roi_align import PyramidROIAlign
from .time_distributed import TimeDistributed

# The outputs that feed box decoding and mask thresholds stay float32 under a mixed-precision policy.
OUTPUT_DTYPE = "float32"


def _distributed(layer, name: str, dtype=None) -> TimeDistributed:
    return TimeDistributed(layer, name=name, dtype=dtype)


class ClassifierHead:
    """Box classifier and regressor on ROIs. Create once, call on one or more ROI sets (shared weights).

    ``train_bn``: the BatchNorm mode (normally ``config.TRAIN_BN``; see :class:`~fashion_seg.mrcnn.batch_norm.BatchNorm`).

    Call: ``(rois [batch, num_rois, (y1, x1, y2, x2)] normalized, image_meta [batch, IMAGE_META_SIZE],
    feature_maps [P2, P3, P4, P5])`` -> ``(mrcnn_class_logits [batch, num_rois, NUM_CLASSES],
    mrcnn_class [batch, num_rois, NUM_CLASSES] softmax, mrcnn_bbox [batch, num_rois, NUM_CLASSES, (dy, dx, log(dh),
    log(dw))])``, the deltas before scaling by ``BBOX_STD_DEV``.
    """

    def __init__(self, config, train_bn: bool | None):
        size, width, classes = config.POOL_SIZE, config.FPN_CLASSIF_FC_LAYERS_SIZE, config.NUM_CLASSES
        self.num_classes = classes
        self.roi_align = PyramidROIAlign([size, size], name="roi_align_classifier")
        self.conv1 = _distributed(layers.Conv2D(width, size, padding="valid", name="mrcnn_class_conv1"),
                                  "mrcnn_class_conv1")
        self.bn1 = _distributed(BatchNorm(train_bn, name="mrcnn_class_bn1"), "mrcnn_class_bn1")
        self.conv2 = _distributed(layers.Conv2D(width, 1, name="mrcnn_class_conv2"), "mrcnn_class_conv2")
        self.bn2 = _distributed(BatchNorm(train_bn, name="mrcnn_class_bn2"), "mrcnn_class_bn2")
        self.squeeze = layers.Reshape((-1, width), name="pool_squeeze")
        self.logits = _distributed(layers.Dense(classes, name="mrcnn_class_logits", dtype=OUTPUT_DTYPE),
                                   "mrcnn_class_logits", OUTPUT_DTYPE)
        self.probs = _distributed(layers.Activation("softmax", name="mrcnn_class", dtype=OUTPUT_DTYPE),
                                  "mrcnn_class", OUTPUT_DTYPE)
        self.bbox_fc = _distributed(layers.Dense(4 * classes, name="mrcnn_bbox_fc", dtype=OUTPUT_DTYPE),
                                    "mrcnn_bbox_fc", OUTPUT_DTYPE)
        self.bbox = layers.Reshape((-1, classes, 4), name="mrcnn_bbox", dtype=OUTPUT_DTYPE)

    def __call__(self, rois, image_meta, feature_maps):
        x = self.roi_align([rois, image_meta, *feature_maps])
        x = layers.Activation("relu")(self.bn1(self.conv1(x)))
        x = layers.Activation("relu")(self.bn2(self.conv2(x)))
        shared = self.squeeze(x)
        logits = self.logits(shared)
        return logits, self.probs(logits), self.bbox(self.bbox_fc(shared))


class MaskHead:
    """Mask branch on ROIs (normally the detections). Create once, call on one or more ROI sets (shared weights).

    Call: ``(rois [batch, num_rois, (y1, x1, y2, x2)] normalized, image_meta, feature_maps [P2..P5])`` ->
    ``[batch, num_rois, 2 * MASK_POOL_SIZE, 2 * MASK_POOL_SIZE, NUM_CLASSES]`` sigmoid probabilities.
    """

    def __init__(self, config, train_bn: bool | None):
        size, width = config.MASK_POOL_SIZE, config.MASK_HEAD_FILTERS
        self.roi_align = PyramidROIAlign([size, size], name="roi_align_mask")
        self.convs = [_distributed(layers.Conv2D(width, 3, padding="same", name=f"mrcnn_mask_conv{i}"),
                                   f"mrcnn_mask_conv{i}") for i in range(1, 5)]
        self.norms = [_distributed(BatchNorm(train_bn, name=f"mrcnn_mask_bn{i}"), f"mrcnn_mask_bn{i}")
                      for i in range(1, 5)]
        self.deconv = _distributed(
            layers.Conv2DTranspose(width, 2, strides=2, activation="relu", name="mrcnn_mask_deconv"),
            "mrcnn_mask_deconv")
        self.mask = _distributed(
            layers.Conv2D(config.NUM_CLASSES, 1, activation="sigmoid", name="mrcnn_mask", dtype=OUTPUT_DTYPE),
            "mrcnn_mask", OUTPUT_DTYPE)

    def __call__(self, rois, image_meta, feature_maps):
        x = self.roi_align([rois, image_meta, *feature_maps])
        for conv, norm in zip(self.convs, self.norms):
            x = layers.Activation("relu")(norm(conv(x)))
        return self.mask(self.deconv(x))


def fpn_classifier_graph(rois, feature_maps, image_meta, config, train_bn: bool | None):
    """matterport's name for building the classifier head once: returns ``(logits, probs, bbox)``."""
    return ClassifierHead(config, train_bn)(rois, image_meta, feature_maps)


def build_fpn_mask_graph(rois, feature_maps, image_meta, config, train_bn: bool | None):
    """matterport's name for building the mask head once: returns the ``mrcnn_mask`` probabilities."""
    return MaskHead(config, train_bn)(rois, image_meta, feature_maps)


@keras.saving.register_keras_serializable(package="fashion_seg")
class SelectClassMasks(layers.Layer):
    """Each ROI's mask for its own class: ``[batch, n, h, w, classes]`` + ``[batch, n]`` class ids ->
    ``[batch, n, h, w]``, so that only one channel per detection leaves the graph."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", OUTPUT_DTYPE)
        super().__init__(**kwargs)

    def call(self, masks, class_ids):
        index = ops.cast(class_ids, "int32")[:, :, None, None, None]
        return ops.take_along_axis(masks, index, axis=-1)[..., 0]

    def compute_output_shape(self, masks_shape, class_ids_shape):
        return tuple(masks_shape[:-1])
