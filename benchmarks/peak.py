"""The machine's measured peak: float32 GEMM (numpy's BLAS and TensorFlow/oneDNN) and a 3x3 convolution
(TensorFlow/oneDNN), and bfloat16 GEMM where the CPU has AVX512_BF16 or AMX, best of a few runs each.

    python benchmarks/peak.py

The model benchmarks divide their FLOPs per second by the float32 peak (the highest float32 figure here).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass
class Peak:
    numpy_gemm: float  # GFLOP/s
    tf_gemm: float
    tf_conv: float
    tf_gemm_bf16: float | None
    bf16_flags: list[str]

    @property
    def float32(self) -> float:
        return max(self.numpy_gemm, self.tf_gemm, self.tf_conv)

    def lines(self) -> list[str]:
        lines = [f"float32 GEMM numpy {self.numpy_gemm:.1f} GFLOP/s, TensorFlow {self.tf_gemm:.1f}; "
                 f"3x3 conv TensorFlow {self.tf_conv:.1f}  -> float32 peak {self.float32:.1f} GFLOP/s"]
        if self.tf_gemm_bf16 is None:
            lines.append("bfloat16: the CPU has neither AVX512_BF16 nor AMX: not measured")
        else:
            lines.append(f"bfloat16 GEMM TensorFlow ({', '.join(self.bf16_flags)}): {self.tf_gemm_bf16:.1f} GFLOP/s, "
                         f"{self.tf_gemm_bf16 / self.tf_gemm:.2f}x float32")
        return lines


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def best_seconds(function, repeats: int) -> float:
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def measure_peak(size: int = 2048, repeats: int = 5) -> Peak:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    gemm_flops = 2.0 * size ** 3
    numpy_gemm = gemm_flops / best_seconds(lambda: a @ b, repeats) / 1e9

    ta, tb = tf.constant(a), tf.constant(b)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.linalg.matmul(x, y)[:1, :1]))
    tf_gemm = gemm_flops / best_seconds(lambda: matmul(ta, tb).numpy(), repeats) / 1e9

    image = tf.constant(rng.standard_normal((1, 128, 128, 256), dtype=np.float32))
    kernel = tf.constant(rng.standard_normal((3, 3, 256, 256), dtype=np.float32))
    conv = tf.function(lambda x, k: tf.reduce_sum(tf.nn.conv2d(x, k, 1, "SAME")[:, :1, :1]))
    conv_flops = 2.0 * 128 * 128 * 3 * 3 * 256 * 256
    tf_conv = conv_flops / best_seconds(lambda: conv(image, kernel).numpy(), repeats) / 1e9

    flags = sorted(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    bf16 = None
    if flags:
        ha, hb = tf.cast(ta, tf.bfloat16), tf.cast(tb, tf.bfloat16)
        bf16 = gemm_flops / best_seconds(lambda: matmul(ha, hb).numpy(), repeats) / 1e9
    return Peak(numpy_gemm, tf_gemm, tf_conv, bf16, flags)


if __name__ == "__main__":
    print(os.getloadavg())
    for line in measure_peak().lines():
        print(line)
