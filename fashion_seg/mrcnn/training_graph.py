"""The training network: backbone, FPN, RPN, proposals, detection targets, ROI heads, and the losses.

Inputs (matterport's names; the batches of :mod:`fashion_seg.mrcnn.batches` are dicts with these keys):

========================  =========  =====================================================================
``input_image``           float32    ``[batch, H, W, 3]`` molded, ``(H, W, 3) = IMAGE_SHAPE``
``input_image_meta``      float32    ``[batch, IMAGE_META_SIZE]``
``input_rpn_match``       int32      ``[batch, anchors, 1]``: 1 positive, -1 negative, 0 neutral
``input_rpn_bbox``        float32    ``[batch, RPN_TRAIN_ANCHORS_PER_IMAGE, 4]`` packed positive-anchor deltas
``input_gt_class_ids``    int32      ``[batch, MAX_GT_INSTANCES]``, 0 = padding, < 0 = crowd
``input_gt_boxes``        float32    ``[batch, MAX_GT_INSTANCES, (y1, x1, y2, x2)]`` pixels (y2, x2 exclusive)
``input_gt_masks``        bool       ``[batch, MINI_MASK_SHAPE..., MAX_GT_INSTANCES]`` (``[batch, H, W, ...]``
                                     without mini-masks)
========================  =========  =====================================================================

*Added*, with ``ATTRIBUTE_HEAD`` only: ``input_gt_attributes`` float32 ``[batch, MAX_GT_INSTANCES, NUM_ATTRIBUTES]``
multi-hot and ``input_gt_attributes_known`` bool ``[batch, MAX_GT_INSTANCES]`` (:mod:`fashion_seg.data.attributes`),
the outputs ``mrcnn_attr_logits``, ``target_attributes`` and ``target_attributes_known``, and the loss
``mrcnn_attr_loss`` (weight ``ATTRIBUTE_LOSS_WEIGHT``). Without it, inputs, outputs and layers are matterport's.

The anchors of ``IMAGE_SHAPE`` are a constant of the graph (layer ``anchors``), as in matterport, so every training
image has that shape. Outputs (a dict): matterport's ``rpn_class_logits``, ``rpn_class``, ``rpn_bbox``,
``mrcnn_class_logits``, ``mrcnn_class``, ``mrcnn_bbox``, ``mrcnn_mask``, ``ROI`` (proposals) and ``output_rois``
(the sampled ROIs), plus the targets the losses need (``target_class_ids``, ``target_bbox``, ``target_mask``,
``roi_valid``). ``mrcnn_mask`` covers only the first ``int(TRAIN_ROIS_PER_IMAGE * ROI_POSITIVE_RATIO)`` ROIs: the only
ones that can be positive (see :mod:`fashion_seg.mrcnn.detection_targets`).

:class:`TrainingModel` is the Keras model: ``fit``/``evaluate`` train it with the five (or six) losses of
:mod:`fashion_seg.mrcnn.losses` (each weighted by ``LOSS_WEIGHTS``) plus matterport's L2 weight decay, and log each
loss under its matterport name (``rpn_class_loss`` ... and ``val_rpn_class_loss`` ...).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from ..errors import ConfigError
from . import losses
from .anchors import compute_backbone_shapes, generate_pyramid_anchors
from .box_ops import norm_boxes
from .boxes import norm_boxes as norm_boxes_numpy
from .detection_targets import DetectionTargetLayer
from .distribute import cross_replica_sum, replica_count
from .fpn import build_backbone_and_fpn
from .heads import ClassifierHead, MaskHead
from .proposal import ProposalLayer
from .rpn import build_config_rpn_model, rpn_graph

TRAINING_INPUT_NAMES = ("input_image", "input_image_meta", "input_rpn_match", "input_rpn_bbox",
                        "input_gt_class_ids", "input_gt_boxes", "input_gt_masks")
ATTRIBUTE_INPUT_NAMES = ("input_gt_attributes", "input_gt_attributes_known")


def training_input_names(config) -> tuple[str, ...]:
    """The names of the training model's inputs under ``config`` (the attribute inputs with ``ATTRIBUTE_HEAD``)."""
    return TRAINING_INPUT_NAMES + (ATTRIBUTE_INPUT_NAMES if config.ATTRIBUTE_HEAD else ())


