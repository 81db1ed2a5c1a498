"""Prediction killed with SIGKILL halfway, then run again: it continues from its journal, and the submission equals
an uninterrupted run's byte for byte. Also a journal cut at any byte (a kill while a block was being written, a
crash of the machine before the last fsync) loses at most the images of its unfinished block."""

from __future__ import annotations

import json
import shutil

import pytest

from fashion_seg.errors import DataError
from fashion_seg.prediction.inference import Predictor
from fashion_seg.prediction.journal import PredictionJournal, journal_path
from fashion_seg.prediction.settings import PRESETS
from fashion_seg.prediction.predict_images import predict_submission

from .conftest import leftovers, load_fixture_module, run_child

blobs = load_fixture_module("prediction_fixtures", "tests/prediction/conftest.py")
SETTINGS = PRESETS["first_place"]

# The child: prediction of the blob images with the prediction tests' stand-in network, which SIGKILLs its own
# process when the third batch reaches it (two batches of two images are journalled by then).
PREDICT = """
import importlib.util, os, signal, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("blobs", "tests/prediction/conftest.py")
blobs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(blobs)
from fashion_seg.prediction.inference import Predictor
from fashion_seg.prediction.settings import PRESETS
from fashion_seg.prediction.predict_images import predict_submission

class KilledInBatch3(blobs.ColourBlobModel):
    def raw_detections(self, molded_images, image_metas):
        if self.calls == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().raw_detections(molded_images, image_metas)

folder, out = sys.argv[1:]
paths = sorted(Path(folder).iterdir())
predict_submission(Predictor([KilledInBatch3(blobs.blob_config())], batch_size=2), paths, out,
                   PRESETS["first_place"], progress=False)
"""


def predict(paths, out, model=None, **kwargs):
    model = model or blobs.ColourBlobModel(blobs.blob_config())
    return predict_submission(Predictor([model], batch_size=2), paths, out, SETTINGS, progress=False, **kwargs)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blobs") / "images"
    blobs.write_blob_images(folder, 7)
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def reference(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "submission.csv"
    predict(images, out)
    return out.read_bytes()


def test_a_killed_run_continues_from_its_journal(images, reference, tmp_path):
    out = tmp_path / "submission.csv"
    killed = run_child(PREDICT, images[0].parent, out, timeout=300)
    assert killed.returncode == -9, killed.stderr
    assert not out.exists() and leftovers(tmp_path) == []
    assert journal_path(out).exists()

    model = blobs.ColourBlobModel(blobs.blob_config())
    summary = predict(images, out, model)
    assert summary.resumed == 4 and model.calls == 2  # the other 3 images, in batches of 2
    assert out.read_bytes() == reference
    assert not journal_path(out).exists()


@pytest.fixture(scope="module")
def stopped_journal(images, tmp_path_factory):
    """The journal of a run stopped (Ctrl-C) in its fourth batch: 6 of 7 images in it."""
    folder = tmp_path_factory.mktemp("stopped")
    with pytest.raises(KeyboardInterrupt):
        predict(images, folder / "submission.csv", blobs.ColourBlobModel(blobs.blob_config(), interrupt_after=3))
    return journal_path(folder / "submission.csv")


def block_ends(journal) -> list[int]:
    """Byte offsets just after each ``#done`` line."""
    data = journal.read_bytes()
    ends, start = [], 0
    while (found := data.find(b"\n#done,", start)) >= 0:
        start = data.index(b"\n", found + 1) + 1
        ends.append(start)
    return ends


@pytest.mark.parametrize("where", ["mid-header", "after-header", "mid-first-row", "mid-done-line",
                                   "after-third-block", "one-byte-short-of-the-end"])
def test_a_journal_cut_anywhere_loses_only_its_unfinished_block(images, reference, stopped_journal, where, tmp_path):
    data = stopped_journal.read_bytes()
    ends = block_ends(stopped_journal)
    header = data.index(b"\n") + 1
    cut = {"mid-header": header // 2, "after-header": header, "mid-first-row": header + 10,
           "mid-done-line": ends[1] - 4, "after-third-block": ends[2],
           "one-byte-short-of-the-end": len(data) - 1}[where]
    out = tmp_path / "submission.csv"
    journal_path(out).write_bytes(data[:cut])
    finished_before = sum(end <= cut for end in ends)

    if where == "mid-header":  # not recognisably a journal any more: refused, and kept for the user to look at
        with pytest.raises(DataError, match="is not a prediction journal.*--restart"):
            predict(images, out)
        assert journal_path(out).read_bytes() == data[:cut]
        predict(images, out, restart=True)
    else:
        model = blobs.ColourBlobModel(blobs.blob_config())
        summary = predict(images, out, model)
        assert summary.resumed == finished_before and model.calls == -(-(7 - finished_before) // 2)
    assert out.read_bytes() == reference


def test_the_journal_reopened_after_a_cut_is_cut_back_to_its_last_block(stopped_journal, tmp_path):
    journal = tmp_path / "submission.csv.journal"
    shutil.copy(stopped_journal, journal)
    ends = block_ends(journal)
    data = journal.read_bytes()
    journal.write_bytes(data[: ends[2] + 7])
    settings = json.loads(data[: data.index(b"\n")].decode().split(" ", 1)[1])
    with PredictionJournal(journal, settings) as reopened:
        assert len(reopened.done) == 3
    assert journal.read_bytes() == data[: ends[2]]
