"""``train.py`` as users call it: one real training run in a subprocess (two mirrored replicas on a CPU split in
two), bad input as one ``error:`` line and exit code 2, ``train.py profiles`` and ``train.py curve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from fashion_seg.trainer.history import HistoryFile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: the demo profile shrunk to the tests' tiny network (see conftest.TinyConfig)
TINY = ["IMAGE_MIN_DIM=128", "IMAGE_MAX_DIM=128", "RPN_ANCHOR_SCALES=8,16,32,64,128", "TOP_DOWN_PYRAMID_SIZE=32",
        "RPN_CONV_FILTERS=32", "FPN_CLASSIF_FC_LAYERS_SIZE=64", "MASK_HEAD_FILTERS=32", "PRE_NMS_LIMIT=600",
        "POST_NMS_ROIS_TRAINING=100", "POST_NMS_ROIS_INFERENCE=50", "RPN_TRAIN_ANCHORS_PER_IMAGE=64",
        "TRAIN_ROIS_PER_IMAGE=32", "MAX_GT_INSTANCES=20", "DETECTION_MAX_INSTANCES=20", "IMAGES_PER_GPU=1",
        "STEPS_PER_EPOCH=2", "VALIDATION_STEPS=1"]


def test_train_py_trains_on_two_mirrored_replicas(tiny_demo, tmp_path):
    logs = tmp_path / "logs"
    command = [sys.executable, "train.py", "--weights", "none", "--profile", "demo", "--data-dir", str(tiny_demo),
               "--model-dir", str(logs), "--stages", "heads:1", "--val-images", "2", "--augmentation", "none",
               "--val-metric-every", "0", "--strategy", "mirrored", "--cpu-devices", "2"]
    for pair in TINY:
        command += ["--set", pair]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    (run_dir,) = logs.iterdir()
    assert run_dir.name.startswith("fashion")
    assert {"mask_rcnn_fashion_0001.h5", "mask_rcnn_fashion_best.h5", "best.json", "config.json", "training.json",
            "history.csv", "loss_curve.png", "train.log", "split"} <= {p.name for p in run_dir.iterdir()}
    assert "trained epochs 1-1 in " in done.stdout
    assert f"last checkpoint: {run_dir / 'mask_rcnn_fashion_0001.h5'}" in done.stdout
    assert f"history: {run_dir / 'history.csv'}; loss curve: {run_dir / 'loss_curve.png'}" in done.stdout

    # the strategy's replicas became GPU_COUNT: a global batch of 2, one image per replica
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["GPU_COUNT"], config["IMAGES_PER_GPU"], config["BATCH_SIZE"]) == (2, 1, 2)
    assert config["BACKBONE"] == "resnet_tiny" and config["IMAGE_MAX_DIM"] == 128  # --set reached the network
    log = (run_dir / "train.log").read_text()
    assert "2 replica(s) (mirrored) x 1 images" in log
    assert "stage 1/1: heads layers, epochs 1-1, 2 steps of 2 images" in log
    assert "GPU_COUNT=1 but strategy 'mirrored' runs 2 replica(s): training with GPU_COUNT=2" in done.stderr

    plan = json.loads((run_dir / "training.json").read_text())
    assert (plan["stages"], plan["profile"], plan["data_dir"]) == ("heads:1", "demo", str(tiny_demo))
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1] and history["layers"].tolist() == ["heads"]
    assert history[["loss", "val_loss"]].notna().all(axis=None)
    best = json.loads((run_dir / "best.json").read_text())
    assert (best["epoch"], best["monitor"]) == (1, "val_loss")
    assert (run_dir / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("arguments, message", [
    (["--set", "NO_SUCH_KEY=1"], "--set NO_SUCH_KEY: no such config value"),
    (["--set", "IMAGES_PER_GPU=two"], "--set IMAGES_PER_GPU=two: expected an integer"),
    (["--stages", "heads"], "stage 'heads': write LAYERS:EPOCHS[:LR_FACTOR]"),
    (["--profile", "laptop"], "no profile 'laptop'; choose one of tiny"),
    (["--data-dir", "{tmp}/nowhere"], "{tmp}/nowhere/train.csv not found: --data-dir must be a competition folder"),
    (["--weights", "{tmp}/missing.h5"], "--weights {tmp}/missing.h5: no such file"),
    (["--weights", "last"], "--weights last: no checkpoint of 'tiny' under {tmp}/logs"),
    (["--workers", "0"], "--workers must be at least 1, got 0"),
])
def test_bad_input_is_one_error_line_and_exit_code_2(arguments, message, tiny_demo, make_profile, train_script,
                                                       tmp_path):
    script = train_script(make_profile(tiny_demo))
    arguments = [a.format(tmp=tmp_path) for a in arguments]
    weights = [] if "--weights" in arguments else ["--weights", "none"]
    code, stdout, stderr = script(*weights, "--model-dir", tmp_path / "logs", *arguments)
    assert code == 2
    lines = stderr.splitlines()  # log lines, then the error on one line
    assert lines[-1].startswith(f"error: {message.format(tmp=tmp_path)}")
    assert sum(line.startswith("error:") for line in lines) == 1 and "Traceback" not in stderr
    assert stdout == ""
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())  # nothing started


def test_profiles_lists_every_profile_with_its_stages(train_script):
    import config

    code, stdout, _ = train_script()("profiles")
    assert code == 0
    for name, profile in config.PROFILES.items():
        default = " (default)" if name == config.DEFAULT_PROFILE else ""
        assert f"{name}{default}: {profile.description}\n    stages {profile.plan.describe_stages()};" in stdout
        assert ", ".join(f"{key}={value}" for key, value in profile.config.items()) in stdout
    assert stdout.count("(default)") == 1


def write_history(run_dir, epochs):
    history = HistoryFile(run_dir / "history.csv")
    for epoch in range(1, epochs + 1):
        history.append({"epoch": epoch, "stage": 1 if epoch < 3 else 2, "layers": "heads" if epoch < 3 else "all",
                        "learning_rate": 0.02, "loss": 5.0 / epoch, "val_loss": 6.0 / epoch})


def test_curve_redraws_the_newest_run_or_the_one_named(train_script, tmp_path):
    older, newer = tmp_path / "fashion20240101T0900", tmp_path / "fashion20240102T0800"
    for run_dir in (older, newer):
        run_dir.mkdir()
        write_history(run_dir, epochs=4)
    code, stdout, _ = train_script()("curve", "--model-dir", tmp_path)
    assert (code, stdout.strip()) == (0, str(newer / "loss_curve.png"))
    assert (newer / "loss_curve.png").read_bytes()[:4] == b"\x89PNG" and not (older / "loss_curve.png").exists()

    code, stdout, _ = train_script()("curve", older, "--out", tmp_path / "older.png")
    assert (code, stdout.strip()) == (0, str(tmp_path / "older.png"))
    assert (tmp_path / "older.png").read_bytes()[:4] == b"\x89PNG"


def test_curve_without_a_history_says_so(train_script, tmp_path):
    code, _, stderr = train_script()("curve", "--model-dir", tmp_path)
    assert (code, stderr.strip()) == (2, f"error: no run with a history.csv under {tmp_path}")
    (tmp_path / "fashion20240101T0900").mkdir()
    code, _, stderr = train_script()("curve", tmp_path / "fashion20240101T0900")
    assert code == 2
    assert stderr.strip() == (f"error: {tmp_path / 'fashion20240101T0900' / 'history.csv'} not found: no epoch of "
                              "that run has finished")
