"""predict.py on a test folder holding a decompression bomb (a JPEG whose header claims 20000x20000 pixels) and a
zero-byte file: both get the placeholder row and a warning naming them, the other images are predicted, and the
submission is complete and valid."""

from __future__ import annotations

import logging
import shutil


from fashion_seg.data.train_csv import read_string_csv
from fashion_seg.prediction.submission import check_submission, expected_image_ids

from .conftest import file_hashes, invoke, jpeg_claiming


def test_hostile_images_get_the_placeholder_and_the_run_goes_on(small_demo, tmp_path, caplog):
    from fashion_seg.mrcnn.config import Config
    from fashion_seg.mrcnn.model import MaskRCNN

    config = Config(NAME="demo", NUM_CLASSES=47, BACKBONE="resnet_tiny", IMAGE_MIN_DIM=128, IMAGE_MAX_DIM=128,
                    POST_NMS_ROIS_INFERENCE=100)
    run_dir = tmp_path / "logs" / "demo20260101T120000"
    MaskRCNN("inference", config, str(tmp_path / "logs")).save_weights(run_dir / "mask_rcnn_demo_0001.h5")
    config.save_json(run_dir / "config.json")
    test = tmp_path / "test"
    shutil.copytree(small_demo / "test", test)
    jpeg_claiming(test / "bomb.jpg", 20000, 20000)
    (test / "empty.jpg").write_bytes(b"")
    before = file_hashes(test)

    out = tmp_path / "submission.csv"
    with caplog.at_level(logging.WARNING):
        code, stdout, stderr = invoke("predict", [test, "--weights", "last", "--model-dir", tmp_path / "logs",
                                                  "--out", out])
    assert code == 0, stderr
    assert "Traceback" not in stderr
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"image {test / 'bomb.jpg'} claims 20000x20000" in w and "placeholder" in w for w in warnings)
    assert any(f"{test / 'empty.jpg'}" in w and "placeholder" in w for w in warnings)
    assert check_submission(out, expected_image_ids(test)) == []
    rows = read_string_csv(out)
    for name in ("bomb.jpg", "empty.jpg"):
        assert rows[rows["ImageId"] == name].values.tolist() == [[name, "", "23"]]
    assert set(rows["ImageId"]) == set(expected_image_ids(test))
    assert file_hashes(test) == before
