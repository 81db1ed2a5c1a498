"""What attributes cost and gain: the category-only score, and attribute precision / recall / F1 per supercategory.

The competition metric (:mod:`fashion_seg.evaluation.metrics`) matches ClassId strings exactly, so a dress with one wrong
attribute scores like a missed dress plus a false one. Two measures separate the masks from the attributes:

- :func:`strip_attributes` maps every ClassId to its category (``"10_3_14"`` -> ``"10"``); the competition metric
  of both sides stripped is the score the masks and categories alone would get.
- :func:`attribute_scores` matches true and predicted instances by category and mask only: within one image, a
  true and a predicted instance of the same category match when their mask IoU is > 0.5, greedily by decreasing IoU,
  one to one (:func:`fashion_seg.evaluation.metrics.greedy_matches`); their attributes play no part in matching. Over the
  matched pairs, for each attribute supercategory of ``label_descriptions.json`` (length, opening type, silhouette,
  textile finishing..., textile pattern, animal, waistline): an attribute on both sides is correct (a true
  positive), one only predicted is a false positive, one only true a false negative. Counts are summed over the
  supercategory's attributes (micro average); precision = correct / predicted, recall = correct / true,
  F1 = 2 correct / (true + predicted) (= 2 P R / (P + R), and 0 when nothing is correct); NaN where a denominator
  is 0. Unmatched instances are the competition metric's business and are not counted here.

Inputs are those of :func:`fashion_seg.evaluation.metrics.score_instances`: ImageId -> list of ``(pycocotools RLE, ClassId
string[, score])``, the masks of one image of one size. Empty masks are not instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import pycocotools.mask as coco_mask

from ..data.labels import LabelDescriptions, parse_class_id
from ..errors import DataError
from .metrics import Instance, greedy_matches

MATCH_IOU = 0.5
ALL = "all"


def strip_attributes(instances: Mapping[str, Sequence[Instance]]) -> dict[str, list[Instance]]:
    """The same instances with category-only ClassIds (``"10_3_14"`` -> ``"10"``); masks and scores unchanged."""
    return {image_id: [(i[0], str(parse_class_id(str(i[1]))[0]), *i[2:]) for i in items]
            for image_id, items in instances.items()}


def matched_class_ids(
    truth: Mapping[str, Sequence[Instance]], predictions: Mapping[str, Sequence[Instance]]
) -> list[tuple[str, str]]:
    """``(true ClassId, predicted ClassId)`` of every matched pair (same image, same category, IoU > 0.5, greedy by
    IoU), in image order of ``truth``, then category, then decreasing IoU."""
    pairs = []
    for image_id, true_items in truth.items():
        true_by_category = _by_category(true_items)
        pred_by_category = _by_category(predictions.get(image_id, ()))
        for category in sorted(set(true_by_category) & set(pred_by_category)):
            true_masks, true_ids = zip(*true_by_category[category])
            pred_masks, pred_ids = zip(*pred_by_category[category])
            iou = np.asarray(coco_mask.iou(list(pred_masks), list(true_masks), [0] * len(true_masks)))
            iou = iou.reshape(len(pred_masks), len(true_masks))
            pairs.extend((true_ids[t], pred_ids[p]) for p, t in greedy_matches(iou, MATCH_IOU))
    return pairs


def _by_category(instances: Sequence[Instance]) -> dict[int, list[tuple[dict, str]]]:
    grouped: dict[int, list[tuple[dict, str]]] = {}
    for instance in instances:
        if coco_mask.area(instance[0]) > 0:
            class_id = str(instance[1])
            grouped.setdefault(parse_class_id(class_id)[0], []).append((instance[0], class_id))
    return grouped


@dataclass(frozen=True)
class AttributeScores:
    """:func:`attribute_scores`' result.

    ``table``: one row per supercategory of the label file (file order) and a last row ``"all"``; columns
    ``supercategory``, ``true``, ``predicted``, ``correct`` (attribute counts over matched pairs), ``precision``,
    ``recall``, ``f1``. ``true_with_attributes``: true instances whose ClassId carries attributes;
    ``matched_with_attributes``: how many of them were matched; ``matched``: all matched pairs.
    """

    table: pd.DataFrame
    matched: int
    true_with_attributes: int
    matched_with_attributes: int


def attribute_scores(
    truth: Mapping[str, Sequence[Instance]],
    predictions: Mapping[str, Sequence[Instance]],
    labels: LabelDescriptions,
) -> AttributeScores:
    """Attribute precision / recall / F1 per supercategory over matched instances (see the module docstring).

    An attribute id that ``labels`` does not list raises :class:`DataError` naming it.
    """
    supercategory = {a["id"]: a["supercategory"] for a in labels.attributes}
    names = list(dict.fromkeys(supercategory.values()))
    counts = {name: np.zeros(3, np.int64) for name in names + [ALL]}  # true, predicted, correct

    def attributes_of(class_id: str) -> set[int]:
        _, attributes = parse_class_id(class_id)
        for attribute in attributes:
            if attribute not in supercategory:
                raise DataError(f"ClassId {class_id!r}: attribute id {attribute} is not in "
                                f"{labels.path or 'the label descriptions'}")
        return set(attributes)

    pairs = matched_class_ids(truth, predictions)
    for true_id, pred_id in pairs:
        true, predicted = attributes_of(true_id), attributes_of(pred_id)
        for attribute in true | predicted:
            row = np.array([attribute in true, attribute in predicted, attribute in true and attribute in predicted])
            counts[supercategory[attribute]] += row
            counts[ALL] += row
    rows = []
    for name, (true_count, predicted_count, correct) in counts.items():
        precision = correct / predicted_count if predicted_count else np.nan
        recall = correct / true_count if true_count else np.nan
        f1 = 2 * correct / (true_count + predicted_count) if true_count + predicted_count else np.nan
        rows.append((name, int(true_count), int(predicted_count), int(correct), precision, recall, f1))
    table = pd.DataFrame(rows, columns=["supercategory", "true", "predicted", "correct", "precision", "recall", "f1"])
    with_attributes = sum(1 for items in truth.values() for i in items
                          if coco_mask.area(i[0]) > 0 and parse_class_id(str(i[1]))[1])
    matched_with_attributes = sum(1 for true_id, _ in pairs if parse_class_id(true_id)[1])
    return AttributeScores(table, len(pairs), with_attributes, matched_with_attributes)
