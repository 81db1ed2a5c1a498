"""Our graph reproduces real matterport, stage by stage, from matterport's own weights file.

shared/reference_model holds weights written by matterport's code (TF 1.15 / Keras 2.2.4; resnet50, 47 classes,
256x256) and that model's outputs for two photos. Tolerances and matching rules are the bundle README's
("Recommended tolerances"): dense maps to 1e-4; proposals and detections compared as sets (float32 near-ties may
reorder rows); ROIs touching the bottom/right border are knife edges of TF's crop_and_resize (our ROIAlign emulates
its arithmetic, so they are held to the same tolerance, with a small allowance).
"""

import keras
import numpy as np
import pytest
from PIL import Image

from fashion_seg.mrcnn.inference_graph import INFERENCE_OUTPUT_NAMES
from fashion_seg.mrcnn.model import MaskRCNN
from fashion_seg.mrcnn.predictor import CompiledPredictor

BACKBONE_AND_FPN = ["res2c_out", "res3d_out", "res4f_out", "res5c_out", "fpn_p2", "fpn_p3", "fpn_p4", "fpn_p5",
                    "fpn_p6"]


@pytest.fixture(scope="module")
def reference_model(reference_config_class, reference_weights_path, tmp_path_factory):
    model = MaskRCNN("inference", reference_config_class(), tmp_path_factory.mktemp("logs"))
    report = model.load_weights(reference_weights_path, by_name=True)
    assert len(report.loaded) == 131 and not report.missing_in_file and not report.unused_in_file
    return model


def network_inputs(reference):
    return (reference["molded_image"].astype(np.float32), reference["image_meta"].astype(np.float32),
            reference["anchors"])


@pytest.fixture(scope="module")
def our_outputs(reference_model, reference_outputs):
    """Our tensors for both images, from the stored molded inputs: the named stages plus the seven model outputs."""
    graph = reference_model.keras_model
    stages = keras.Model(graph.inputs, [graph.get_layer(name).output for name in BACKBONE_AND_FPN] + graph.outputs)
    predictor = CompiledPredictor(stages)
    names = BACKBONE_AND_FPN + list(INFERENCE_OUTPUT_NAMES)
    return [dict(zip(names, predictor(*network_inputs(reference)))) for reference in reference_outputs]


def touches_border(boxes):
    """ROIs clipped to the bottom or right image border: TF crop_and_resize's knife edge."""
    return (boxes[:, 2] == 1.0) | (boxes[:, 3] == 1.0)


def match_rows(ours, reference, tolerance):
    """For each reference box, the index of our box within ``tolerance`` (max coordinate difference), or -1."""
    distance = np.abs(reference[:, None, :] - ours[None, :, :]).max(-1)
    nearest = distance.argmin(1)
    return np.where(distance[np.arange(len(reference)), nearest] <= tolerance, nearest, -1)


