"""ClassIds with attributes: the composition rule, attributes.json and where prediction finds it."""

import json
import logging

import numpy as np
import pytest

from fashion_seg.prediction.class_ids import ClassIdComposer, composer_for_weights, find_attributes_file, read_attributes_json
from fashion_seg.data.labels import read_label_descriptions
from fashion_seg.errors import ConfigError, DataError

LABELS = read_label_descriptions()  # 2019: attribute 3 "mini (length)", 14 "zip-up" (opening type), 20 symmetrical
TABLE = {"attribute_ids": list(range(92)), "category_attributes": {"10": [20, 3, 14, 3], "31": []}}


def write_table(path, table=TABLE):
    path.write_text(json.dumps(table))
    return path


def composer():
    allowed = {int(category): ids for category, ids in TABLE["category_attributes"].items()}
    return ClassIdComposer.from_table(TABLE["attribute_ids"], allowed, LABELS)


def probabilities(**values):
    row = np.full(92, 0.1, np.float32)
    for key, value in values.items():
        row[int(key[1:])] = value
    return row


def test_attributes_above_threshold_seen_with_the_category_ascending_each_once():
    table = composer()
    rows = np.stack([probabilities(a20=0.6, a3=0.7, a14=0.2, a5=0.99),  # 5 (knee length) never seen with dresses
                     probabilities(a20=0.5, a3=0.49),                     # at the threshold: in
                     probabilities(a3=0.9),                               # sleeves carry no attribute
                     probabilities(a3=0.9)])                              # a category missing from the table
    thresholds = table.thresholds(0.5)
    assert table.compose([10, 10, 31, 4], rows, thresholds) == ["10_3_20", "10_20", "31", "4"]
    assert table.compose([10], rows[:1], thresholds, category_only=[10]) == ["10"]
    assert table.compose([10], rows[:1], table.thresholds(0.5, {"length": 0.8})) == ["10_20"]
    assert table.attribute_categories == (10,) and table.allowed_ids(10) == (3, 14, 20)
    assert table.groups() == ("length", "opening type", "silhouette")
    with pytest.raises(ConfigError, match=r"predicts \(5,\) attributes per detection but attribute table names 92"):
        table.compose([10], np.zeros((1, 5)), thresholds)


def test_attributes_json_is_read_and_bad_files_are_named(tmp_path):
    ids, allowed = read_attributes_json(write_table(tmp_path / "attributes.json"))
    assert ids == tuple(range(92)) and allowed == {10: (3, 14, 20), 31: ()}
    loaded = ClassIdComposer.load(tmp_path / "attributes.json", LABELS)
    assert loaded.digest() == composer().digest() and loaded.source == str(tmp_path / "attributes.json")
    with pytest.raises(DataError, match=f"attribute file {tmp_path / 'missing.json'} does not exist"):
        read_attributes_json(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DataError, match="broken.json is not valid JSON"):
        read_attributes_json(tmp_path / "broken.json")
    bad = write_table(tmp_path / "bad.json", {"attribute_ids": [0, 1]})
    with pytest.raises(DataError, match="bad.json: expected .*KeyError"):
        read_attributes_json(bad)
    bad = write_table(tmp_path / "bad.json", {"attribute_ids": [0, 1], "category_attributes": {"10": [7]}})
    with pytest.raises(DataError, match=r"bad.json: category_attributes name ids \[7\] not in attribute_ids"):
        read_attributes_json(bad)
    bad = write_table(tmp_path / "bad.json", {"attribute_ids": [0, 400], "category_attributes": {}})
    with pytest.raises(DataError, match=r"bad.json: attribute ids \[400\] are not in"):
        ClassIdComposer.load(bad, LABELS)


def test_the_file_is_found_beside_the_weights_or_in_their_run_directory(tmp_path, caplog):
    run = tmp_path / "logs" / "fashion20260101T120000"
    (run / "best").mkdir(parents=True)
    beside, nested = run / "mask_rcnn_fashion_0003.h5", run / "best" / "mask_rcnn_fashion_0002.h5"
    beside.write_bytes(b"h5")
    nested.write_bytes(b"h5")
    assert find_attributes_file(beside) is None
    write_table(run / "attributes.json")
    assert find_attributes_file(beside) == run / "attributes.json" == find_attributes_file(nested)

    assert composer_for_weights([beside, nested], LABELS, 92).digest() == composer().digest()
    with pytest.raises(ConfigError, match="names 92 attributes but the model's attribute head predicts 294"):
        composer_for_weights([beside], LABELS, 294)
    with caplog.at_level(logging.WARNING):
        assert composer_for_weights([beside], LABELS, None) is None  # no attribute head: categories, as before
    assert "the model has no attribute head" in caplog.text

    caplog.clear()
    lonely = tmp_path / "elsewhere" / "weights.h5"
    lonely.parent.mkdir()
    lonely.write_bytes(b"h5")
    with caplog.at_level(logging.WARNING):
        assert composer_for_weights([lonely], LABELS, 92) is None
    assert f"the model has an attribute head but no attributes.json is beside {lonely}" in caplog.text

    write_table(lonely.parent / "attributes.json", {**TABLE, "category_attributes": {"10": [3]}})
    with pytest.raises(ConfigError, match="trained with different attribute tables"):
        composer_for_weights([beside, lonely], LABELS, 92)
