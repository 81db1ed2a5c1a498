"""ResNet backbones with matterport's layer names: ``conv1``, ``bn_conv1``, ``res2a_branch2a``, ``bn2a_branch2a``, ...

The graph is matterport's ``resnet_graph``: a 7x7/2 stem (``ZeroPadding2D(3)``, valid conv, BatchNorm, ReLU,
3x3/2 'same' max-pool), then four stages of bottleneck blocks. The first block of each stage (``a``) is a conv block
with a projection shortcut (``res{s}a_branch1``) and stride 2 in its first 1x1 conv (stride 1 in stage 2); the other
blocks are identity blocks. Every block ends in ``Add`` and a ReLU named ``res{stage}{block}_out``; all convs have biases.

The backbones (``BACKBONE``):

========== ============ ============== ==================================================================
name       blocks       bottleneck      use
                        widths
========== ============ ============== ==================================================================
resnet50   3, 4, 6, 3   64..512 (x4)   matterport's ResNet-50; ImageNet / COCO weights
resnet101  3, 4, 23, 3  64..512 (x4)   matterport's default ResNet-101 (``mask_rcnn_coco.h5``)
resnet_tiny 2, 2, 2, 2  8..64 (x4)     a narrow ResNet with the same naming scheme, for CPU tests and demos
========== ============ ============== ==================================================================

Feature maps ``C2..C5`` have strides 4, 8, 16, 32 and ``4 * width`` channels (256..2048 for the real ResNets).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from ..errors import ConfigError
from .batch_norm import BatchNorm


@dataclass(frozen=True)
class ResNetLayout:
    """Shape of a bottleneck ResNet: stem width, blocks per stage (2..5) and bottleneck width per stage."""

    stem_filters: int
    blocks: tuple[int, int, int, int]
    widths: tuple[int, int, int, int]

    def block_names(self, stage: int) -> list[str]:
        """Block letters of a stage (2..5): ``a, b, c, ...`` (``a`` .. ``w`` for ResNet-101's stage 4)."""
        return [chr(ord("a") + index) for index in range(self.blocks[stage - 2])]

    def output_channels(self) -> list[int]:
        """Channels of C2..C5."""
        return [4 * width for width in self.widths]


RESNET_LAYOUTS = {
    "resnet50": ResNetLayout(64, (3, 4, 6, 3), (64, 128, 256, 512)),
    "resnet101": ResNetLayout(64, (3, 4, 23, 3), (64, 128, 256, 512)),
    "resnet_tiny": ResNetLayout(16, (2, 2, 2, 2), (8, 16, 32, 64)),
}


def resnet_layout(architecture: str) -> ResNetLayout:
    try:
        return RESNET_LAYOUTS[architecture]
    except KeyError:
        raise ConfigError(f"unknown backbone {architecture!r}; choose one of {', '.join(RESNET_LAYOUTS)}") from None


def bottleneck_block(input_tensor, kernel_size: int, filters: tuple[int, int, int], stage: int, block: str,
                     strides: int = 1, projection: bool = False, train_bn: bool | None = False):
    """One bottleneck block: 1x1 -> kxk -> 1x1 convs (+ projection shortcut when ``projection``), add, ReLU.

    The creation order (branch 2 convs, then the shortcut conv, then their BatchNorms) follows matterport's, so the
    Keras layer order, which positional weight loading relies on, matches its files.
    """
    width_a, width_b, width_c = filters
    conv = f"res{stage}{block}_branch"
    norm = f"bn{stage}{block}_branch"
    x = layers.Conv2D(width_a, 1, strides=strides, name=conv + "2a")(input_tensor)
    x = BatchNorm(train_bn, name=norm + "2a")(x)
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(width_b, kernel_size, padding="same", name=conv + "2b")(x)
    x = BatchNorm(train_bn, name=norm + "2b")(x)
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(width_c, 1, name=conv + "2c")(x)
    if projection:
        shortcut = layers.Conv2D(width_c, 1, strides=strides, name=conv + "1")(input_tensor)
        x = BatchNorm(train_bn, name=norm + "2c")(x)
        shortcut = BatchNorm(train_bn, name=norm + "1")(shortcut)
    else:
        x = BatchNorm(train_bn, name=norm + "2c")(x)
        shortcut = input_tensor
    x = layers.Add()([x, shortcut])
    return layers.Activation("relu", name=f"res{stage}{block}_out")(x)


def resnet_graph(input_image, architecture: str, stage5: bool = True, train_bn: bool | None = False) -> list:
    """Build the backbone on ``input_image`` ``[batch, height, width, channels]``.

    Returns ``[C1, C2, C3, C4, C5]`` (C1 is the stem's max-pool output at stride 4; C5 is None when ``stage5`` is
    False), matterport's ``resnet_graph`` contract, so a callable ``BACKBONE`` can stand in for it.
    """
    layout = resnet_layout(architecture)
    x = layers.ZeroPadding2D((3, 3))(input_image)
    x = layers.Conv2D(layout.stem_filters, 7, strides=2, name="conv1")(x)
    x = BatchNorm(train_bn, name="bn_conv1")(x)
    x = layers.Activation("relu")(x)
    c1 = x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    outputs = [c1]
    for stage in (2, 3, 4, 5):
        if stage == 5 and not stage5:
            outputs.append(None)
            break
        width = layout.widths[stage - 2]
        filters = (width, width, 4 * width)
        for index, block in enumerate(layout.block_names(stage)):
            x = bottleneck_block(x, 3, filters, stage, block, strides=(1 if stage == 2 else 2) if index == 0 else 1,
                                 projection=index == 0, train_bn=train_bn)
        outputs.append(x)
    return outputs


def backbone_feature_maps(input_image, config) -> list:
    """C2..C5 of the configured backbone (``config.BACKBONE``: a name above or a matterport-style callable), with
    BatchNorm mode ``config.TRAIN_BN``."""
    train_bn = config.TRAIN_BN
    if callable(config.BACKBONE):
        _, c2, c3, c4, c5 = config.BACKBONE(input_image, stage5=True, train_bn=train_bn)
    else:
        _, c2, c3, c4, c5 = resnet_graph(input_image, config.BACKBONE, stage5=True, train_bn=train_bn)
    return [c2, c3, c4, c5]


def build_resnet_model(architecture: str, input_shape=(None, None, 3), train_bn: bool | None = False) -> keras.Model:
    """A standalone backbone model ``image -> [C2, C3, C4, C5]`` (for inspection, tests and ImageNet mapping)."""
    image = keras.Input(shape=input_shape, name="input_image")
    _, c2, c3, c4, c5 = resnet_graph(image, architecture, stage5=True, train_bn=train_bn)
    return keras.Model(image, [c2, c3, c4, c5], name=f"{architecture}_backbone")
