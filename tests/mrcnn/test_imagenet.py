"""ImageNet starting weights: Keras Applications' ResNet weights mapped onto matterport's layer names.

No download: the tests build ``keras.applications.ResNet50(weights=None)``, give its BatchNorms non-trivial
statistics, save its weights, and convert that file exactly as the downloaded ImageNet file would be converted.
"""

import keras
import numpy as np
import pytest

from fashion_seg.errors import WeightsError
from fashion_seg.mrcnn import imagenet
from fashion_seg.mrcnn.backbone import build_resnet_model
from fashion_seg.mrcnn.imagenet import convert_keras_resnet, imagenet_weights_path, matterport_layer_name
from fashion_seg.mrcnn.weights import load_weights


@pytest.fixture(scope="module")
def keras_resnet50(tmp_path_factory):
    """A Keras Applications ResNet50 with random weights and BatchNorm statistics, and its weights file."""
    model = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(None, None, 3))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.weights[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.1, channels),
                               rng.normal(0, 0.1, channels), rng.uniform(1e-4, 2.0, channels)])
    path = tmp_path_factory.mktemp("keras") / "resnet50.weights.h5"
    model.save_weights(path)
    return model, path


def test_layer_names_map_like_matterports():
    assert matterport_layer_name("conv1_conv") == "conv1"
    assert matterport_layer_name("conv1_bn") == "bn_conv1"
    assert matterport_layer_name("conv2_block1_0_conv") == "res2a_branch1"
    assert matterport_layer_name("conv3_block4_2_bn") == "bn3d_branch2b"
    assert matterport_layer_name("conv4_block23_3_conv") == "res4w_branch2c"
    assert matterport_layer_name("conv5_block3_out") is None


def _outputs(inputs, outputs, x):
    results = keras.Model(inputs, outputs)(x)
    return [np.asarray(y) for y in (results if isinstance(results, (list, tuple)) else [results])]


def test_converted_file_reproduces_keras_resnet50_where_the_architectures_coincide(keras_resnet50, tmp_path):
    source, source_path = keras_resnet50
    path = imagenet_weights_path("resnet50", cache_dir=tmp_path, source=source_path)
    ours = build_resnet_model("resnet50")
    report = load_weights(ours, path, by_name=True)
    assert len(report.loaded) == 106 and not report.missing_in_file

    x = np.random.default_rng(1).normal(0, 50, (1, 64, 96, 3)).astype(np.float32)
    # stem: the same 7x7/2 conv and the same normalisation, although the epsilons differ
    keras_norm = _outputs(source.input, [source.get_layer("conv1_bn").output], x)[0]
    our_norm = _outputs(ours.input, [ours.get_layer("bn_conv1").output], x)[0]
    np.testing.assert_allclose(our_norm, keras_norm, rtol=1e-4, atol=1e-3)
    # the four stages, fed the same pooled stem output (the stems' max-pools are aligned differently)
    pooled = _outputs(source.input, [source.get_layer("pool1_pool").output], x)[0]
    our_pool = next(layer for layer in ours.layers if isinstance(layer, keras.layers.MaxPooling2D))
    keras_stages = _outputs(source.get_layer("pool1_pool").output,
                            [source.get_layer(f"conv{s}_out").output
                             for s in ("2_block3", "3_block4", "4_block6", "5_block3")], pooled)
    our_stages = _outputs(our_pool.output, [ours.get_layer(f"res{s}_out").output
                                                  for s in ("2c", "3d", "4f", "5c")], pooled)
    for our, theirs in zip(our_stages, keras_stages):
        assert our.shape == theirs.shape
        assert np.abs(our - theirs).max() <= 1e-4 * np.abs(theirs).max()


def test_resnet101_maps_every_layer():
    source = keras.applications.ResNet101(weights=None, include_top=False, input_shape=(None, None, 3))
    converted = convert_keras_resnet(source, "resnet101")
    np.testing.assert_array_equal(converted.get_layer("res4w_branch2c").get_weights()[0],
                                  source.get_layer("conv4_block23_3_conv").get_weights()[0])


def test_offline_and_unsupported_backbones_raise_clear_errors(monkeypatch, tmp_path):
    def offline(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3]")

    monkeypatch.setattr(keras.applications, "ResNet50", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    with pytest.raises(WeightsError, match="place it at .*keras_home/models/resnet50_weights_tf_dim_ordering"):
        imagenet_weights_path("resnet50", cache_dir=tmp_path)
    with pytest.raises(WeightsError, match="resnet_tiny"):
        imagenet.keras_resnet("resnet_tiny")
    with pytest.raises(WeightsError, match="does not exist"):
        imagenet_weights_path("resnet50", cache_dir=tmp_path, source=tmp_path / "missing.h5")
