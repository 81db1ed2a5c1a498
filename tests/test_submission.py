"""Submissions: rows at 512x512, same-class overlaps removed by score, placeholders, atomic writes, the checker."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fashion_seg.data import rle
from fashion_seg.data.mask_geometry import hard_overlap_suppression
from fashion_seg.prediction.submission import (
    SubmissionWriter,
    check_submission,
    expected_image_ids,
    image_rows,
    placeholder_row,
    write_submission,
)
from fashion_seg.errors import DataError


def test_hard_overlap_suppression_gives_shared_pixels_to_the_higher_score():
    masks = np.zeros((1, 6, 3), bool)
    masks[0, 0:4, 0] = True  # class "1", score 0.5
    masks[0, 2:6, 1] = True  # class "1", score 0.9: keeps its pixels
    masks[0, 0:6, 2] = True  # class "2": other classes may overlap
    out = hard_overlap_suppression(masks, ["1", "1", "2"], [0.5, 0.9, 0.1])
    assert out[0, :, 0].tolist() == [True, True, False, False, False, False]
    assert out[0, :, 1].tolist() == masks[0, :, 1].tolist()
    assert out[0, :, 2].all()
    assert masks[0, 0:4, 0].all()  # the input is not modified


def test_image_rows_resize_to_512_and_remove_same_class_overlap():
    masks = np.zeros((100, 200, 3), bool)
    masks[10:60, 20:120, 0] = True
    masks[40:90, 100:180, 1] = True  # overlaps mask 0, same class, higher score
    masks[0:100, 0:200, 2] = True
    rows = image_rows("a.jpg", masks, ["6", "6", 10], scores=[0.3, 0.8, 0.5])
    assert [r[2] for r in rows] == ["6", "10", "6"]  # by descending score
    decoded = [rle.decode(r[1], 512, 512) for r in rows]
    assert not (decoded[0] & decoded[2]).any()
    assert decoded[1].all()
    assert image_rows("b.jpg", np.zeros((50, 50, 1), bool), ["1"]) == [placeholder_row("b.jpg")]
    assert image_rows("c.jpg", np.zeros((50, 50, 0), bool), []) == [("c.jpg", "", "23")]
    native = image_rows("d.jpg", masks[:, :, :1], ["6"], size=None)
    assert rle.decode(native[0][1], 100, 200).sum() == 50 * 100
    with pytest.raises(DataError, match="ClassId 'shoe'"):
        image_rows("e.jpg", masks[:, :, :1], ["shoe"])


def test_the_writer_streams_rows_adds_placeholders_and_appears_only_when_done(tmp_path):
    path = tmp_path / "submission.csv"
    mask = np.zeros((20, 30, 1), bool)
    mask[5:15, 5:25] = True
    with SubmissionWriter(path, ["a.jpg", "b.jpg", "c.jpg"]) as writer:
        writer.add("a.jpg", mask, ["23"], [0.9])
        writer.add("c.jpg", mask[:, :, :0], [], [])
        assert not path.exists()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["ImageId", "EncodedPixels", "ClassId"]
    assert list(frame["ImageId"]) == ["a.jpg", "c.jpg", "b.jpg"] and writer.rows == 3
    assert list(frame["EncodedPixels"][1:]) == ["", ""] and list(frame["ClassId"][1:]) == ["23", "23"]
    assert check_submission(path, ["a.jpg", "b.jpg", "c.jpg"]) == []


def test_a_crash_while_writing_leaves_the_old_file(tmp_path):
    path = tmp_path / "submission.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with SubmissionWriter(path, ["a.jpg"]) as writer:
            writer.add_rows([("a.jpg", "", "23")])
            raise RuntimeError("GPU fell over")
    assert path.read_text() == "old\n" and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(DataError, match="'z.jpg' is not one of the 1 test images"):
        write_submission([("z.jpg", "", "23")], path, ["a.jpg"])


def test_the_checker_lists_every_problem_with_its_line(tmp_path):
    square = np.zeros((512, 512), bool)
    square[10:50, 10:50] = True
    shifted = np.roll(square, 20, axis=0)
    rows = [
        ("a.jpg", rle.encode(square), "6"),           # line 2: fine
        ("a.jpg", rle.encode(shifted), "6"),          # line 3: overlaps line 2 (same class)
        ("a.jpg", rle.encode(shifted), "7"),          # line 4: fine (other class)
        ("zzz.jpg", "", "23"),                        # line 5: unknown image
        ("a.jpg", "1 5", "shoe"),                     # line 6: bad ClassId
        ("a.jpg", "1 5", "77"),                       # line 7: unknown category
        ("a.jpg", "1 5", "10_200"),                   # line 8: unknown attribute
        ("a.jpg", "262144 2", "1"),                   # line 9: past 512x512
        ("a.jpg", "1 5", "10_20_3"),                  # line 10: attributes not ascending
    ]
    path = tmp_path / "submission.csv"
    pd.DataFrame(rows, columns=["ImageId", "EncodedPixels", "ClassId"]).to_csv(path, index=False)
    problems = check_submission(path, ["a.jpg", "b.jpg"])
    text = [str(p) for p in problems]
    assert text == [
        "line 3: mask overlaps line 2: same ImageId and ClassId '6' must not share pixels",
        "line 5: image 'zzz.jpg' is not a test image",
        "line 6: ClassId 'shoe' is not '<category>' or '<category>_<attribute>_...'",
        "line 7: unknown category 77 in ClassId '77'",
        "line 8: unknown attribute(s) [200] in ClassId '10_200'",
        "line 9: EncodedPixels for a 512x512 mask: run 262144 2 (pair 1) ends at pixel 262145, "
        "past the last pixel 262144 of a 512x512 mask",
        "line 10: ClassId '10_20_3': attributes must be ascending, each once",
        "file: test image b.jpg has no row (add a placeholder row)",
    ]


def test_wrong_columns_are_reported(tmp_path):
    path = tmp_path / "s.csv"
    pd.DataFrame({"ImageId": ["a.jpg"], "ClassId": ["23"], "EncodedPixels": [""]}).to_csv(path, index=False)
    assert [str(p) for p in check_submission(path, ["a.jpg"])] == [
        "file: columns must be ImageId,EncodedPixels,ClassId (wrong order)"]
    pd.DataFrame({"ImageId": ["a.jpg"], "Mask": [""]}).to_csv(path, index=False)
    assert "missing EncodedPixels, ClassId; unexpected Mask" in str(check_submission(path, ["a.jpg"])[0])


def test_expected_images_from_a_folder_or_the_sample_and_native_size_checks(tmp_path):
    (tmp_path / "test").mkdir()
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "test" / "b.jpg")
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "test" / "a.jpg")
    (tmp_path / "test" / "notes.txt").write_text("not an image")
    assert expected_image_ids(test_dir=tmp_path / "test") == ["a.jpg", "b.jpg"]
    pd.DataFrame({"ImageId": ["b.jpg", "a.jpg"], "EncodedPixels": ["1 1", "1 1"], "ClassId": ["23", "23"]}).to_csv(
        tmp_path / "sample.csv", index=False)
    assert expected_image_ids(sample_csv=tmp_path / "sample.csv") == ["b.jpg", "a.jpg"]
    frame = pd.DataFrame({"ImageId": ["a.jpg", "b.jpg"], "EncodedPixels": ["1 1200", "1 1201"], "ClassId": ["1", "1"]})
    problems = check_submission(frame, ["a.jpg", "b.jpg"], size=None, test_dir=tmp_path / "test")
    assert [p.line for p in problems] == [3] and "30x40 mask" in problems[0].message
    with pytest.raises(DataError, match="needs the test folder"):
        check_submission(frame, ["a.jpg"], size=None)
    with pytest.raises(DataError, match="test folder not found"):
        expected_image_ids(test_dir=tmp_path / "nope")


def test_composed_classids_pass_the_checker_and_unseen_attributes_are_refused(tmp_path):
    from fashion_seg.prediction.class_ids import ClassIdComposer

    table = {10: (3, 14, 20), 31: ()}
    composer = ClassIdComposer.from_table(range(92), table)
    probabilities = np.full((3, 92), 0.9, np.float32)  # every attribute likely, the ones never seen included
    class_ids = composer.compose([10, 31, 0], probabilities, composer.thresholds(0.5))
    assert class_ids == ["10_3_14_20", "31", "0"]
    masks = np.zeros((64, 64, 3), bool)
    masks[0:30, 0:30, 0] = masks[10:40, 10:40, 1] = masks[20:60, 20:60, 2] = True
    rows = image_rows("a.jpg", masks, class_ids, [0.9, 0.8, 0.7])
    path = tmp_path / "submission.csv"
    write_submission(rows + [("a.jpg", rle.encode(np.eye(512, dtype=bool)), "31_5")], path, ["a.jpg"])
    assert check_submission(path, ["a.jpg"]) == []  # 31_5 is a valid ClassId of known ids for Kaggle
    problems = check_submission(path, ["a.jpg"], category_attributes=table)
    assert [str(p) for p in problems] == ["line 5: ClassId '31_5': attribute(s) [5] never seen with category 31 in "
                                          "training"]
