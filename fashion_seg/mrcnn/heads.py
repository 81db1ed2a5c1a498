"""The ROI heads: box classifier/regressor and mask branch, with matterport's 16 ``TimeDistributed`` layer names.

Both heads pool their ROIs from P2..P5 with :class:`~fashion_seg.mrcnn.roi_align.PyramidROIAlign` and run the same
layers on every ROI. The heads are objects holding their layers, so one set of weights can be applied to several
ROI sets (the inference graph applies the mask head to the detections; test-time augmentation can apply it to merged
boxes with :meth:`MaskRCNN.mask_model`).

Classifier (``ClassifierHead``): ``roi_align_classifier`` (POOL_SIZE) -> ``mrcnn_class_conv1`` (POOL_SIZExPOOL_SIZE
valid conv = a fully connected layer, FPN_CLASSIF_FC_LAYERS_SIZE) -> ``mrcnn_class_bn1`` -> ReLU ->
``mrcnn_class_conv2`` (1x1) -> ``mrcnn_class_bn2`` -> ReLU -> ``pool_squeeze`` -> ``mrcnn_class_logits`` /
``mrcnn_class`` (softmax) and ``mrcnn_bbox_fc`` -> ``mrcnn_bbox`` (reshape to per-class deltas). *Added*, with
``ATTRIBUTE_HEAD``: ``mrcnn_attr_logits`` (one Dense on the same shared FPN_CLASSIF_FC_LAYERS_SIZE features, as
Fashionpedia's Attribute-Mask R-CNN puts its attribute head beside the class head) -> ``mrcnn_attr`` (sigmoid, one
independent probability per attribute). Without it the head is exactly matterport's.

Mask (``MaskHead``): ``roi_align_mask`` (MASK_POOL_SIZE) -> 4 x (``mrcnn_mask_conv{i}`` 3x3 -> ``mrcnn_mask_bn{i}`` ->
ReLU) -> ``mrcnn_mask_deconv`` (2x2 stride-2 transposed conv, ReLU) -> ``mrcnn_mask`` (1x1 conv, sigmoid, one channel
per class).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from .batch_norm import BatchNorm
from .conv import Conv2D, fold_batch_norm
from .roi_align import PyramidROIAlign
from .time_distributed import TimeDistributed

# The outputs that feed box decoding and mask thresholds stay float32 under a mixed-precision policy.
OUTPUT_DTYPE = "float32"


def _distributed(layer, name: str, dtype=None) -> TimeDistributed:
    return TimeDistributed(layer, name=name, dtype=dtype)


def _conv_norm(filters: int, kernel_size: int, conv_name: str, norm_name: str, train_bn: bool | None,
               padding: str = "valid") -> tuple[TimeDistributed, TimeDistributed]:
    """A per-ROI conv and the BatchNorm after it (the conv computes a frozen norm, see :mod:`.conv`)."""
    conv = Conv2D(filters, kernel_size, padding=padding, name=conv_name)
    norm = BatchNorm(train_bn, name=norm_name)
    fold_batch_norm(conv, norm)
    return _distributed(conv, conv_name), _distributed(norm, norm_name)


class ClassifierHead:
    """Box classifier and regressor on ROIs. Create once, call on one or more ROI sets (shared weights).

    ``train_bn``: the BatchNorm mode (normally ``config.TRAIN_BN``; see
    :class:`~fashion_seg.mrcnn.batch_norm.BatchNorm`).

    Call: ``(rois [batch, num_rois, (y1, x1, y2, x2)] normalized, image_meta [batch, IMAGE_META_SIZE],
    feature_maps [P2, P3, P4, P5])`` -> ``(mrcnn_class_logits [batch, num_rois, NUM_CLASSES],
    mrcnn_class [batch, num_rois, NUM_CLASSES] softmax, mrcnn_bbox [batch, num_rois, NUM_CLASSES, (dy, dx, log(dh),
    log(dw))])``, the deltas before scaling by ``BBOX_STD_DEV``.

    With ``config.ATTRIBUTE_HEAD``, :meth:`features` / :meth:`classify` / :meth:`attribute_logits` give the same
    outputs in parts, so that the attribute layers run on the shared features the class head computed:
    ``attribute_logits(shared) -> [batch, num_rois, NUM_ATTRIBUTES]`` and ``attribute_probs(logits)`` (sigmoid).
    """

    def __init__(self, config, train_bn: bool | None):
        size, width, classes = config.POOL_SIZE, config.FPN_CLASSIF_FC_LAYERS_SIZE, config.NUM_CLASSES
        self.num_classes = classes
        self.roi_align = PyramidROIAlign([size, size], name="roi_align_classifier")
        self.conv1, self.bn1 = _conv_norm(width, size, "mrcnn_class_conv1", "mrcnn_class_bn1", train_bn)
        self.conv2, self.bn2 = _conv_norm(width, 1, "mrcnn_class_conv2", "mrcnn_class_bn2", train_bn)
        self.squeeze = layers.Reshape((-1, width), name="pool_squeeze")
        self.logits = _distributed(layers.Dense(classes, name="mrcnn_class_logits", dtype=OUTPUT_DTYPE),
                                   "mrcnn_class_logits", OUTPUT_DTYPE)
        self.probs = _distributed(layers.Activation("softmax", name="mrcnn_class", dtype=OUTPUT_DTYPE),
                                  "mrcnn_class", OUTPUT_DTYPE)
        self.bbox_fc = _distributed(layers.Dense(4 * classes, name="mrcnn_bbox_fc", dtype=OUTPUT_DTYPE),
                                    "mrcnn_bbox_fc", OUTPUT_DTYPE)
        self.bbox = layers.Reshape((-1, classes, 4), name="mrcnn_bbox", dtype=OUTPUT_DTYPE)
        if config.ATTRIBUTE_HEAD:
            self.attr_logits = _distributed(
                layers.Dense(config.NUM_ATTRIBUTES, name="mrcnn_attr_logits", dtype=OUTPUT_DTYPE),
                "mrcnn_attr_logits", OUTPUT_DTYPE)
            self.attr_probs = _distributed(layers.Activation("sigmoid", name="mrcnn_attr", dtype=OUTPUT_DTYPE),
                                           "mrcnn_attr", OUTPUT_DTYPE)

    def __call__(self, rois, image_meta, feature_maps):
        return self.classify(self.features(rois, image_meta, feature_maps))

    def features(self, rois, image_meta, feature_maps):
        """The shared per-ROI features ``[batch, num_rois, FPN_CLASSIF_FC_LAYERS_SIZE]`` (``pool_squeeze``)."""
        x = self.roi_align([rois, image_meta, *feature_maps])
        x = layers.Activation("relu")(self.bn1(self.conv1(x)))
        x = layers.Activation("relu")(self.bn2(self.conv2(x)))
        return self.squeeze(x)

    def classify(self, shared):
        """Shared features -> ``(mrcnn_class_logits, mrcnn_class, mrcnn_bbox)``."""
        logits = self.logits(shared)
        return logits, self.probs(logits), self.bbox(self.bbox_fc(shared))

    def attribute_logits(self, shared):
        """Shared features -> ``mrcnn_attr_logits`` ``[batch, num_rois, NUM_ATTRIBUTES]`` (ATTRIBUTE_HEAD only)."""
        return self.attr_logits(shared)

    def attribute_probs(self, logits):
        """``mrcnn_attr_logits`` -> ``mrcnn_attr`` sigmoid probabilities."""
        return self.attr_probs(logits)


class MaskHead:
    """Mask branch on ROIs (normally the detections). Create once, call on one or more ROI sets (shared weights).

    Call: ``(rois [batch, num_rois, (y1, x1, y2, x2)] normalized, image_meta, feature_maps [P2..P5])`` ->
    ``[batch, num_rois, 2 * MASK_POOL_SIZE, 2 * MASK_POOL_SIZE, NUM_CLASSES]`` sigmoid probabilities.
    """

    def __init__(self, config, train_bn: bool | None):
        size, width = config.MASK_POOL_SIZE, config.MASK_HEAD_FILTERS
        self.roi_align = PyramidROIAlign([size, size], name="roi_align_mask")
        self.convs, self.norms = zip(*(_conv_norm(width, 3, f"mrcnn_mask_conv{i}", f"mrcnn_mask_bn{i}", train_bn,
                                                  padding="same") for i in range(1, 5)))
        self.deconv = _distributed(
            layers.Conv2DTranspose(width, 2, strides=2, activation="relu", name="mrcnn_mask_deconv"),
            "mrcnn_mask_deconv")
        self.mask = _distributed(
            Conv2D(config.NUM_CLASSES, 1, activation="sigmoid", name="mrcnn_mask", dtype=OUTPUT_DTYPE),
            "mrcnn_mask", OUTPUT_DTYPE)

    def __call__(self, rois, image_meta, feature_maps):
        x = self.roi_align([rois, image_meta, *feature_maps])
        for conv, norm in zip(self.convs, self.norms):
            x = layers.Activation("relu")(norm(conv(x)))
        return self.mask(self.deconv(x))


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


@keras.saving.register_keras_serializable(package="fashion_seg")
class DetectionAttributes(layers.Layer):
    """Each detection's attribute probabilities, from the ROI it came from: ``[batch, rois, A]`` probabilities +
    ``[batch, detections]`` ROI rows (``-1`` on padding, :class:`~fashion_seg.mrcnn.detection.DetectionLayer`'s
    ``return_roi_indices``) -> ``[batch, detections, A]``, zero on padding rows."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", OUTPUT_DTYPE)
        super().__init__(**kwargs)

    def call(self, probs, roi_indices):
        rows = ops.cast(roi_indices, "int32")
        picked = ops.take_along_axis(probs, ops.maximum(rows, 0)[:, :, None], axis=1)
        return ops.where((rows >= 0)[:, :, None], picked, 0.0)

    def compute_output_shape(self, probs_shape, roi_indices_shape):
        return tuple(roi_indices_shape) + (probs_shape[-1],)
