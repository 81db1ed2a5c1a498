"""Fixtures of the training-command tests: a tiny network and plan, a tiny demo dataset, and ``train.py`` pointed at
them.

The network is the demo profile shrunk further (resnet_tiny at 128x128, narrow heads, 2 images per step) and an
epoch is 2 steps, so that a session costs little more than building the model and compiling its steps; the data
are 6 synthetic images (4 to train, 2 to validate) made once per test session.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from fashion_seg.trainer.plan import Profile, TrainingPlan, parse_stages
from tiny_network import TinyNetworkConfig


class TinyConfig(TinyNetworkConfig):
    """A Mask R-CNN small enough to train a few steps on 2 CPU cores in seconds, with the 47 fashion classes."""

    NAME = "tiny"
    NUM_CLASSES = 1 + 46
    IMAGES_PER_GPU = 2
    POST_NMS_ROIS_TRAINING = 100
    POST_NMS_ROIS_INFERENCE = 50
    MAX_GT_INSTANCES = 20
    DETECTION_MAX_INSTANCES = 20
    LEARNING_RATE = 0.02
    STEPS_PER_EPOCH = 2
    VALIDATION_STEPS = 1


def tiny_profile(data_dir, stages: str = "heads:1,all:2:0.5", **plan) -> Profile:
    """Profile ``tiny``: ``stages`` on ``data_dir`` split 4 / 2, no augmentation, no validation metric (its
    inference model would double the cost of a session) unless ``plan`` asks for one."""
    settings = {"stages": parse_stages(stages), "augmentation": "none", "data_dir": str(data_dir),
                "val_fraction": None, "val_images": 2, "val_metric_every": 0, "val_metric_images": 1}
    settings.update(plan)
    return Profile("tiny", "tests: resnet_tiny at 128x128, 2 steps of 2 images per epoch",
                   plan=TrainingPlan(**settings))


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> Path:
    """6 training images (96-192 px) in the competition layout, made once per session. Read it; copy it to change
    it."""
    from fashion_seg.data.synthetic import make_demo_dataset

    root = tmp_path_factory.mktemp("tiny_demo")
    make_demo_dataset(root, seed=0, train_images=6, test_images=1, min_side=96, max_side=192, large_side=None)
    return root


def truncate_image(path: Path) -> None:
    """Cut a JPEG off after its first 300 bytes (the header): PIL and OpenCV then refuse it."""
    path.write_bytes(path.read_bytes()[:300])


@pytest.fixture(scope="session")
def tiny_demo_with_corrupt_image(tiny_demo, tmp_path_factory) -> tuple[Path, Path]:
    """A copy of :func:`tiny_demo` whose first training image is truncated: (data dir, the broken image)."""
    root = tmp_path_factory.mktemp("corrupt_demo") / "data"
    shutil.copytree(tiny_demo, root)
    broken = min((root / "train").glob("*.jpg"))
    truncate_image(broken)
    return root, broken


class TrainScript:
    """``train.py``'s ``main`` run in this process as the script runs it (``sys.exit(run(main))``), with
    ``profiles`` in place of top-level ``config.py``'s and :class:`TinyConfig` as ``FashionConfig``. Calling it
    with the arguments returns ``(exit code, stdout, stderr)``."""

    def __init__(self, *profiles: Profile):
        self.profiles = profiles

    def __call__(self, *argv) -> tuple[int, str, str]:
        import io
        from contextlib import redirect_stderr, redirect_stdout

        import config
        import train
        from fashion_seg.cli import run

        out, err = io.StringIO(), io.StringIO()
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
            if self.profiles:
                patch.setattr(config, "PROFILES", {p.name: p for p in self.profiles})
                patch.setattr(config, "DEFAULT_PROFILE", self.profiles[0].name)
                patch.setattr(config, "FashionConfig", TinyConfig)
            try:
                code = run(train.main, [str(a) for a in argv])
            finally:  # main's logging set-up would otherwise keep writing to this call's stderr
                for handler in set(root.handlers) - set(handlers):
                    root.removeHandler(handler)
                root.setLevel(level)
        return code, out.getvalue(), err.getvalue()


def checkpoint_arrays(path: Path) -> dict[str, list[np.ndarray]]:
    """Every weight array of an h5 checkpoint, by layer name."""
    from fashion_seg.mrcnn.weights import WeightFile

    with WeightFile(path) as weights:
        return {name: weights.arrays(name) for name in weights.weighted_layer_names}


@pytest.fixture(scope="session")
def tiny_config():
    """The config class of the tests' runs (:class:`TinyConfig`)."""
    return TinyConfig


@pytest.fixture(scope="session")
def make_profile():
    """:func:`tiny_profile`: ``make_profile(data_dir, stages="heads:1,all:2:0.5", **plan)``."""
    return tiny_profile


@pytest.fixture(scope="session")
def train_script():
    """:class:`TrainScript`: ``train_script(*profiles)("--weights", "none", ...)`` -> (code, stdout, stderr)."""
    return TrainScript


@pytest.fixture(scope="session")
def read_checkpoint():
    """:func:`checkpoint_arrays`: ``read_checkpoint(path)`` -> {layer name: [arrays]}."""
    return checkpoint_arrays
