"""Inference throughput of zoo models (used by scripts/benchmark_model.py)."""

import platform
import time

import keras
import numpy as np

from nonlocal_tf.models import count_macs

from .api import get_entry
from .api import get_model


def benchmark_model(name, batch_size, *, iters=3, warmup=1, input_shape=None):
    """Times `model.predict_on_batch` (the compiled predict step).

    Args:
        name: zoo model name or alias (built at full width, random weights).
        batch_size: clips per call.
        iters: timed calls; the median is reported.
        warmup: untimed calls first (compilation, allocation).
        input_shape: clip shape; default the entry's `(T, 224, 224, 3)`.

    Returns:
        A dict with the timings, clips/s and achieved multiply-add rate.

    Example:
        >>> row = benchmark_model("I3D_NLN_8x8_R50", batch_size=4)
        >>> print(format_table([row]))
    """
    entry = get_entry(name)
    shape = tuple(input_shape or entry.input_shape)
    model = get_model(name, input_shape=shape)
    macs = count_macs(model)
    x = np.random.default_rng(0).normal(size=(batch_size, *shape))
    x = x.astype("float32")
    for _ in range(warmup):
        model.predict_on_batch(x)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    clips_per_s = batch_size / seconds
    return {
        "model": entry.name,
        "batch_size": batch_size,
        "input_shape": list(shape),
        "gmacs_per_clip": macs / 1e9,
        "median_s": seconds,
        "times_s": times,
        "clips_per_s": clips_per_s,
        "achieved_gmacs_per_s": clips_per_s * macs / 1e9,
        "achieved_gflops_per_s": 2 * clips_per_s * macs / 1e9,
        "backend": keras.backend.backend(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
    }


def format_table(rows):
    """A fixed-width text table of `benchmark_model` results."""
    header = (
        f"{'model':34} {'batch':>5} {'GMACs/clip':>10} {'median s':>9} "
        f"{'clips/s':>8} {'GFLOP/s':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['model']:34} {r['batch_size']:>5} "
            f"{r['gmacs_per_clip']:>10.2f} {r['median_s']:>9.3f} "
            f"{r['clips_per_s']:>8.2f} "
            f"{r['achieved_gflops_per_s']:>8.1f}"
        )
    lines.append("GFLOP/s = 2 x multiply-adds per second.")
    return "\n".join(lines)
