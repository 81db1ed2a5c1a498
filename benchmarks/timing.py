"""Timing helpers the benchmarks share (imported from the benchmark's own folder: ``from timing import median_ms``)."""

from __future__ import annotations

import statistics
import time


def median_ms(function, repeats: int) -> float:
    """Median wall time of ``function()`` in milliseconds over ``repeats`` calls, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def compiled(function):
    """``function`` compiled by the current Keras backend: ``jax.jit``, or an XLA ``tf.function``."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(function)
    import tensorflow as tf

    return tf.function(function, jit_compile=True)
