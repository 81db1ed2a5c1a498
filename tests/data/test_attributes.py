"""Attribute targets: multi-hot vectors of both csv formats, the known/unknown rule, the counts, attributes.json."""

import json

import numpy as np
import pandas as pd
import pytest

from fashion_seg.data.attributes import CASES, AttributeTable, AttributeTargets
from fashion_seg.data.imaterialist import FashionDataset
from fashion_seg.data.labels import read_label_descriptions
from fashion_seg.data.train_csv import normalise_annotations
from fashion_seg.data.stats import compute_stats
from fashion_seg.errors import DataError

LABELS = read_label_descriptions()


def rows_2019(*instances):
    """``(image, class_id)`` pairs -> a 2019 table; every instance gets a 1-pixel mask."""
    return normalise_annotations(pd.DataFrame(
        [{"ImageId": image, "EncodedPixels": "1 1", "Height": "4", "Width": "4", "ClassId": class_id}
         for image, class_id in instances]))


def labels_2020(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({
        "categories": [{"id": 0, "name": "shirt"}, {"id": 1, "name": "shoe"}],
        "attributes": [{"id": 115, "name": "a"}, {"id": 136, "name": "b"}, {"id": 281, "name": "c"}],
    }))
    return read_label_descriptions(path)


def test_multi_hot_of_a_2019_class_id():
    annotations = rows_2019(("a.jpg", "10_3_14_20"), ("a.jpg", "23"))
    table = AttributeTable.from_annotations(annotations, LABELS)
    assert table.attribute_ids == tuple(range(92)) and table.category_attributes == {10: (3, 14, 20)}
    vectors, known = table.targets([10, 23], [(3, 14, 20), ()])
    assert vectors.shape == (2, 92) and vectors.dtype == np.float32
    assert np.flatnonzero(vectors[0]).tolist() == [3, 14, 20] and not vectors[1].any()
    assert known.tolist() == [True, False]  # a shoe (23) never carries attributes here


def test_multi_hot_of_2020_attribute_ids_uses_the_label_files_columns(tmp_path):
    labels = labels_2020(tmp_path)
    annotations = normalise_annotations(pd.DataFrame([
        {"ImageId": "x", "EncodedPixels": "1 1", "Height": "4", "Width": "4", "ClassId": "0",
         "AttributesIds": "281,115"},
        {"ImageId": "x", "EncodedPixels": "1 1", "Height": "4", "Width": "4", "ClassId": "0", "AttributesIds": ""},
    ]))
    assert annotations["ClassId"].tolist() == ["0_115_281", "0"]
    table = AttributeTable.from_annotations(annotations, labels)
    assert table.attribute_ids == (115, 136, 281) and table.columns == {115: 0, 136: 1, 281: 2}
    vectors, known = table.targets(annotations["CategoryId"].tolist(), annotations["AttributeIds"].tolist())
    assert vectors.tolist() == [[1, 0, 1], [0, 0, 0]] and known.tolist() == [True, True]


def test_the_rule_on_a_hand_built_table():
    table = AttributeTable(tuple(range(92)), {10: (3, 20), 6: (14,)})
    # image with attributes: a dress with, a dress without (known none), a shoe (category never attributed)
    assert table.instance_cases([10, 10, 23], [(3,), (), ()]) == ["with_attributes", "known_none",
                                                                   "never_attributed"]
    vectors, known = table.targets([10, 10, 23], [(3,), (), ()])
    assert known.tolist() == [True, True, False] and vectors.sum(axis=1).tolist() == [1, 0, 0]
    # image annotated with categories only: nothing is known
    assert table.instance_cases([10, 6, 23], [(), (), ()]) == ["unknown", "unknown", "never_attributed"]
    assert table.targets([10, 6, 23], [(), (), ()])[1].tolist() == [False, False, False]
    with pytest.raises(DataError, match="attribute id 95"):
        table.targets([10], [(95,)])


def test_counts_per_case_and_the_stats_summary():
    annotations = rows_2019(
        ("a.jpg", "10_3_20"), ("a.jpg", "10"), ("a.jpg", "23"),   # with, known none, never attributed
        ("b.jpg", "10"), ("b.jpg", "6"), ("b.jpg", "23"),          # unknown, never attributed (6: no attrs), never
        ("c.jpg", "6"),                                            # never attributed
    )
    table = AttributeTable.from_annotations(annotations, LABELS)
    assert table.count_cases(annotations) == {"with_attributes": 1, "known_none": 1, "unknown": 1,
                                              "never_attributed": 4}
    stats = compute_stats(annotations, LABELS)
    assert stats.attribute_cases == table.count_cases(annotations)
    assert ("attribute targets: 1 with attributes, 1 known none, 1 unknown, 4 never attributed"
            in stats.summary())
    assert list(stats.attribute_cases) == list(CASES)


def test_attributes_json_round_trip(tmp_path):
    table = AttributeTable(tuple(range(92)), {10: (3, 14, 20), 33: (50,)})
    path = tmp_path / "run" / "attributes.json"
    table.save_json(path)
    content = json.loads(path.read_text())
    assert content["attribute_ids"] == list(range(92))
    assert content["category_attributes"] == {"10": [3, 14, 20], "33": [50]}
    assert AttributeTable.load_json(path) == table
    assert [p.name for p in path.parent.iterdir()] == ["attributes.json"]  # no temporary file left
    path.write_text('{"attribute_ids": [1]}')
    with pytest.raises(DataError, match="attribute table .*category_attributes"):
        AttributeTable.load_json(path)


def test_dataset_targets_follow_load_mask_order(tmp_path):
    annotations = rows_2019(("a.jpg", "10_3_20"), ("a.jpg", "31"), ("a.jpg", "10"), ("b.jpg", "10"))
    dataset = FashionDataset(annotations, tmp_path, LABELS)
    targets = AttributeTargets(dataset)
    assert targets.table.category_attributes == {10: (3, 20)} and targets.num_attributes == 92
    vectors, known = targets(dataset.image_index("a.jpg"))
    assert np.array_equal(vectors.astype(bool), dataset.load_attributes(dataset.image_index("a.jpg")))
    assert known.tolist() == [True, False, True]
    assert targets(dataset.image_index("b.jpg"))[1].tolist() == [False]