@keras.saving.register_keras_serializable(package="fashion_seg")
class Anchors(layers.Layer):
    """The anchors of one image size as a constant: ``[batch, anchors, (y1, x1, y2, x2)]`` normalised, repeated for
    each image of the batch the layer is called on (its input's first axis)."""

    def __init__(self, image_shape, scales, ratios, feature_shapes, feature_strides, anchor_stride, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.image_shape = [int(v) for v in image_shape[:2]]
        self.scales = [float(v) for v in scales]
        self.ratios = [float(v) for v in ratios]
        self.feature_shapes = [[int(v) for v in shape] for shape in feature_shapes]
        self.feature_strides = [int(v) for v in feature_strides]
        self.anchor_stride = int(anchor_stride)
        pixels = generate_pyramid_anchors(self.scales, self.ratios, self.feature_shapes, self.feature_strides,
                                          self.anchor_stride)
        self.anchors = norm_boxes_numpy(pixels, self.image_shape).astype(np.float32)

    @classmethod
    def for_config(cls, config, **kwargs) -> "Anchors":
        shape = config.IMAGE_SHAPE
        return cls(shape, config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS, compute_backbone_shapes(config, shape),
                   config.BACKBONE_STRIDES, config.RPN_ANCHOR_STRIDE, **kwargs)

    def call(self, reference):
        anchors = ops.convert_to_tensor(self.anchors)
        return ops.broadcast_to(anchors[None], (ops.shape(reference)[0],) + self.anchors.shape)

    def compute_output_spec(self, reference):
        return keras.KerasTensor((reference.shape[0],) + self.anchors.shape, dtype="float32")

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "scales": self.scales, "ratios": self.ratios,
                "feature_shapes": self.feature_shapes, "feature_strides": self.feature_strides,
                "anchor_stride": self.anchor_stride}


@keras.saving.register_keras_serializable(package="fashion_seg")
class NormalizeBoxes(layers.Layer):
    """Pixel boxes ``[batch, n, (y1, x1, y2, x2)]`` (y2, x2 exclusive) of a fixed ``image_shape`` -> normalised;
    zero rows (padding) stay zero."""

    def __init__(self, image_shape, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.image_shape = [int(v) for v in image_shape[:2]]

    def call(self, boxes):
        boxes = ops.cast(boxes, "float32")
        real = ops.sum(ops.abs(boxes), axis=-1, keepdims=True) > 0
        return ops.where(real, norm_boxes(boxes, self.image_shape), 0.0)

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape}


def training_inputs(config) -> dict:
    """The symbolic inputs of the training model, by name (see the module docstring)."""
    height, width, channels = (int(v) for v in config.IMAGE_SHAPE)
    num_anchors = len(Anchors.for_config(config).anchors)
    max_gt = config.MAX_GT_INSTANCES
    mask_shape = tuple(config.MINI_MASK_SHAPE) if config.USE_MINI_MASK else (height, width)
    inputs = {
        "input_image": keras.Input((height, width, channels), name="input_image"),
        "input_image_meta": keras.Input((config.IMAGE_META_SIZE,), name="input_image_meta"),
        "input_rpn_match": keras.Input((num_anchors, 1), name="input_rpn_match", dtype="int32"),
        "input_rpn_bbox": keras.Input((config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4), name="input_rpn_bbox"),
        "input_gt_class_ids": keras.Input((max_gt,), name="input_gt_class_ids", dtype="int32"),
        "input_gt_boxes": keras.Input((max_gt, 4), name="input_gt_boxes"),
        "input_gt_masks": keras.Input(mask_shape + (max_gt,), name="input_gt_masks", dtype="bool"),
    }
    if config.ATTRIBUTE_HEAD:
        inputs["input_gt_attributes"] = keras.Input((max_gt, config.NUM_ATTRIBUTES), name="input_gt_attributes")
        inputs["input_gt_attributes_known"] = keras.Input((max_gt,), name="input_gt_attributes_known", dtype="bool")
    return inputs


@dataclass
class TrainingGraph:
    """The training model and its parts: the head objects (shared layers, see :mod:`fashion_seg.mrcnn.heads`)."""

    model: "TrainingModel"
    classifier: ClassifierHead
    mask_head: MaskHead


