"""``set_trainable`` freezes exactly what matterport's layer regexes say, on the resnet50 training model.

Expected counts of trainable weight tensors follow matterport's layer lists: each conv and dense layer has a kernel and
a bias, each BatchNorm a trainable gamma and beta (its moving statistics are never trainable). The heads are 8 FPN
convs (16), the 3 convs of the nested ``rpn_model`` (6) and 16 TimeDistributed layers, 14 with weights (32): 54.
ResNet-50 stages add 4 tensors per conv+BN pair: stage 5 has 10 pairs (40), stage 4 19 (76), stage 3 13 (52),
stage 2 10 (40), the stem 1 (4).
"""

import re

import pytest

from fashion_seg.mrcnn.config import Config
from fashion_seg.mrcnn.model import MaskRCNN
from fashion_seg.mrcnn.training import LAYER_REGEX
from fashion_seg.mrcnn.weights import weight_layers

EXPECTED_TRAINABLE_TENSORS = {"heads": 54, "5+": 94, "4+": 170, "3+": 222, "all": 266}


class ResNet50Config(Config):
    NAME = "layers"
    NUM_CLASSES = 5
    BACKBONE = "resnet50"
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    IMAGES_PER_GPU = 1


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return MaskRCNN("training", ResNet50Config(), tmp_path_factory.mktemp("logs"))


def _matterport_names(model):
    """Weight layers by matterport's naming: the nested rpn_model's layers as ``rpn_model/<inner>``."""
    names = []
    for entry in weight_layers(model.keras_model):
        if entry.name == "rpn_model":
            names.extend(f"rpn_model/{layer.name}" for layer in model.keras_model.get_layer("rpn_model").layers
                         if layer.weights)
        else:
            names.append(entry.name)
    return names


@pytest.mark.parametrize("layers", list(EXPECTED_TRAINABLE_TENSORS))
def test_each_layer_set_trains_exactly_its_layers(model, layers):
    trainable = model.set_trainable(layers, verbose=0)
    regex = LAYER_REGEX[layers]
    assert trainable == [name for name in _matterport_names(model) if re.fullmatch(regex, name.split("/")[-1])]
    weights = model.keras_model.trainable_weights
    assert len(weights) == EXPECTED_TRAINABLE_TENSORS[layers]
    assert not any("moving" in w.path for w in weights)
    if layers != "all":
        assert "conv1" not in trainable and "bn_conv1" not in trainable


def test_any_regex_selects_inner_layers_of_nested_and_time_distributed_layers(model):
    trainable = model.set_trainable(r"rpn_class_raw|mrcnn_mask_conv\d", verbose=0)
    assert trainable == ["rpn_model/rpn_class_raw", "mrcnn_mask_conv1", "mrcnn_mask_conv2", "mrcnn_mask_conv3",
                         "mrcnn_mask_conv4"]
    layer_and_weight = ("/".join(w.path.split("/")[-2:]) for w in model.keras_model.trainable_weights)
    assert sorted(layer_and_weight) == sorted(
        [f"rpn_class_raw/{name}" for name in ("kernel", "bias")]
        + [f"mrcnn_mask_conv{i}/{name}" for i in range(1, 5) for name in ("kernel", "bias")])
    # frozen again by the next call
    assert model.set_trainable("heads", verbose=0)[0] == "fpn_c5p5"
    assert len(model.keras_model.trainable_weights) == 54
