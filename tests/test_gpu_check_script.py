"""benchmarks/gpu_check.sh runs first time: at toy size on CPU, with the JAX backend and TensorFlow hidden (as on the
GPU machine, which has JAX but not TensorFlow), and its table holds the figures it measured."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def table_values(output: str) -> dict[str, str]:
    rows = re.findall(r"^\| (.+?) +\| (.+) \|$", output, flags=re.MULTILINE)
    return {name.strip(): value for name, value in rows}


def leading_number(text: str) -> float:
    return float(re.match(r"[0-9.]+", text).group())


@pytest.mark.slow
def test_gpu_check_toy_run_on_cpu(tmp_path):
    hidden = tmp_path / "no_tensorflow" / "tensorflow"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('no TensorFlow on the GPU machine')\n")
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(hidden.parent), "KERAS_BACKEND": "jax"}
    figures_path = tmp_path / "figures.json"
    completed = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--toy", "--json",
                                str(figures_path)], capture_output=True, text=True, env=env, timeout=800)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    figures = json.loads(figures_path.read_text())
    table = table_values(completed.stdout)

    assert figures["device"].startswith("cpu")
    assert (figures["backbone"], figures["size"], figures["precision"]) == ("resnet_tiny", 128, "mixed_bfloat16")
    assert figures["train_batch"] == 2 and math.isfinite(figures["train_loss"])
    assert figures["train_img_s"] == pytest.approx(figures["train_batch"] / figures["train_step_s"])
    assert figures["mfu_measured"] == pytest.approx(
        figures["train_flops_per_image"] * figures["train_img_s"] / figures["matmul_bf16_flops"])
    assert 0 < figures["mfu_measured"] < 1.5 and figures["mfu_nominal"] is None
    assert figures["infer_images"] == 4 and 0 < figures["infer_rows_per_image"] <= 8  # DETECTION_MAX_INSTANCES
    assert figures["peak_memory_gib"] > 0.1 and figures["memory_kind"] == "host peak RSS"

    assert leading_number(table["training images/s"]) == pytest.approx(figures["train_img_s"], abs=0.006)
    assert f"batch {figures['train_batch']}" in table["training images/s"]
    assert leading_number(table["training GFLOP/image"]) == pytest.approx(
        figures["train_flops_per_image"] / 1e9, abs=0.06)
    assert leading_number(table["MFU vs measured bf16 matmul"]) == pytest.approx(
        100 * figures["mfu_measured"], abs=0.06)
    assert leading_number(table["inference images/s"]) == pytest.approx(figures["infer_img_s"], abs=0.006)
    assert leading_number(table["peak memory (host peak RSS)"]) == pytest.approx(figures["peak_memory_gib"], abs=0.006)
    assert table["MFU vs nominal bf16 peak"] == "n/a (unknown device)"


def test_gpu_check_says_what_to_do_without_keras(tmp_path):
    hidden = tmp_path / "no_keras" / "keras"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('no Keras')\n")
    work = tmp_path / "tree" / "benchmarks"
    work.mkdir(parents=True)
    (work / "gpu_check.sh").write_text((ROOT / "benchmarks" / "gpu_check.sh").read_text())
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(hidden.parent)}
    completed = subprocess.run(["bash", str(work / "gpu_check.sh")], capture_output=True, text=True, env=env)
    assert completed.returncode == 2
    assert "gpu_check.sh --fetch-wheels" in completed.stderr and ".whl" in completed.stderr


def test_flops_of_convolution_transposed_convolution_and_dense_layers():
    import keras

    from flops import layer_flops

    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", name="conv")
    up = keras.layers.Conv2DTranspose(2, 2, strides=2, name="up")
    outputs = up(conv(inputs))
    rois = keras.Input((5, 6))
    dense = keras.layers.TimeDistributed(keras.layers.Dense(7), name="fc")
    model = keras.Model([inputs, rois], [outputs, dense(rois)])
    by_name = {layer.name: layer_flops(layer) for layer in model.layers}
    assert by_name["conv"] == 2 * 8 * 8 * 3 * 3 * 3 * 4  # every output pixel: a 3x3x3 window per filter
    assert by_name["up"] == 2 * 8 * 8 * 2 * 2 * 4 * 2  # every input pixel spreads a 2x2x2 patch per channel
    assert by_name["fc"] == 2 * 5 * 6 * 7  # 5 rows of a 6 -> 7 product
