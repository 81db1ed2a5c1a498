"""benchmarks/bench_quality.py at toy size: trains, predicts and scores through the project's commands, writes the
score-against-minutes table and its curve."""

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_quality  # noqa: E402

TOY = ["--train-arg=--stages=heads:1,all:1", "--train-arg=--set=STEPS_PER_EPOCH=2",
       "--train-arg=--set=VALIDATION_STEPS=1", "--train-arg=--set=IMAGE_MIN_DIM=128",
       "--train-arg=--set=IMAGE_MAX_DIM=128", "--train-arg=--warmup-steps=0"]


@pytest.mark.slow
def test_the_toy_benchmark_writes_the_table_and_the_curve(tmp_path, capsys):
    assert bench_quality.main(["--profile", "cpu-crowded", "--minutes", "30", "--marks", "0.0001,30",
                               "--train-images", "6", "--test-images", "2", "--cache-side", "256",
                               "--work", str(tmp_path), *TOY]) == 0
    table = pd.read_csv(tmp_path / "quality.csv")
    assert list(table.columns) == bench_quality.COLUMNS
    assert table["epoch"].tolist() == [2]  # no epoch ends by 0.0001 min; both epochs by 30 min
    assert 0 < table["minutes"].iloc[0] < 30 and table["load"].iloc[0] > 0
    for column in ("score", "category_score", "tuned_score", "tuned_category_score"):
        assert 0.0 <= table[column].iloc[0] <= 1.0
    assert (tmp_path / "quality.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "tuned.json").exists() and len(list(tmp_path.glob("submission_*.csv"))) == 2
    assert "small_parts_score" in capsys.readouterr().out
