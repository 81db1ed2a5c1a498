"""``--set KEY=VALUE``: values typed like the config's defaults; bad keys and values refused by name."""

import pytest

from fashion_seg.errors import ConfigError
from fashion_seg.mrcnn.config import Config
from fashion_seg.trainer.overrides import config_keys, parse_config_overrides


def test_values_take_the_type_of_the_default():
    values = parse_config_overrides([
        "IMAGES_PER_GPU=3",
        "LEARNING_RATE=5e-4",
        "GRADIENT_CLIP_NORM=5",                   # an integer where a float is expected
        "USE_MINI_MASK=no",
        "BACKBONE=resnet50",
        "RPN_ANCHOR_SCALES=16,32,64,128,256",
        "MEAN_PIXEL=[120, 115, 100.5]",           # a JSON list
        'LOSS_WEIGHTS={"mrcnn_mask_loss": 2}',    # merged into the default
        "JIT_COMPILE=true",                       # default None: JSON
    ], Config)
    assert values == {
        "IMAGES_PER_GPU": 3, "LEARNING_RATE": 5e-4, "GRADIENT_CLIP_NORM": 5.0, "USE_MINI_MASK": False,
        "BACKBONE": "resnet50", "RPN_ANCHOR_SCALES": [16, 32, 64, 128, 256], "MEAN_PIXEL": [120.0, 115.0, 100.5],
        "LOSS_WEIGHTS": {"rpn_class_loss": 1.0, "rpn_bbox_loss": 1.0, "mrcnn_class_loss": 1.0,
                         "mrcnn_bbox_loss": 1.0, "mrcnn_mask_loss": 2.0},
        "JIT_COMPILE": True,
    }
    assert type(values["IMAGES_PER_GPU"]) is int and type(values["GRADIENT_CLIP_NORM"]) is float
    assert type(values["MEAN_PIXEL"][0]) is float and type(values["RPN_ANCHOR_SCALES"][0]) is int


@pytest.mark.parametrize("text, expected", [
    ("true", True), ("Yes", True), ("on", True), ("1", True),
    ("false", False), ("NO", False), ("off", False), ("0", False),
])
def test_booleans_in_the_usual_spellings(text, expected):
    assert parse_config_overrides([f"USE_MINI_MASK={text}"], Config) == {"USE_MINI_MASK": expected}


def test_train_bn_takes_matterports_three_states():
    assert [parse_config_overrides([f"TRAIN_BN={text}"], Config)["TRAIN_BN"] for text in ("true", "off", "none")] \
        == [True, False, None]
    assert Config(NUM_CLASSES=2, **parse_config_overrides(["TRAIN_BN=None"], Config)).TRAIN_BN is None
    with pytest.raises(ConfigError, match="TRAIN_BN=maybe: expected true, false or none"):
        parse_config_overrides(["TRAIN_BN=maybe"], Config)
    with pytest.raises(ConfigError, match="USE_MINI_MASK=none: expected true or false"):
        parse_config_overrides(["USE_MINI_MASK=none"], Config)


def test_later_pairs_win_and_spaces_are_ignored():
    assert parse_config_overrides(["IMAGES_PER_GPU=2", " IMAGES_PER_GPU = 4 "], Config) == {"IMAGES_PER_GPU": 4}


def test_settings_without_a_default_take_json_or_text():
    assert parse_config_overrides(["JIT_COMPILE=null"], Config) == {"JIT_COMPILE": None}
    assert parse_config_overrides(["NAME=fashion2019"], Config) == {"NAME": "fashion2019"}


def test_a_subclass_adds_its_own_keys():
    class FashionLike(Config):
        NAME = "fashion"
        NUM_CLASSES = 47

    keys = config_keys(FashionLike)
    assert "NUM_CLASSES" in keys and "IMAGES_PER_GPU" in keys
    assert not {"BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE"} & set(keys)  # derived
    assert parse_config_overrides(["NUM_CLASSES=14"], FashionLike) == {"NUM_CLASSES": 14}


@pytest.mark.parametrize("pair, message", [
    ("IMAGES_PER_GPUS=2", "--set IMAGES_PER_GPUS: no such config value; did you mean IMAGES_PER_GPU?"),
    ("NO_SUCH_KEY=1", "--set NO_SUCH_KEY: no such config value"),
    ("BATCH_SIZE=8", "--set BATCH_SIZE: it is computed from IMAGES_PER_GPU and GPU_COUNT"),
    ("LEARNING_RATE", "--set 'LEARNING_RATE': write KEY=VALUE"),
    ("=3", "--set '=3': write KEY=VALUE"),
    ("IMAGES_PER_GPU=two", "--set IMAGES_PER_GPU=two: expected an integer (default 2)"),
    ("IMAGE_MAX_DIM=2.5", "--set IMAGE_MAX_DIM=2.5: expected an integer"),
    ("LEARNING_RATE=fast", "--set LEARNING_RATE=fast: expected a number"),
    ("USE_MINI_MASK=maybe", "--set USE_MINI_MASK=maybe: expected true or false"),
    ("RPN_ANCHOR_SCALES=16,x", "--set RPN_ANCHOR_SCALES=16,x: expected comma-separated integers"),
    ("RPN_ANCHOR_SCALES=16.5,32", "--set RPN_ANCHOR_SCALES=16.5,32: expected comma-separated integers"),
    ("MEAN_PIXEL=1,2,three", "--set MEAN_PIXEL=1,2,three: expected comma-separated numbers"),
    ("LOSS_WEIGHTS=[1]", "--set LOSS_WEIGHTS=[1]: expected a JSON object"),
    ("LOSS_WEIGHTS={bad", "--set LOSS_WEIGHTS={bad: expected a JSON object"),
    ('LOSS_WEIGHTS={"mask": 2}', "--set LOSS_WEIGHTS: unknown key(s) mask; known: rpn_class_loss"),
    ('LOSS_WEIGHTS={"mrcnn_mask_loss": "x"}', '--set LOSS_WEIGHTS: mrcnn_mask_loss="x", expected a number'),
    ('LOSS_WEIGHTS={"mrcnn_mask_loss": null}', "--set LOSS_WEIGHTS: mrcnn_mask_loss=null, expected a number"),
])
def test_bad_keys_and_values_are_refused_by_name(pair, message):
    with pytest.raises(ConfigError) as error:
        parse_config_overrides([pair], Config)
    assert str(error.value).startswith(message)
