"""Reading and writing matterport-layout h5 weight files, and the checked COCO download.

The model here is small but has every kind of layer the real one stores: plain convs and BatchNorms, the nested
``rpn_model``, and TimeDistributed head layers (two of which depend on the class count). Files in Keras 2's layout
are written by ``write_keras2_h5`` below, directly with h5py, independently of the code under test.
"""

import urllib.error

import h5py
import keras
import numpy as np
import pytest

from fashion_seg.errors import WeightsError
from fashion_seg.mrcnn import weights
from fashion_seg.mrcnn.batch_norm import BatchNorm
from fashion_seg.mrcnn.time_distributed import TimeDistributed
from fashion_seg.mrcnn.rpn import build_rpn_model
from fashion_seg.mrcnn.weights import CLASS_SPECIFIC_LAYERS, load_weights, save_weights, weight_layers


def small_model(num_classes=3, seed=0):
    """conv1 + bn_conv1 + rpn_model + TimeDistributed mrcnn_class_conv1 / mrcnn_class_logits / mrcnn_bbox_fc."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((32, 32, 3), name="input_image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(image)
    x = BatchNorm(False, name="bn_conv1")(x)
    _, _, rpn_bbox = build_rpn_model(1, 3, 8, conv_filters=4)(x)
    rois = keras.Input((5, 4, 4, 8), name="rois")
    y = TimeDistributed(keras.layers.Conv2D(6, 4, name="mrcnn_class_conv1"), name="mrcnn_class_conv1")(rois)
    y = keras.layers.Reshape((5, 6))(y)
    logits = TimeDistributed(keras.layers.Dense(num_classes), name="mrcnn_class_logits")(y)
    bbox = TimeDistributed(keras.layers.Dense(4 * num_classes), name="mrcnn_bbox_fc")(y)
    model = keras.Model([image, rois], [rpn_bbox, logits, bbox])
    for variable in model.weights:  # moving statistics start as 0/1 constants; make every value distinctive
        variable.assign(np.random.default_rng(seed).normal(size=variable.shape).astype("float32") + 1.0)
    return model


def keras2_layers(model):
    """``{layer: [(weight name, array)]}`` as matterport's Keras 2 would name them."""
    return {entry.name: [(name, keras.ops.convert_to_numpy(v)) for name, v in zip(entry.weight_names,
                                                                                   entry.variables)]
            for entry in weight_layers(model)}


def write_keras2_h5(path, layers, str_attributes=False, model_save=False, weightless=("input_image", "activation_1")):
    """A file in Keras 2.2.4's save_weights (or model.save) layout, weightless layers included."""
    def names(values):
        return np.array(values, dtype=h5py.string_dtype()) if str_attributes else np.array([v.encode() for v in values])

    with h5py.File(path, "w") as handle:
        root = handle.create_group("model_weights") if model_save else handle
        if model_save:
            handle.attrs["model_config"] = b"{}"
        order = list(weightless[:1]) + list(layers) + list(weightless[1:])
        root.attrs["layer_names"] = names(order)
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.2.4"
        for name in order:
            group = root.create_group(name)
            if name in weightless:
                group.attrs["weight_names"] = np.array([], dtype=np.float64)
                continue
            group.attrs["weight_names"] = names([weight_name for weight_name, _ in layers[name]])
            for weight_name, array in layers[name]:
                group.create_dataset(weight_name, data=array)


def assert_same_weights(model_a, model_b, skip=()):
    for a, b in zip(weight_layers(model_a), weight_layers(model_b)):
        assert a.name == b.name
        if a.name in skip:
            continue
        for name, va, vb in zip(a.weight_names, a.variables, b.variables):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(va), keras.ops.convert_to_numpy(vb), name)


@pytest.mark.jax
def test_save_then_load_round_trips_in_matterports_layout(tmp_path):
    source, target = small_model(seed=0), small_model(seed=1)
    path = save_weights(source, tmp_path / "weights.h5")
    with h5py.File(path, "r") as handle:
        layer_names = [n.decode() for n in handle.attrs["layer_names"]]
        assert layer_names == [entry.name for entry in weight_layers(source)]  # model order
        assert sorted(layer_names) == ["bn_conv1", "conv1", "mrcnn_bbox_fc", "mrcnn_class_conv1",
                                       "mrcnn_class_logits", "rpn_model"]
        assert handle["conv1/conv1/kernel:0"].shape == (3, 3, 3, 8)
        assert [n.decode() for n in handle["bn_conv1"].attrs["weight_names"]] == [
            "bn_conv1/gamma:0", "bn_conv1/beta:0", "bn_conv1/moving_mean:0", "bn_conv1/moving_variance:0"]
        assert handle["rpn_model/rpn_conv_shared/kernel:0"].shape == (3, 3, 8, 4)
        assert handle["rpn_model/rpn_bbox_pred/bias:0"].shape == (12,)
        assert handle["mrcnn_class_conv1/mrcnn_class_conv1/kernel:0"].shape == (4, 4, 8, 6)
        assert handle["mrcnn_bbox_fc/mrcnn_bbox_fc/kernel:0"].dtype == np.float32
    assert list(tmp_path.iterdir()) == [path]  # written atomically: no temporary file left behind
    report = load_weights(target, path, by_name=True)
    assert report.loaded == [entry.name for entry in weight_layers(source)]
    assert_same_weights(source, target)
    load_weights(small_model(seed=2), path, by_name=False)