def test_backbone_fpn_and_rpn_maps(our_outputs, reference_outputs):
    for ours, reference in zip(our_outputs, reference_outputs):
        for name in BACKBONE_AND_FPN + ["rpn_bbox"]:
            np.testing.assert_allclose(ours[name], reference[name], rtol=1e-4, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(ours["rpn_class"], reference["rpn_class"], atol=1e-5)


def test_proposals_are_the_same_set_of_boxes(our_outputs, reference_outputs):
    for ours, reference in zip(our_outputs, reference_outputs):
        matched = match_rows(ours["ROI"][0], reference["ROI"][0], 1e-5)
        assert (matched >= 0).all(), f"{(matched < 0).sum()} reference ROIs have no counterpart"
        assert len(set(matched)) == 1000  # one to one
        assert (matched == np.arange(1000)).sum() >= 980  # only near-ties change places


def test_classifier_head_on_the_reference_rois(reference_model, reference_outputs):
    graph = reference_model.graph
    rois = keras.Input((None, 4), name="reference_rois")
    _, probs, deltas = graph.classifier(rois, graph.input_image_meta, graph.feature_maps)
    predictor = CompiledPredictor(keras.Model([graph.input_image, graph.input_image_meta, rois], [probs, deltas]))
    for reference in reference_outputs:
        molded, meta, _ = network_inputs(reference)
        probs, deltas = predictor(molded, meta, reference["ROI"])
        class_error = np.abs(probs - reference["mrcnn_class"])[0].max(-1)
        bbox_error = np.abs(deltas - reference["mrcnn_bbox"])[0].max((-1, -2))
        border = touches_border(reference["ROI"][0])
        assert class_error[~border].max() <= 1e-4 and bbox_error[~border].max() <= 5e-4
        assert ((class_error > 1e-4) | (bbox_error > 5e-4))[border].sum() <= 5


def match_detections(boxes, class_ids, reference_boxes, reference_class_ids, tolerance):
    """Greedy one-to-one matching of reference detections to ours: same class, every box coordinate within
    ``tolerance``, closest first. (Not by IoU: a tenth of the detections are zero-height boxes in the padding.)
    Returns pairs ``(reference_row, our_row)``."""
    distance = np.abs(np.asarray(reference_boxes, float)[:, None] - np.asarray(boxes, float)[None]).max(-1)
    distance[np.asarray(reference_class_ids)[:, None] != np.asarray(class_ids)[None, :]] = np.inf
    pairs, used = [], set()
    for row in range(len(reference_boxes)):
        for candidate in np.argsort(distance[row]):
            if distance[row, candidate] > tolerance:
                break
            if candidate not in used:
                used.add(candidate)
                pairs.append((row, int(candidate)))
                break
    return pairs


def detections_match(detections, masks, reference):
    """The reference's detection checks: >= 95 of 100 matched; score, box and 28x28 mask within tolerance for
    matches whose ROI does not touch the border."""
    reference_detections = reference["mrcnn_detection"][0]
    pairs = match_detections(detections[:, :4], detections[:, 4], reference_detections[:, :4],
                             reference_detections[:, 4], 1e-4)
    assert len(pairs) >= 95
    border = touches_border(reference["ROI"][0][reference["det_roi_ix"]])
    rows = np.array([(r, o) for r, o in pairs if not border[r]])
    np.testing.assert_allclose(detections[rows[:, 1], 5], reference_detections[rows[:, 0], 5], atol=1e-4)
    np.testing.assert_allclose(detections[rows[:, 1], :4], reference_detections[rows[:, 0], :4], atol=1e-5)
    np.testing.assert_allclose(masks[rows[:, 1]], reference["mrcnn_mask_det_class"][rows[:, 0]], atol=1e-4)


def test_detections_and_their_masks(our_outputs, reference_outputs):
    for ours, reference in zip(our_outputs, reference_outputs):
        detections = ours["mrcnn_detection"][0]
        class_ids = detections[:, 4].astype(int)
        masks = np.take_along_axis(ours["mrcnn_mask"][0], class_ids[:, None, None, None], axis=-1)[..., 0]
        detections_match(detections, masks, reference)


@pytest.mark.jax
def test_raw_detections_on_the_molded_inputs(reference_model, reference_outputs):
    for reference in reference_outputs:
        molded, meta, _ = network_inputs(reference)
        raw = reference_model.raw_detections(molded, meta)
        detections_match(raw.detections[0], raw.masks[0], reference)


def reference_detect_results(reference):
    shape = reference["detect_masks_shape"]
    masks = np.unpackbits(reference["detect_masks_packed"], count=int(np.prod(shape))).reshape(shape).astype(bool)
    return reference["detect_rois"], reference["detect_class_ids"], reference["detect_scores"], masks


def compare_detect(result, reference):
    """Match our detect() result to matterport's (same class, rois within 1 px); for each match, the score
    difference and the number of mask pixels that differ relative to the README's allowance
    (max(10 px, 0.1% of the box area)). Returns ``(matches, score_errors, mask_excess)``."""
    rois, class_ids, scores, masks = reference_detect_results(reference)
    pairs = match_detections(result["rois"], result["class_ids"], rois, class_ids, 1)
    score_errors, mask_excess = [], []
    for row, ours in pairs:
        y1, x1, y2, x2 = rois[row]
        differing = (result["masks"][:, :, ours] != masks[:, :, row]).sum()
        score_errors.append(abs(result["scores"][ours] - scores[row]))
        mask_excess.append(differing / max(10, 0.001 * (y2 - y1) * (x2 - x1)))
    return len(pairs), np.array(score_errors), np.array(mask_excess)


def decoded_photo(reference, reference_model_dir):
    return np.asarray(Image.open(reference_model_dir / str(reference["image_file"])).convert("RGB"))


@pytest.mark.jax
def test_detect_reproduces_matterport_from_its_molded_image(reference_model, reference_outputs, reference_model_dir,
                                                            monkeypatch):
    """detect() on the photo, with matterport's own molded image: the network, unmolding and mask pasting
    reproduce its results at the README's tolerances (rois +-1 px, scores 1e-4, masks within max(10 px, 0.1% of the
    box)). The few unmatched detections come from ROIs on the image border (knife edges, see the README)."""
    for reference in reference_outputs:
        image = decoded_photo(reference, reference_model_dir)
        molded = (reference["molded_image"].astype(np.float32), reference["image_meta"].astype(np.float32),
                  reference["window"].astype(np.int32))
        monkeypatch.setattr(reference_model, "mold_inputs", lambda images: molded)
        matches, score_errors, mask_excess = compare_detect(reference_model.detect([image])[0], reference)
        assert matches >= 95
        assert score_errors.max() <= 1e-4 and mask_excess.max() <= 1


def test_detect_on_the_jpeg_files_with_our_molding(reference_model, reference_outputs, reference_model_dir):
    """The whole chain from the photo. Our OpenCV resize differs from matterport's scikit-image resize by one grey
    level on 4 / 35 of the ~130,000 molded values (see resize.py); this reference network is calibrated to be
    sensitive, and that moves some scores by up to ~4e-4 and a few masks by up to ~2% of their box. Measured and
    bounded here, rather than hidden: the test above holds the network itself to the README's tolerances."""
    for reference in reference_outputs:
        result = reference_model.detect([decoded_photo(reference, reference_model_dir)])[0]
        matches, score_errors, mask_excess = compare_detect(result, reference)
        assert matches >= 95
        assert score_errors.max() <= 1e-3
        assert (mask_excess <= 1).mean() >= 0.95
        assert mask_excess.max() <= 50  # 50x the allowance is 5% of a large box
