"""The small Mask R-CNN the tests train and run: a narrow ResNet at 128x128 with few filters, proposals and ROIs,
so that a model builds in seconds and a training step takes a fraction of one on 2 CPU cores. A test file subclasses
it with its own classes and what it exercises (``class TinyConfig(TinyNetworkConfig): NAME = ...``)."""

from fashion_seg.mrcnn.config import Config


class TinyNetworkConfig(Config):
    BACKBONE = "resnet_tiny"
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)  # matterport's 32-512 at 1024, scaled to 128
    TOP_DOWN_PYRAMID_SIZE = 32
    RPN_CONV_FILTERS = 32
    FPN_CLASSIF_FC_LAYERS_SIZE = 64
    MASK_HEAD_FILTERS = 32
    PRE_NMS_LIMIT = 600
    POST_NMS_ROIS_TRAINING = 200
    POST_NMS_ROIS_INFERENCE = 100
    RPN_TRAIN_ANCHORS_PER_IMAGE = 64
    TRAIN_ROIS_PER_IMAGE = 32


class SmallImageConfig(Config):
    """No network settings: images of 64-128 px with anchors scaled to them, for the tests of targets and batches."""

    NUM_CLASSES = 4
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    RPN_TRAIN_ANCHORS_PER_IMAGE = 64
    MINI_MASK_SHAPE = (28, 28)