@pytest.mark.parametrize("str_attributes", [False, True], ids=["bytes", "str"])
@pytest.mark.parametrize("model_save", [False, True], ids=["save_weights", "model.save"])
@pytest.mark.parametrize("by_name", [True, False])
def test_loads_keras2_files(tmp_path, str_attributes, model_save, by_name):
    source, target = small_model(seed=0), small_model(seed=1)
    path = tmp_path / "keras2.h5"
    write_keras2_h5(path, keras2_layers(source), str_attributes=str_attributes, model_save=model_save)
    load_weights(target, path, by_name=by_name)
    assert_same_weights(source, target)


def test_by_name_reports_layers_missing_on_either_side(tmp_path):
    layers = keras2_layers(small_model(seed=0))
    layers["fpn_c5p5"] = [("fpn_c5p5/kernel:0", np.zeros((1, 1, 4, 4), np.float32))]
    del layers["mrcnn_class_conv1"]
    path = tmp_path / "partial.h5"
    write_keras2_h5(path, layers)
    target = small_model(seed=1)
    before = keras.ops.convert_to_numpy(target.get_layer("mrcnn_class_conv1").weights[0])
    report = load_weights(target, path, by_name=True)
    assert report.missing_in_file == ["mrcnn_class_conv1"]
    assert report.unused_in_file == ["fpn_c5p5"]
    assert "not in the file (left as they were): mrcnn_class_conv1" in report.summary()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(target.get_layer("mrcnn_class_conv1").weights[0]),
                                  before)


def test_other_class_count_needs_the_exclude_list(tmp_path):
    path = tmp_path / "five_classes.h5"
    write_keras2_h5(path, keras2_layers(small_model(num_classes=5, seed=0)))
    target = small_model(num_classes=3, seed=1)
    untouched = [keras.ops.convert_to_numpy(v).copy() for v in target.weights]
    with pytest.raises(WeightsError) as error:
        load_weights(target, path, by_name=True)
    message = str(error.value)
    assert "mrcnn_class_logits" in message and "mrcnn_bbox_fc" in message and "(6, 5)" in message
    assert "exclude=" in message and "mrcnn_mask" in message
    for before, variable in zip(untouched, target.weights):  # a refused load changes nothing
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(variable))

    report = load_weights(target, path, by_name=True, exclude=CLASS_SPECIFIC_LAYERS)
    assert report.excluded == ["mrcnn_class_logits", "mrcnn_bbox_fc"]
    assert_same_weights(small_model(num_classes=5, seed=0), target, skip=CLASS_SPECIFIC_LAYERS)


def test_by_position_needs_equal_layer_counts(tmp_path):
    layers = keras2_layers(small_model(seed=0))
    del layers["bn_conv1"]
    path = tmp_path / "short.h5"
    write_keras2_h5(path, layers)
    with pytest.raises(WeightsError, match=r"holds 5 weight layers but the model has 6.*'bn_conv1'.*by_name=True"):
        load_weights(small_model(seed=1), path, by_name=False)


def test_missing_truncated_and_foreign_files_are_clear_errors(tmp_path):
    model = small_model()
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights(model, tmp_path / "nowhere.h5")
    path = save_weights(model, tmp_path / "whole.h5")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        load_weights(model, truncated, by_name=True)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as handle:
        handle.create_dataset("x", data=np.zeros(3))
    with pytest.raises(WeightsError, match="no 'layer_names'"):
        load_weights(model, foreign)


# ------------------------------------------------------------------------------------------------- downloads
def test_fetch_file_downloads_checks_and_caches(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"weights" * 1000)
    size, md5 = source.stat().st_size, weights.file_md5(source)
    target = tmp_path / "cache" / "weights.bin"
    assert weights.fetch_file(source.as_uri(), target, size, md5, progress=False) == target
    assert target.read_bytes() == source.read_bytes()
    source.unlink()  # the second call uses the cached, checked copy
    assert weights.fetch_file(source.as_uri(), target, size, md5, progress=False) == target


def test_fetch_file_refuses_a_corrupt_download_and_a_corrupt_cached_file(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"x" * 100)
    target = tmp_path / "cache" / "weights.bin"
    with pytest.raises(WeightsError, match="md5"):
        weights.fetch_file(source.as_uri(), target, 100, "0" * 32, progress=False)
    assert not target.exists() and list(target.parent.iterdir()) == []
    target.write_bytes(b"y" * 99)
    with pytest.raises(WeightsError, match="99 bytes, expected 100.*delete it"):
        weights.fetch_file(source.as_uri(), target, 100, "0" * 32, progress=False)


def test_offline_coco_download_says_where_to_put_the_file(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(weights.urllib.request, "urlopen", offline)
    monkeypatch.setenv("FASHION_SEG_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsError) as error:
        weights.coco_weights_path(progress=False)
    message = str(error.value)
    assert weights.COCO_WEIGHTS_URL in message and "no network" in message
    assert str(tmp_path / "cache" / "mask_rcnn_coco.h5") in message and weights.COCO_WEIGHTS_MD5 in message
