"""predict.py end to end with a real (small, untrained) Mask R-CNN checkpoint on the demo data: a valid submission,
evaluation output, tuning on cached detections, one-line errors; and, with the checkpoint loader replaced by the
blob stand-in of an attribute head, attribute ClassIds out of a plain ``predict.py TEST_DIR --weights RUN/x.h5``
and tuning that must strictly improve on defaults known to be bad."""

import json
from pathlib import Path

import pytest

import predict
from fashion_seg.cli import run
from fashion_seg.data.train_csv import read_string_csv
from fashion_seg.data.synthetic import make_demo_dataset
from fashion_seg.prediction.submission import check_submission, expected_image_ids

from .conftest import BLOB_ATTRIBUTES, AttributeBlobModel, attribute_config, with_blob_attributes, write_blob_images


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A demo dataset (3 test images) and a training run folder with a resnet_tiny checkpoint and its config.json,
    as training leaves them."""
    from fashion_seg.mrcnn.config import Config
    from fashion_seg.mrcnn.model import MaskRCNN

    root = tmp_path_factory.mktemp("cli")
    make_demo_dataset(root / "demo", train_images=4, test_images=3, max_side=300, large_side=None)
    config = Config(NAME="demo", NUM_CLASSES=47, BACKBONE="resnet_tiny", IMAGE_MIN_DIM=128, IMAGE_MAX_DIM=128,
                    POST_NMS_ROIS_INFERENCE=200)
    model = MaskRCNN("inference", config, str(root / "logs"))
    run_dir = root / "logs" / "demo20260101T1200"
    run_dir.mkdir(parents=True)
    model.save_weights(run_dir / "mask_rcnn_demo_0003.h5")
    config.save_json(run_dir / "config.json")
    return root


def cli(capsys, *argv):
    code = run(predict.main, list(map(str, argv)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_predict_evaluate_and_tune(workspace, capsys):
    demo = workspace / "demo"
    out = workspace / "submission.csv"
    common = ["--weights", "last", "--model-dir", workspace / "logs", "--detections", workspace / "detections",
              "--truth", demo / "test_truth.csv"]
    code, stdout, _ = cli(capsys, demo / "test", "--out", out, "--evaluate", "--min-score", "0.05", *common)
    assert code == 0
    assert check_submission(out, expected_image_ids(demo / "test")) == []
    assert len(read_string_csv(out)["ImageId"].unique()) == 3
    lines = stdout.strip().splitlines()
    assert lines[-1].startswith("score: ") and 0 <= float(lines[-1].split()[1]) <= 1
    assert any(line.startswith("COCO mask AP ") for line in lines)
    assert len(list((workspace / "submission_worst").glob("*.png"))) == 3

    # tuning reuses the detections cached above: no network run, a preset that scores at least the start
    code, stdout, _ = cli(capsys, "tune", demo / "test", "--out", workspace / "tuned.json", "--rounds", "1",
                          "--preset", "matterport", *common)
    assert code == 0
    assert "validation detections" not in stdout
    gain = float(stdout.strip().splitlines()[-1].split()[-1])
    saved = json.loads((workspace / "tuned.json").read_text())
    assert gain == pytest.approx(saved["score"] - saved["start_score"], abs=1e-6)
    assert saved["post_processing"]["attribute_thresholds"] == {}  # no attribute head: left as they were
    assert saved["post_processing"]["attribute_threshold"] == 0.5

    # the tuned preset drives a prediction from the same cache
    code, stdout, _ = cli(capsys, demo / "test", "--out", workspace / "tuned.csv", "--preset",
                          workspace / "tuned.json", *common)
    assert code == 0 and "3 from cached detections" in stdout


@pytest.mark.slow
def test_an_ensemble_of_a_checkpoint_with_itself_equals_the_checkpoint(workspace, capsys):
    demo = workspace / "demo"
    checkpoint = workspace / "logs" / "demo20260101T1200" / "mask_rcnn_demo_0003.h5"
    options = ["--min-score", "0.05", "--tta", "flip"]
    code, _, _ = cli(capsys, demo / "test", "--weights", checkpoint, "--out", workspace / "one.csv", *options)
    assert code == 0
    code, _, _ = cli(capsys, demo / "test", "--weights", checkpoint, "--weights", checkpoint, "--out",
                     workspace / "two.csv", *options)
    assert code == 0
    assert (workspace / "two.csv").read_bytes() == (workspace / "one.csv").read_bytes()
    assert len(read_string_csv(workspace / "one.csv")) > 3  # masks, not only placeholders


def test_user_errors_are_one_line(workspace, capsys):
    demo = workspace / "demo"
    code, _, err = cli(capsys, demo / "test", "--weights", workspace / "missing.h5")
    assert code == 2 and err.strip() == f"error: weights file not found: {workspace / 'missing.h5'} (give a " \
        "checkpoint .h5, or 'last' for the newest under --model-dir)"
    code, _, err = cli(capsys, demo / "test", "--weights", "last", "--model-dir", workspace / "logs", "--tta", "spin")
    assert code == 2 and "unknown part 'spin'" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(capsys, "--evaluate", "--weights", "last", "--split", demo)
    assert code == 2 and "--split needs --data-dir" in err
    code, _, err = cli(capsys, demo / "test", "--weights", "last", "--model-dir", workspace / "nothing")
    assert code == 2 and "no checkpoint of 'fashion'" in err


@pytest.fixture
def attribute_run(tmp_path, monkeypatch):
    """A training run folder (a stand-in checkpoint and attributes.json), blob test images with attribute truth, and
    ``load_inference_model`` replaced by one that gives the blob stand-in of a model with an attribute head."""
    import fashion_seg.checkpoints

    run_dir = tmp_path / "logs" / "blobs20260101T120000"
    run_dir.mkdir(parents=True)
    weights = run_dir / "mask_rcnn_blobs_0002.h5"
    weights.write_bytes(b"stand-in")
    (run_dir / "attributes.json").write_text(json.dumps(BLOB_ATTRIBUTES))
    truth = with_blob_attributes(write_blob_images(tmp_path / "test", 6))
    truth.to_csv(tmp_path / "truth.csv", index=False)

    def load_stand_in(weights, model_dir, config_file, overrides, batch_size):
        return AttributeBlobModel(attribute_config(IMAGES_PER_GPU=batch_size)), Path(weights), {"path": str(weights)}

    monkeypatch.setattr(fashion_seg.checkpoints, "load_inference_model", load_stand_in)
    return tmp_path, weights


def test_attribute_classids_out_of_predict_and_tuning_that_strictly_improves(attribute_run, capsys):
    root, weights = attribute_run
    out = root / "submission.csv"
    code, stdout, _ = cli(capsys, root / "test", "--weights", weights, "--out", out)
    assert code == 0
    # the defaults (threshold 0.5): shirts without their above-the-hip (0.45), tops with a zip-up, sweaters plain
    assert set(read_string_csv(out)["ClassId"]) == {"0", "1_14", "2"}
    assert check_submission(out, expected_image_ids(root / "test")) == []

    common = ["--weights", weights, "--truth", root / "truth.csv", "--detections", root / "detections"]
    code, stdout, _ = cli(capsys, "tune", root / "test", "--out", root / "tuned.json", "--rounds", "1", *common)
    assert code == 0
    assert float(stdout.strip().splitlines()[-1].split()[-1]) > 0.1  # "gain over first_place: +0.x"
    saved = json.loads((root / "tuned.json").read_text())
    tuned, tuned_score = saved["post_processing"], saved["score"]
    assert tuned["attribute_threshold"] == 0.4  # the nearest to 0.5 that admits 0.45
    assert tuned["category_only"] == [1] and tuned["drop_categories"] == [2]

    code, stdout, _ = cli(capsys, root / "test", "--out", root / "tuned.csv", "--preset", root / "tuned.json",
                          "--evaluate", *common)
    assert code == 0 and "6 from cached detections" in stdout
    rows = read_string_csv(root / "tuned.csv")
    assert set(rows["ClassId"]) == {"0_0", "1", "23"}  # 23: the placeholder of an image of sweaters only
    assert float(stdout.strip().splitlines()[-1].split()[-1]) == pytest.approx(tuned_score)
    assert check_submission(root / "tuned.csv", expected_image_ids(root / "test"), category_attributes={
        int(c): ids for c, ids in BLOB_ATTRIBUTES["category_attributes"].items()}) == []


def test_without_attributes_json_a_warning_and_categories_only(attribute_run, capsys, caplog):
    root, weights = attribute_run
    (weights.parent / "attributes.json").unlink()
    code, _, _ = cli(capsys, root / "test", "--weights", weights, "--out", root / "plain.csv")
    assert code == 0
    assert f"the model has an attribute head but no attributes.json is beside {weights}" in caplog.text
    assert set(read_string_csv(root / "plain.csv")["ClassId"]) == {"0", "1", "2"}