def build_training_graph(config) -> TrainingGraph:
    """Build the training model (under the current dtype policy). ``config.USE_RPN_ROIS`` must be True."""
    if not config.USE_RPN_ROIS:
        raise ConfigError("USE_RPN_ROIS=False (training the heads on ROIs given as an input) is not supported: "
                          "the heads train on the RPN's proposals")
    inputs = training_inputs(config)
    image, image_meta = inputs["input_image"], inputs["input_image_meta"]
    rpn_feature_maps, mrcnn_feature_maps = build_backbone_and_fpn(image, config)
    rpn_class_logits, rpn_class, rpn_bbox = rpn_graph(build_config_rpn_model(config), rpn_feature_maps)
    anchors = Anchors.for_config(config, name="anchors")(image)
    rpn_rois = ProposalLayer(proposal_count=config.POST_NMS_ROIS_TRAINING, nms_threshold=config.RPN_NMS_THRESHOLD,
                             config=config, name="ROI")([rpn_class, rpn_bbox, anchors])
    gt_boxes = NormalizeBoxes(config.IMAGE_SHAPE, name="gt_boxes_normalized")(inputs["input_gt_boxes"])
    target_layer = DetectionTargetLayer(config, name="proposal_targets")
    targets = target_layer([rpn_rois, inputs["input_gt_class_ids"], gt_boxes, inputs["input_gt_masks"],
                            *(inputs[name] for name in ATTRIBUTE_INPUT_NAMES if name in inputs)])
    rois, target_class_ids, target_bbox, target_mask, roi_valid = targets[:5]

    classifier = ClassifierHead(config, config.TRAIN_BN)
    shared = classifier.features(rois, image_meta, mrcnn_feature_maps)
    mrcnn_class_logits, mrcnn_class, mrcnn_bbox = classifier.classify(shared)
    mask_head = MaskHead(config, config.TRAIN_BN)
    mask_rois = rois[:, :target_layer.positive_capacity]
    mrcnn_mask = mask_head(mask_rois, image_meta, mrcnn_feature_maps)

    outputs = {
        "rpn_class_logits": rpn_class_logits, "rpn_class": rpn_class, "rpn_bbox": rpn_bbox,
        "mrcnn_class_logits": mrcnn_class_logits, "mrcnn_class": mrcnn_class, "mrcnn_bbox": mrcnn_bbox,
        "mrcnn_mask": mrcnn_mask, "ROI": rpn_rois,
        "output_rois": layers.Identity(name="output_rois", dtype="float32")(rois),
        "target_class_ids": target_class_ids, "target_bbox": target_bbox, "target_mask": target_mask,
        "roi_valid": roi_valid,
    }
    if config.ATTRIBUTE_HEAD:
        outputs["mrcnn_attr_logits"] = classifier.attribute_logits(shared)
        outputs["target_attributes"], outputs["target_attributes_known"] = targets[5:]
    model = TrainingModel(inputs, outputs, loss_weights=losses.loss_weights(config),
                          weight_decay=config.WEIGHT_DECAY, name="mask_rcnn_training")
    return TrainingGraph(model, classifier, mask_head)


def loss_terms(inputs: dict, outputs: dict) -> dict[str, losses.LossTerms]:
    """The losses' :class:`~fashion_seg.mrcnn.losses.LossTerms` of one (per-replica) batch, by name: the five, and
    ``mrcnn_attr_loss`` when the outputs have ``mrcnn_attr_logits``."""
    capacity = outputs["mrcnn_mask"].shape[1]
    active_class_ids = ops.cast(inputs["input_image_meta"], "float32")[:, 12:]
    terms = {
        "rpn_class_loss": losses.rpn_class_loss_terms(inputs["input_rpn_match"], outputs["rpn_class_logits"]),
        "rpn_bbox_loss": losses.rpn_bbox_loss_terms(inputs["input_rpn_bbox"], inputs["input_rpn_match"],
                                                    outputs["rpn_bbox"]),
        "mrcnn_class_loss": losses.mrcnn_class_loss_terms(outputs["target_class_ids"], outputs["mrcnn_class_logits"],
                                                          active_class_ids, outputs["roi_valid"]),
        "mrcnn_bbox_loss": losses.mrcnn_bbox_loss_terms(outputs["target_bbox"], outputs["target_class_ids"],
                                                        outputs["mrcnn_bbox"]),
        "mrcnn_mask_loss": losses.mrcnn_mask_loss_terms(outputs["target_mask"],
                                                        outputs["target_class_ids"][:, :capacity],
                                                        outputs["mrcnn_mask"]),
    }
    if "mrcnn_attr_logits" in outputs:
        terms[losses.ATTRIBUTE_LOSS_NAME] = losses.mrcnn_attr_loss_terms(
            outputs["target_attributes"], outputs["target_attributes_known"], outputs["mrcnn_attr_logits"])
    return terms


