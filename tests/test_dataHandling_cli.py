"""dataHandling.py end to end on the demo data: outputs, exit codes, one-line errors."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest

import dataHandling
from fashion_seg.cli import run

PNG = b"\x89PNG\r\n\x1a\n"


def cli(capsys, *argv):
    code = run(dataHandling.main, list(map(str, argv)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_every_command(repo_root):
    result = subprocess.run([sys.executable, "dataHandling.py", "--help"], cwd=repo_root, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    for command in ["make-demo", "validate", "stats", "split", "prepare", "perturb", "score", "check-submission"]:
        assert command in result.stdout


def test_a_user_error_is_one_line_without_traceback(repo_root, tmp_path):
    result = subprocess.run([sys.executable, "dataHandling.py", "score", "--truth", str(tmp_path / "none.csv"),
                             "--submission", str(tmp_path / "none.csv")], cwd=repo_root, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: file not found: {tmp_path / 'none.csv'}"
    assert "Traceback" not in result.stderr


def test_make_demo(capsys, tmp_path):
    code, out, _ = cli(capsys, "make-demo", "--out", tmp_path / "d", "--train-images", 4, "--test-images", 2,
                       "--large-side", 0, "--seed", 3)
    assert code == 0 and "4 train images" in out
    assert len(list((tmp_path / "d" / "train").glob("*.jpg"))) == 4
    assert (tmp_path / "d" / "sample_submission.csv").exists()


def test_validate_a_clean_and_a_broken_folder_and_fix(capsys, demo_data, tmp_path):
    assert cli(capsys, "validate", "--data-dir", demo_data)[0] == 0
    broken = tmp_path / "broken"
    shutil.copytree(demo_data, broken)
    train = pd.read_csv(broken / "train.csv", dtype=str)
    train.loc[0, "EncodedPixels"] = "1 2 3"
    train.to_csv(broken / "train.csv", index=False)
    victim = sorted((broken / "train").glob("*.jpg"))[-1]
    victim.unlink()
    code, out, _ = cli(capsys, "validate", "--data-dir", broken, "--fix", tmp_path / "clean.csv",
                       "--report", tmp_path / "problems.csv")
    assert code == 1
    assert "invalid_rle" in out and "line 2" in out and "odd number of values (3)" in out
    assert "missing_image" in out and victim.name in out
    cleaned = pd.read_csv(tmp_path / "clean.csv", dtype=str)
    assert victim.name not in set(cleaned["ImageId"]) and len(cleaned) < len(train)
    assert len(pd.read_csv(tmp_path / "problems.csv")) == 2
    code, _, err = cli(capsys, "validate", "--data-dir", broken, "--fix", broken / "train.csv")
    assert code == 2 and err.startswith("error: --fix") and "overwrite the input" in err


def test_stats_writes_tables_charts_and_samples(capsys, demo_data, tmp_path):
    code, out, _ = cli(capsys, "stats", "--data-dir", demo_data, "--out", tmp_path / "stats", "--samples", 2)
    assert code == 0 and "12 images" in out and "shoe" in out
    for name in ["categories.png", "attributes.png", "masks_per_image.png", "image_sizes.png"]:
        assert (tmp_path / "stats" / name).read_bytes().startswith(PNG)
    assert len(list((tmp_path / "stats" / "samples").glob("*.png"))) == 2
    categories = pd.read_csv(tmp_path / "stats" / "categories.csv")
    train = pd.read_csv(demo_data / "train.csv")
    assert categories["instances"].sum() == len(train)


def test_split(capsys, demo_data, tmp_path):
    code, out, _ = cli(capsys, "split", "--data-dir", demo_data, "--val-images", 4, "--seed", 1, "--out", tmp_path)
    assert code == 0 and "8 train and 4 validation" in out
    assert len((tmp_path / "val_ids.txt").read_text().split()) == 4
    with pytest.raises(SystemExit):  # argparse: exactly one of the sizes
        dataHandling.main(["split", "--data-dir", str(demo_data), "--val-images", "4", "--val-fraction", "0.2",
                           "--out", str(tmp_path)])


def test_prepare_reports_a_corrupt_image_and_writes_the_rest(capsys, demo_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_data, data)
    bad = sorted((data / "test").glob("*.jpg"))[0]
    bad.write_bytes(b"broken")
    code, out, _ = cli(capsys, "prepare", "--data-dir", data, "--max-side", 96, "--out", tmp_path / "cache",
                       "--workers", 2)
    assert code == 1 and f"failed test/{bad.name}: unreadable image" in out
    manifest = pd.read_csv(tmp_path / "cache" / "manifest.csv")
    assert len(manifest) == 15 and manifest[["CachedHeight", "CachedWidth"]].max().max() == 96
    code, out, _ = cli(capsys, "prepare", "--data-dir", demo_data, "--max-side", 96, "--out", tmp_path / "cache")
    assert code == 0 and "15 kept" in out


def test_score_truth_against_itself_and_a_perturbed_copy(capsys, demo_data, tmp_path):
    truth = demo_data / "test_truth.csv"
    code, out, _ = cli(capsys, "score", "--truth", truth, "--submission", truth)
    assert code == 0 and out.splitlines()[-1] == "score: 1.000000"
    assert cli(capsys, "perturb", "--truth", truth, "--out", tmp_path / "p.csv", "--seed", 2)[0] == 0
    code, out, _ = cli(capsys, "score", "--truth", truth, "--submission", tmp_path / "p.csv", "--coco",
                       "--panels", tmp_path / "panels", "--image-dir", demo_data / "test", "--worst", 2)
    lines = out.splitlines()
    value = float(lines[-1].split("score: ")[1])
    assert code == 0 and 0.0 < value < 1.0
    assert any(line.startswith("COCO mask AP") for line in lines)
    assert any("shoe" in line for line in lines)
    assert len(list((tmp_path / "panels").glob("*.png"))) == 2
    code, out, _ = cli(capsys, "score", "--truth", truth, "--submission", tmp_path / "p.csv", "--size", "native",
                       "--average", "image_class", "--by", "class_id")
    assert code == 0 and 0.0 < float(out.splitlines()[-1].split("score: ")[1]) < 1.0
    code, _, err = cli(capsys, "score", "--truth", truth, "--submission", truth, "--panels", tmp_path)
    assert code == 2 and err == "error: --panels needs --image-dir (the folder of the truth's images)\n"


def test_score_shows_what_attributes_cost(capsys, tmp_path):
    """A dress found with a wrong length: 0 for it in the competition metric, 1 with attributes stripped."""
    import numpy as np

    from fashion_seg.data import rle

    dress, shoe = np.zeros((40, 40), bool), np.zeros((40, 40), bool)
    dress[0:30, 5:25], shoe[32:38, 28:38] = True, True
    frame = pd.DataFrame({"ImageId": ["x.jpg", "x.jpg"], "EncodedPixels": [rle.encode(dress), rle.encode(shoe)],
                          "Height": [40, 40], "Width": [40, 40], "ClassId": ["10_3_20", "23"]})
    frame.to_csv(tmp_path / "truth.csv", index=False)
    frame.assign(ClassId=["10_5_20", "23"]).to_csv(tmp_path / "submission.csv", index=False)
    code, out, _ = cli(capsys, "score", "--truth", tmp_path / "truth.csv", "--submission", tmp_path / "submission.csv")
    lines = out.splitlines()
    assert code == 0 and lines[-1] == "score: 0.333333"  # pairs 10_3_20: 0, 10_5_20: 0, 23: 1
    assert lines[-2] == "score with attributes stripped from both sides (category only): 1.000000"
    assert ("attributes over 2 matched instances (same image and category, mask IoU > 0.5); 1 of the 1 true "
            "instances with attributes matched") in lines
    rows = {line.split()[0]: line.split()[-6:] for line in lines if line.split()[:1] in (["length"], ["all"])}
    assert rows["length"] == ["1", "1", "0", "0.0000", "0.0000", "0.0000"]  # 3 true, 5 predicted
    assert rows["all"] == ["2", "2", "1", "0.5000", "0.5000", "0.5000"]  # symmetrical (20) right
    assert any(line.split()[-6:] == ["0", "0", "0", "-", "-", "-"] for line in lines if "waistline" in line)


def test_check_submission(capsys, demo_data, tmp_path):
    truth = demo_data / "test_truth.csv"
    cli(capsys, "perturb", "--truth", truth, "--out", tmp_path / "p.csv")
    code, out, _ = cli(capsys, "check-submission", "--submission", tmp_path / "p.csv", "--test-dir", demo_data / "test")
    assert code == 0 and out.startswith("ok:")
    assert cli(capsys, "check-submission", "--submission", tmp_path / "p.csv", "--sample",
               demo_data / "sample_submission.csv")[0] == 0
    frame = pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False)
    frame.loc[0, "ClassId"] = "99"
    frame = frame[frame["ImageId"] != frame["ImageId"].iloc[-1]]
    frame.to_csv(tmp_path / "bad.csv", index=False)
    code, out, _ = cli(capsys, "check-submission", "--submission", tmp_path / "bad.csv", "--test-dir", demo_data / "test")
    assert code == 1
    assert "line 2: unknown category 99" in out and "has no row" in out and "2 problems" in out
