"""``train.py --set ATTRIBUTE_HEAD=true``: the run trains the attribute head, logs its loss, follows the label file's
attribute count and writes ``attributes.json`` (the training images' table) beside its checkpoints."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd

from fashion_seg.data.attributes import AttributeTable
from fashion_seg.data.labels import read_label_descriptions
from fashion_seg.data.train_csv import read_train_csv
from fashion_seg.data.split import read_split
from fashion_seg.plots import loss_curves
from fashion_seg.trainer.history import HistoryFile


def test_a_run_with_the_attribute_head(tiny_demo, make_profile, train_script, read_checkpoint, tmp_path):
    keras.utils.set_random_seed(0)
    logs = tmp_path / "logs"
    script = train_script(make_profile(tiny_demo, "heads:1,all:1"))
    code, _, err = script("--weights", "none", "--profile", "tiny", "--model-dir", logs,
                          "--set", "ATTRIBUTE_HEAD=true", "--set", "NUM_ATTRIBUTES=7")
    assert code == 0, err
    (run_dir,) = logs.iterdir()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["ATTRIBUTE_HEAD"] is True and config["NUM_ATTRIBUTES"] == 92  # the label file's count, not 7

    table = AttributeTable.load_json(run_dir / "attributes.json")
    assert table.attribute_ids == tuple(range(92))
    train_ids, _ = read_split(run_dir / "split")
    annotations = read_train_csv(tiny_demo / "train.csv")
    expected = AttributeTable.from_annotations(annotations[annotations["ImageId"].isin(set(train_ids))],
                                               read_label_descriptions())
    assert table == expected and table.category_attributes  # the demo's dresses, skirts, pants carry attributes

    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) == 2
    assert np.isfinite(history[["mrcnn_attr_loss", "val_mrcnn_attr_loss"]].to_numpy()).all()
    # often zero here: 2 steps of an untrained RPN rarely give a positive ROI (that the head learns is
    # test_attribute_learning.py's)
    assert (history[["mrcnn_attr_loss", "val_mrcnn_attr_loss"]] >= 0).all().all()
    kernel, bias = read_checkpoint(run_dir / "mask_rcnn_tiny_0002.h5")["mrcnn_attr_logits"]
    assert kernel.shape == (64, 92) and bias.shape == (92,)


def test_history_and_curve_have_the_attribute_loss_only_when_trained_with_it(tmp_path):
    row = {"epoch": 1, "stage": 1, "layers": "heads", "learning_rate": 0.01, "loss": 2.0, "val_loss": 2.5,
           "seconds": 1.0, "images_per_second": 3.0}
    without = HistoryFile(tmp_path / "without.csv")
    without.append(row)
    assert "mrcnn_attr_loss" not in pd.read_csv(without.path).columns
    with_head = HistoryFile(tmp_path / "with.csv")
    with_head.append({**row, "mrcnn_attr_loss": 0.7, "val_mrcnn_attr_loss": 0.8})
    frame = with_head.append({**row, "epoch": 2, "mrcnn_attr_loss": 0.5, "val_mrcnn_attr_loss": 0.6})
    assert pd.read_csv(with_head.path)["mrcnn_attr_loss"].tolist() == [0.7, 0.5]
    assert loss_curves(frame, tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")


def test_starting_weights_with_another_attribute_count_leave_the_attribute_head_fresh(tiny_config, tmp_path):
    from fashion_seg.mrcnn.model import MaskRCNN
    from fashion_seg.mrcnn.weights import load_weights, save_weights
    from fashion_seg.trainer.starting_weights import class_specific_mismatches

    file_model = MaskRCNN("inference", tiny_config(ATTRIBUTE_HEAD=True, NUM_ATTRIBUTES=5), tmp_path).keras_model
    path = save_weights(file_model, tmp_path / "five_attributes.h5")
    model = MaskRCNN("inference", tiny_config(ATTRIBUTE_HEAD=True), tmp_path).keras_model
    assert class_specific_mismatches(model, path) == ["mrcnn_attr_logits"]
    report = load_weights(model, path, by_name=True, exclude=class_specific_mismatches(model, path))
    assert report.excluded == ["mrcnn_attr_logits"] and "mrcnn_class_logits" in report.loaded
    assert class_specific_mismatches(file_model, path) == []
