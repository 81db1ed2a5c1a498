"""Prediction to a submission file: validity, restart after an interruption, cached detections, checkpoint
ensembles, flat memory, evaluation."""

import threading
import tracemalloc

import pytest

from fashion_seg.data.labels import read_label_descriptions
from fashion_seg.data.train_csv import read_string_csv
from fashion_seg.prediction.detections import DetectionStore
from fashion_seg.errors import DataError
from fashion_seg.prediction.inference import Predictor, prefetched
from fashion_seg.prediction.journal import journal_path
from fashion_seg.evaluation.metrics import score_frames
from fashion_seg.prediction.settings import PRESETS
from fashion_seg.evaluation.evaluate import evaluate_submission
from fashion_seg.prediction.predict_images import predict_submission
from fashion_seg.prediction.submission import check_submission, expected_image_ids
from fashion_seg.prediction.tta import parse_tta

from .conftest import ColourBlobModel, blob_config, write_blob_images

SETTINGS = PRESETS["first_place"]


def image_paths(folder):
    return [folder / name for name in expected_image_ids(folder)]


def test_prediction_writes_a_valid_complete_submission(blob_images, tmp_path):
    folder, truth = blob_images
    (folder / "copy.png").write_bytes((folder / "0000.png").read_bytes())  # same pixels, another ImageId
    out = tmp_path / "submission.csv"
    summary = predict_submission(Predictor([ColourBlobModel(blob_config())], batch_size=4), image_paths(folder), out,
                                 SETTINGS, progress=False)
    assert summary.images == 7 and summary.resumed == 0
    assert check_submission(out, expected_image_ids(folder)) == []
    submission = read_string_csv(out)
    assert list(submission["ImageId"].unique()) == expected_image_ids(folder)  # every image, in order
    assert not journal_path(out).exists()
    # the blobs are found again (28x28 masks blur the ellipses' edges a little: IoU > 0.9 rather than 1)
    assert score_frames(truth, submission[submission["ImageId"] != "copy.png"]).score > 0.95


def test_an_image_without_detections_gets_the_placeholder_row(tmp_path):
    folder = tmp_path / "images"
    write_blob_images(folder, 2)
    out = tmp_path / "submission.csv"
    strict = SETTINGS.replace(min_score=0.99)
    predict_submission(Predictor([ColourBlobModel(blob_config())]), image_paths(folder), out, strict, progress=False)
    rows = read_string_csv(out)
    assert rows.values.tolist() == [["0000.png", "", "23"], ["0001.png", "", "23"]]


def test_an_interrupted_run_continues_where_it_stopped_and_gives_the_same_file(tmp_path):
    folder = tmp_path / "images"
    write_blob_images(folder, 7)
    paths = image_paths(folder)
    reference = tmp_path / "reference.csv"
    predict_submission(Predictor([ColourBlobModel(blob_config())], batch_size=2), paths, reference, SETTINGS,
                       progress=False)

    out = tmp_path / "submission.csv"
    stopping = ColourBlobModel(blob_config(), interrupt_after=2)  # Ctrl-C during the third batch
    with pytest.raises(KeyboardInterrupt):
        predict_submission(Predictor([stopping], batch_size=2), paths, out, SETTINGS, progress=False)
    assert not out.exists() and journal_path(out).exists()

    resumed_model = ColourBlobModel(blob_config())
    summary = predict_submission(Predictor([resumed_model], batch_size=2), paths, out, SETTINGS, progress=False)
    assert summary.resumed == 4 and resumed_model.calls == 2  # the 3 images not finished before, in batches of 2
    assert out.read_bytes() == reference.read_bytes()
    assert not journal_path(out).exists()


def test_a_journal_of_other_settings_is_not_continued(tmp_path):
    folder = tmp_path / "images"
    write_blob_images(folder, 3)
    out = tmp_path / "submission.csv"
    with pytest.raises(KeyboardInterrupt):
        predict_submission(Predictor([ColourBlobModel(blob_config(), interrupt_after=1)]), image_paths(folder), out,
                           SETTINGS, progress=False)
    other = SETTINGS.replace(mask_threshold=0.6)
    with pytest.raises(DataError, match="differs in post_processing.*--restart"):
        predict_submission(Predictor([ColourBlobModel(blob_config())]), image_paths(folder), out, other,
                           progress=False)
    model = ColourBlobModel(blob_config())
    summary = predict_submission(Predictor([model]), image_paths(folder), out, other, restart=True, progress=False)
    assert summary.resumed == 0 and model.images == 3


