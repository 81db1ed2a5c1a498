"""Evaluation: the competition metric and COCO mask AP (:mod:`.metrics`), attribute precision / recall / F1 per
attribute supercategory (:mod:`.attribute_metrics`), and a submission scored against truth with its per-category
table and truth | prediction pictures (:mod:`.evaluate`)."""
