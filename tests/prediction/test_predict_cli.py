"""predict.py end to end with a real (small, untrained) Mask R-CNN checkpoint on the demo data: a valid submission,
evaluation output, tuning on cached detections, one-line errors."""

import json

import pytest

import predict
from fashion_seg.cli import run
from fashion_seg.data.imaterialist import read_string_csv
from fashion_seg.data.synthetic import make_demo_dataset
from fashion_seg.submission import check_submission, expected_image_ids


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
    assert gain >= 0
    saved = json.loads((workspace / "tuned.json").read_text())
    assert saved["score"] >= saved["start_score"]

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