def test_cached_detections_are_reused_for_other_post_processing(blob_images, tmp_path):
    folder, truth = blob_images
    store = DetectionStore(tmp_path / "detections", {"weights": ["blobs"]})
    first = tmp_path / "first.csv"
    predict_submission(Predictor([ColourBlobModel(blob_config())]), image_paths(folder), first, SETTINGS, store=store,
                       progress=False)
    model = ColourBlobModel(blob_config())
    summary = predict_submission(Predictor([model]), image_paths(folder), tmp_path / "native.csv", SETTINGS,
                                 size=None, store=store, progress=False)
    assert model.calls == 0 and summary.from_cache == 6
    assert check_submission(tmp_path / "native.csv", expected_image_ids(folder), size=None, test_dir=folder) == []
    assert score_frames(truth, read_string_csv(tmp_path / "native.csv"), submission_size=None).score > 0.95


def test_an_ensemble_of_a_checkpoint_with_itself_equals_the_single_model(blob_images, tmp_path):
    folder, _ = blob_images
    config = blob_config()
    tta = parse_tta("flip,scales=0.75,1")
    single, double = tmp_path / "single.csv", tmp_path / "double.csv"
    predict_submission(Predictor([ColourBlobModel(config)], tta), image_paths(folder), single, SETTINGS,
                       progress=False)
    predict_submission(Predictor([ColourBlobModel(config), ColourBlobModel(config)], tta), image_paths(folder), double,
                       SETTINGS, progress=False)
    assert double.read_bytes() == single.read_bytes()
    assert len(read_string_csv(single)) > 6


def test_flip_tta_halves_the_score_of_what_only_one_view_sees(blob_images, tmp_path):
    # the stand-in's false positive (score 0.3) sits in the top-left corner: the mirrored view puts it elsewhere
    folder, truth = blob_images
    low = SETTINGS.replace(min_score=0.2)
    scores, metric = {}, {}
    for tta in ("none", "flip"):
        out = tmp_path / f"{tta}.csv"
        model = ColourBlobModel(blob_config(), false_positive="left")
        summary = predict_submission(Predictor([model], parse_tta(tta)), image_paths(folder), out, low,
                                     keep_scores=True, progress=False)
        assert check_submission(out, expected_image_ids(folder)) == []
        scores[tta] = sorted(row[3] for row in summary.scored_rows)
        metric[tta] = score_frames(truth, read_string_csv(out)).score
    assert scores["none"][:6] == pytest.approx([0.3] * 6)  # one false positive per image
    assert min(scores["flip"]) > 0.5  # (0.3 + 0) / 2 < 0.2: gone; the blobs, seen by both views, stay
    assert metric["flip"] > metric["none"]


def _peak_bytes(folder, count, tmp_path) -> int:
    write_blob_images(folder, count, sizes=((120, 128),))
    predictor = Predictor([ColourBlobModel(blob_config())], batch_size=2)
    tracemalloc.start()
    predict_submission(predictor, image_paths(folder), tmp_path / f"{count}.csv", SETTINGS, progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_peak_memory_does_not_grow_with_the_number_of_images(tmp_path):
    few = _peak_bytes(tmp_path / "few", 4, tmp_path)
    many = _peak_bytes(tmp_path / "many", 24, tmp_path)
    assert many < few * 1.5 + 2_000_000, (few, many)


def test_evaluation_scores_tables_and_draws_the_worst_images(blob_images, tmp_path):
    folder, truth = blob_images
    out = tmp_path / "submission.csv"
    loose = SETTINGS.replace(min_score=0.1)  # keeps the stand-in's false positives: not a perfect score
    summary = predict_submission(Predictor([ColourBlobModel(blob_config())]), image_paths(folder), out, loose,
                                 keep_scores=True, progress=False)
    evaluation = evaluate_submission(truth, out, summary.scored_rows, read_label_descriptions(), 512, folder,
                                     tmp_path / "worst", worst=3)
    assert 0.3 < evaluation.metric.score < 1.0
    assert set(evaluation.table["class"]) == {0, 1, 2}
    assert evaluation.table.loc[evaluation.table["class"] == 0, "predicted"].item() > \
        evaluation.table.loc[evaluation.table["class"] == 0, "true"].item()
    # ranked by score, the false positives (0.3) come last: COCO AP stays perfect while the metric does not
    assert evaluation.coco["AP"] == pytest.approx(1.0)
    assert [p.name for p in evaluation.overlays] == sorted(p.name for p in (tmp_path / "worst").iterdir())
    assert len(evaluation.overlays) == 3


def test_prefetching_raises_the_producers_error_and_stops_with_the_consumer():
    def items():
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in prefetched(items(), depth=1):
            got.append(item)
    assert got == [1, 2]

    produced = []

    def endless():
        while True:
            produced.append(len(produced))
            yield produced[-1]

    for item in prefetched(endless(), depth=2):
        if item == 3:
            break
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]
    assert len(produced) <= 3 + 2 + 2