class TrainingModel(keras.Model):
    """The functional training network with matterport's loss.

    ``compute_loss`` returns ``sum_k weight_k * loss_k + WEIGHT_DECAY * sum_w mean(w^2)`` (``w``: trainable
    weights other than BatchNorm gamma/beta, as matterport), in float32; ``loss_weights`` gives ``weight_k`` by loss
    name (:func:`fashion_seg.mrcnn.losses.loss_weights`: ``LOSS_WEIGHTS``, and ``ATTRIBUTE_LOSS_WEIGHT`` for
    ``mrcnn_attr_loss`` when the outputs have ``mrcnn_attr_logits``). Keras's own ``train_step`` and
    ``test_step`` run it (statelessly on JAX, with the dtype policy's loss scaling for ``mixed_float16``).

    Under ``tf.distribute`` with R replicas, Keras adds up the replicas' gradients. Each loss is therefore computed as
    ``this replica's sum / count summed over all replicas`` and the decay term divided by R, so that the replicas'
    losses add up to the loss of the global batch on one device, and so do their gradients. Logged values are those
    of the global batch.
    """

    def __init__(self, inputs, outputs, loss_weights: dict, weight_decay: float, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        names = losses.LOSS_NAMES + ((losses.ATTRIBUTE_LOSS_NAME,) if "mrcnn_attr_logits" in outputs else ())
        self.loss_weights = {name: float(loss_weights[name]) for name in names}
        self.weight_decay = float(weight_decay)
        self.loss_trackers = [keras.metrics.Mean(name=name) for name in names]
        # JAX: the keras.distribution (e.g. DataParallel) the model was built under, to train under it too.
        self._built_under_distribution = keras.distribution.distribution()

    @contextlib.contextmanager
    def distribution_scope(self):
        """The scope the model was built in (``tf.distribute`` strategy or ``keras.distribution``): compile and fit
        in it, so the optimizer's variables are placed like the model's and batches are split across replicas."""
        if keras.backend.backend() == "tensorflow":
            with self.distribute_strategy.scope():
                yield
        elif self._built_under_distribution is not None:
            with self._built_under_distribution.scope():
                yield
        else:
            yield

    @property
    def num_replicas(self) -> int:
        """Replicas each global batch is split into (``tf.distribute`` strategy or ``keras.distribution``)."""
        if keras.backend.backend() == "tensorflow":
            return int(self.distribute_strategy.num_replicas_in_sync)
        if self._built_under_distribution is not None:
            return int(np.size(self._built_under_distribution.device_mesh.devices))
        return 1

    @property
    def writes_files(self) -> bool:
        """Whether this process writes checkpoints and logs: only the chief of a multi-worker run does (the other
        workers hold the same weights)."""
        if keras.backend.backend() == "tensorflow":
            return bool(self.distribute_strategy.extended.should_checkpoint)
        if keras.backend.backend() == "jax":
            import jax

            return jax.process_index() == 0
        return True

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # TensorFlow trainer hook. Under tf.distribute, Keras builds the model from the *mean* over replicas of the
        # first batch, which fails for bool and int inputs (our GT masks and ids) and under
        # MultiWorkerMirroredStrategy (keras-team/keras#20585). The functional model is built already: only the
        # optimizer's variables remain to be made, in the strategy's scope.
        if self.optimizer is not None and not self.optimizer.built:
            with self.distribution_scope():
                self.optimizer.build(self.trainable_variables)

    def train_step(self, *args):
        return _reducible_logs(super().train_step(*args))

    def test_step(self, *args):
        return _reducible_logs(super().test_step(*args))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        replicas = replica_count()
        total = ops.convert_to_tensor(0.0, dtype="float32")
        for tracker, (name, terms) in zip(self.loss_trackers, loss_terms(x, y_pred).items()):
            share = terms.total / ops.maximum(cross_replica_sum(terms.count), 1.0)
            tracker.update_state(share * replicas)
            total = total + self.loss_weights[name] * share
        decay = losses.weight_decay_loss(self.trainable_weights, self.weight_decay)
        return total + decay / replicas


def _reducible_logs(result):
    """Under a multi-worker ``MultiWorkerMirroredStrategy``, Keras reduces each replica's logs with a mean along axis 0,
    which scalars do not have (keras-team/keras#20585): give them one. Anything else passes unchanged (on JAX the
    result is ``(logs, state)``)."""
    if keras.backend.backend() != "tensorflow":
        return result
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    if not (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode()):
        return result
    return {name: ops.reshape(value, (1,)) for name, value in result.items()}
