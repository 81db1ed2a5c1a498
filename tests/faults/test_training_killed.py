"""A training run killed with SIGKILL in the middle of an epoch, then continued with ``--weights last``::

    python train.py --weights none --profile tiny --model-dir LOGS    # kill -9 after step 1 of epoch 2
    python train.py --weights last --model-dir LOGS                   # epochs 2-3, stage 2

Nothing is saved on a SIGKILL, so the run loses the epoch in progress and no more: the checkpoint and history of
epoch 1 are complete (atomic writes), and the resumed run goes on with epoch 2 in the plan's second stage at its
learning rate, with one history that continues the first. Both sessions are child processes (``train.py``'s main
with the tiny test network, as tests/trainer/conftest.py sets it up).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from .conftest import leftovers, run_child

pytestmark = pytest.mark.slow  # two training sessions in child processes: about a minute on 2 cores

# The child: train.py's main, the tiny network and profile of the trainer tests, and (with a kill point) a progress
# bar that SIGKILLs its own process after step STEP of epoch EPOCH.
TRAIN = """
import importlib.util, os, signal, sys
sys.path.insert(0, "tests")  # the helpers the test files share, as pytest's pythonpath has them
spec = importlib.util.spec_from_file_location("trainer_fixtures", "tests/trainer/conftest.py")
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)
import config, train
from fashion_seg.cli import run
from fashion_seg.trainer import session
from fashion_seg.trainer.callbacks import ProgressBar

data_dir, kill_at, *argv = sys.argv[1:]
if kill_at != "never":
    epoch, step = map(int, kill_at.split(":"))

    class KilledAt(ProgressBar):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            if (self.clock.epoch + 1, batch + 1) == (epoch, step):
                os.kill(os.getpid(), signal.SIGKILL)

    session.ProgressBar = KilledAt
profile = fixtures.tiny_profile(data_dir, "heads:1,all:2:0.5")
config.PROFILES, config.DEFAULT_PROFILE, config.FashionConfig = {"tiny": profile}, "tiny", fixtures.TinyConfig
sys.exit(run(train.main, argv))
"""


@dataclass
class Sessions:
    run_dir: Path
    killed_code: int
    killed_files: list[str]
    killed_history: pd.DataFrame
    resumed_code: int
    resumed_stdout: str
    resumed_stderr: str
    history: pd.DataFrame


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> Sessions:
    from fashion_seg.data.synthetic import make_demo_dataset

    data_dir = tmp_path_factory.mktemp("data")
    make_demo_dataset(data_dir, seed=0, train_images=6, test_images=1, min_side=96, max_side=192, large_side=None)
    logs = tmp_path_factory.mktemp("logs")
    killed = run_child(TRAIN, data_dir, "2:1", "--weights", "none", "--profile", "tiny", "--model-dir", logs)
    (run_dir,) = logs.iterdir()
    killed_files = sorted(p.name for p in run_dir.iterdir())
    killed_history = pd.read_csv(run_dir / "history.csv")
    resumed = run_child(TRAIN, data_dir, "never", "--weights", "last", "--model-dir", logs)
    return Sessions(run_dir, killed.returncode, killed_files, killed_history, resumed.returncode, resumed.stdout,
                    resumed.stderr, pd.read_csv(run_dir / "history.csv"))


def test_the_killed_run_kept_its_last_complete_epoch(sessions):
    assert sessions.killed_code == -9
    assert "mask_rcnn_tiny_0001.h5" in sessions.killed_files
    assert not [name for name in sessions.killed_files if name.startswith("mask_rcnn_tiny_0002")]
    assert sessions.killed_history["epoch"].tolist() == [1]
    assert leftovers(sessions.run_dir) == []


def test_last_resumes_the_epoch_in_progress_in_its_stage(sessions):
    assert sessions.resumed_code == 0, sessions.resumed_stderr
    run_dir = sessions.run_dir
    assert f"last checkpoint: {run_dir / 'mask_rcnn_tiny_0003.h5'}" in sessions.resumed_stdout
    resumed_log = (run_dir / "train.log").read_text().split(f"run {run_dir} (resumed at epoch 2)")[1]
    assert f"resuming from {run_dir / 'mask_rcnn_tiny_0001.h5'} (after epoch 1)" in resumed_log
    assert "stage 2/2: all layers, epochs 2-3, 2 steps of 2 images, learning rate 0.01" in resumed_log


def test_the_history_and_schedule_continue(sessions):
    history = sessions.history
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history["stage"].tolist() == [1, 2, 2]
    assert history["layers"].tolist() == ["heads", "all", "all"]
    assert history["learning_rate"].tolist() == pytest.approx([0.02, 0.01, 0.01])
    # epoch 1's row is the killed session's own, unchanged
    pd.testing.assert_frame_equal(history.iloc[:1], sessions.killed_history, check_dtype=False)
    for epoch in (1, 2, 3):
        assert (sessions.run_dir / f"mask_rcnn_tiny_{epoch:04d}.h5").exists()
