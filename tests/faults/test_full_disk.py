"""A full disk, or a folder that cannot be written, while a checkpoint or a submission is written: the previous
file stays as it was, no temporary file is left, and the error says so in one line. A prediction run keeps its
journal, so that the run after the disk was freed finishes without predicting again."""

from __future__ import annotations


import keras
import pytest

from fashion_seg.atomic import atomic_write
from fashion_seg.cli import EXIT_USER_ERROR, run
from fashion_seg.errors import FileAccessError
from fashion_seg.prediction.inference import Predictor
from fashion_seg.prediction.journal import journal_path
from fashion_seg.mrcnn.weights import save_weights
from fashion_seg.prediction.settings import PRESETS
from fashion_seg.prediction.predict_images import predict_submission

from .conftest import ignores_file_permissions, leftovers, load_fixture_module

blobs = load_fixture_module("prediction_fixtures", "tests/prediction/conftest.py")
SETTINGS = PRESETS["first_place"]


def small_model() -> keras.Model:
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(inputs))


def test_a_checkpoint_written_to_a_full_disk_keeps_the_previous_one(tmp_path, full_disk, capsys):
    checkpoint = tmp_path / "run" / "mask_rcnn_tiny_0002.h5"
    save_weights(small_model(), checkpoint)
    before = checkpoint.read_bytes()
    full_disk.fill()
    code = run(lambda argv: save_weights(small_model(), checkpoint), [])
    assert code == EXIT_USER_ERROR and full_disk.failures == 1
    assert capsys.readouterr().err == (f"error: cannot write {checkpoint}: no space left on the disk; the previous "
                                       "file is unchanged\n")
    assert checkpoint.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_first_file_on_a_full_disk_is_not_left_half_written(tmp_path, full_disk):
    target = tmp_path / "history.csv"
    full_disk.fill()
    with pytest.raises(FileAccessError, match="no space left on the disk; nothing was written there"):
        with atomic_write(target) as handle:
            handle.write("epoch,loss\n1,0.5\n")
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_folder(tmp_path, read_only_folder):
    target = tmp_path / "submission.csv"
    target.write_text("ImageId,EncodedPixels,ClassId\n")
    read_only_folder(tmp_path)
    with pytest.raises(FileAccessError, match=f"cannot write {target}: the file system is read-only; the previous "
                                              "file is unchanged"):
        with atomic_write(target) as handle:
            handle.write("new")
    assert target.read_text() == "ImageId,EncodedPixels,ClassId\n"


@pytest.mark.skipif(ignores_file_permissions(), reason="this process (root?) writes into a folder without write "
                    "permission")
def test_a_folder_without_write_permission(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "submission.csv").write_text("old\n")
    folder.chmod(0o555)
    try:
        with pytest.raises(FileAccessError, match="permission denied.*the previous file is unchanged"):
            with atomic_write(folder / "submission.csv") as handle:
                handle.write("new")
    finally:
        folder.chmod(0o755)
    assert (folder / "submission.csv").read_text() == "old\n"


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    blobs.write_blob_images(folder, 5)
    return sorted(folder.iterdir())


def predict(paths, out, model=None):
    model = model or blobs.ColourBlobModel(blobs.blob_config())
    return predict_submission(Predictor([model], batch_size=2), paths, out, SETTINGS, progress=False)


def test_the_disk_fills_while_the_submission_is_written(images, tmp_path, full_disk):
    reference = tmp_path / "reference.csv"
    predict(images, reference)
    out = tmp_path / "submission.csv"
    out.write_text("ImageId,EncodedPixels,ClassId\nan,earlier,run\n")
    full_disk.fill(matching=".submission.csv.")  # the submission's temporary file, not the journal
    with pytest.raises(FileAccessError, match=f"cannot write {out}: no space left on the disk; the previous file is "
                                              "unchanged"):
        predict(images, out)
    assert out.read_text() == "ImageId,EncodedPixels,ClassId\nan,earlier,run\n"
    assert journal_path(out).exists() and leftovers(tmp_path) == []

    full_disk.free()
    model = blobs.ColourBlobModel(blobs.blob_config())
    summary = predict(images, out, model)
    assert summary.resumed == 5 and model.calls == 0  # every image came from the journal
    assert out.read_bytes() == reference.read_bytes()
    assert not journal_path(out).exists()


def test_the_disk_fills_while_the_journal_is_written(images, tmp_path, full_disk):
    reference = tmp_path / "reference.csv"
    predict(images, reference)
    out = tmp_path / "submission.csv"

    class FillsTheDisk(blobs.ColourBlobModel):
        def raw_detections(self, molded_images, image_metas):
            if self.calls == 2:  # after two batches were journalled
                full_disk.fill(matching=".journal")
            return super().raw_detections(molded_images, image_metas)

    with pytest.raises(FileAccessError, match=f"cannot write {journal_path(out)}: no space left on the disk; the "
                                              "journal keeps the 4 images finished before: make room and run again"):
        predict(images, out, FillsTheDisk(blobs.blob_config()))
    assert not out.exists()

    full_disk.free()
    model = blobs.ColourBlobModel(blobs.blob_config())
    summary = predict(images, out, model)
    assert summary.resumed >= 4 and model.calls == -(-(5 - summary.resumed) // 2)
    assert out.read_bytes() == reference.read_bytes()


@pytest.mark.slow
def test_training_stops_on_a_full_disk_and_resumes_after_it(tmp_path, full_disk):
    """The disk fills while epoch 2's checkpoint is written: one error line, epoch 1 kept, and once there is room
    again ``--weights last`` trains epochs 2-3."""
    from fashion_seg.data.synthetic import make_demo_dataset

    trainer = load_fixture_module("trainer_fixtures", "tests/trainer/conftest.py")
    data_dir, logs = tmp_path / "data", tmp_path / "logs"
    make_demo_dataset(data_dir, seed=0, train_images=6, test_images=1, min_side=96, max_side=192, large_side=None)
    script = trainer.TrainScript(trainer.tiny_profile(data_dir, "heads:1,all:2:0.5"))
    full_disk.fill(matching="mask_rcnn_tiny_0002")
    code, _, stderr = script("--weights", "none", "--profile", "tiny", "--model-dir", logs)
    (run_dir,) = logs.iterdir()
    assert code == EXIT_USER_ERROR
    # (after the progress bar's carriage returns)
    assert stderr.count("error:") == 1 and (
        f"error: cannot write {run_dir / 'mask_rcnn_tiny_0002.h5'}: no space left on the disk; nothing was written "
        "there\n") in stderr, stderr
    assert "Traceback" not in stderr
    assert (run_dir / "mask_rcnn_tiny_0001.h5").exists() and not (run_dir / "mask_rcnn_tiny_0002.h5").exists()
    assert leftovers(tmp_path) == []

    full_disk.free()
    code, stdout, stderr = script("--weights", "last", "--model-dir", logs)
    assert code == 0, stderr
    assert "trained epochs 2-3" in stdout
    assert (run_dir / "mask_rcnn_tiny_0003.h5").exists()