def test_validation_images_of_a_split_and_of_a_truth_file(tmp_path):
    from fashion_seg.data.split import split_data_dir, write_split
    from fashion_seg.data.synthetic import make_demo_dataset
    from fashion_seg.evaluation.evaluate import split_images, truth_images

    demo = make_demo_dataset(tmp_path / "demo", train_images=6, test_images=2, max_side=240, large_side=None).root
    train_ids, val_ids, _ = split_data_dir(demo, val_images=2, seed=0)
    write_split(tmp_path / "split", train_ids, val_ids)
    paths, ids, truth = split_images(tmp_path / "split", demo)
    assert sorted(ids) == sorted(val_ids) and [p.name for p in paths] == ids
    assert all(p.parent == demo / "train" and p.exists() for p in paths)
    assert set(truth["ImageId"]) == set(val_ids)
    paths, ids, truth = truth_images(demo / "test_truth.csv", demo / "test")
    assert ids == list(dict.fromkeys(truth["ImageId"])) and [p.name for p in paths] == ids
    with pytest.raises(DataError, match="are not in"):
        truth_images(demo / "test_truth.csv", demo / "train")


def test_an_unreadable_image_gets_the_placeholder_and_the_run_goes_on(blob_images, tmp_path):
    folder, _ = blob_images
    (folder / "0002.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "submission.csv"
    summary = predict_submission(Predictor([ColourBlobModel(blob_config())], batch_size=2), image_paths(folder), out,
                                 SETTINGS, progress=False)
    assert [image_id for image_id, _ in summary.unreadable] == ["0002.png"]
    assert "0002.png" in summary.unreadable[0][1]
    assert check_submission(out, expected_image_ids(folder)) == []
    rows = read_string_csv(out)
    assert rows[rows["ImageId"] == "0002.png"].values.tolist() == [["0002.png", "", "23"]]
    assert (rows["ImageId"] == "0003.png").sum() >= 2  # its batch-mate was predicted


def test_a_model_with_an_attribute_head_writes_composed_classids(blob_images, tmp_path):
    from fashion_seg.prediction.class_ids import ClassIdComposer
    from fashion_seg.evaluation.metrics import score_frames

    from .conftest import BLOB_ATTRIBUTES, AttributeBlobModel, with_blob_attributes

    folder, truth = blob_images
    table = {int(c): ids for c, ids in BLOB_ATTRIBUTES["category_attributes"].items()}
    composer = ClassIdComposer.from_table(BLOB_ATTRIBUTES["attribute_ids"], table, read_label_descriptions())
    out = tmp_path / "submission.csv"
    tuned = SETTINGS.replace(attribute_threshold=0.4, category_only=(1,))
    predict_submission(Predictor([AttributeBlobModel()], parse_tta("flip")), image_paths(folder), out, tuned,
                       progress=False, composer=composer)
    rows = read_string_csv(out)
    # shirts above-the-hip (0.45 >= 0.4; mini length 0.95 is never seen with shirts), tops alone, sweaters plain
    assert set(rows["ClassId"]) == {"0_0", "1", "2"}
    assert check_submission(out, expected_image_ids(folder), category_attributes=table) == []
    attributed = with_blob_attributes(truth)
    shirts_and_tops = attributed[attributed["ClassId"] != "2_0"]
    kept = rows[rows["ClassId"] != "2"]
    assert score_frames(shirts_and_tops, kept).score > 0.95
    # the same model and settings without the table: categories only, exactly the rows of a model without a head
    plain, headless = tmp_path / "plain.csv", tmp_path / "headless.csv"
    predict_submission(Predictor([AttributeBlobModel()], parse_tta("flip")), image_paths(folder), plain, tuned,
                       progress=False)
    predict_submission(Predictor([ColourBlobModel(blob_config())], parse_tta("flip")), image_paths(folder), headless,
                       tuned, progress=False)
    assert plain.read_bytes() == headless.read_bytes()
