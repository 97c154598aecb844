"""Inference and training-step throughput of zoo models (plain Keras).

Used by `python -m benchmarks.model`; runs on any Keras backend (the GPU
machines have JAX and no TensorFlow).

FLOPs: the zoo table's multiply-adds per clip (`model_zoo_table`, the
paper's "GFLOPs") for an entry at its own input and full width, else those
of the built model (`count_macs`). Achieved GFLOP/s counts 2 floating-point
operations per multiply-add. A training step is taken as 3 forward passes
(forward, gradient w.r.t. activations, gradient w.r.t. weights), the usual
estimate; BN, ReLU, pooling, loss and optimizer update are not counted.

`plain_keras_ops` runs the same models with Keras's own 3D convolutions and
max pools instead of the library's 2D rewrites (`FrameConv3D`,
`FrameMaxPooling3D`), for their speed ratio.
"""

import contextlib
import platform
import time

import keras
import numpy as np

from nonlocal_tf.layers import FrameConv3D
from nonlocal_tf.layers import FrameMaxPooling3D
from nonlocal_tf.models import count_macs
from nonlocal_tf.zoo import get_entry
from nonlocal_tf.zoo import get_model
from nonlocal_tf.zoo.model_zoo_table import entry_complexity

# The library's layer methods that rewrite 3D ops as 2D ones, with the Keras
# parent whose method `plain_keras_ops` puts in their place.
REWRITTEN_METHODS = (
    (FrameConv3D, keras.layers.Conv3D, "convolution_op"),
    (FrameMaxPooling3D, keras.layers.MaxPooling3D, "call"),
)

INFERENCE = "inference"
TRAINING = "training"
TRAINING_FLOPS_FACTOR = 3


def model_macs(name, model, shape, width_per_group):
    """`(multiply-adds per clip, source)` of zoo model `name`."""
    entry = get_entry(name)
    if tuple(shape) == tuple(entry.input_shape) and width_per_group == 64:
        return entry_complexity(name).macs, "zoo table"
    return count_macs(model), "count_macs (built model)"


@contextlib.contextmanager
def plain_keras_ops():
    """Within, the library's 3D layers run Keras's own 3D ops.

    `FrameConv3D.convolution_op` and `FrameMaxPooling3D.call` are replaced
    by those of `keras.layers.Conv3D` and `keras.layers.MaxPooling3D` (the
    backend's 3D convolution and max pool), and restored on exit. A model
    built and run inside is the same model (weights, config and outputs up
    to float rounding) without the 2D rewrites; build, trace and time it
    all inside, as a function traced there keeps the ops it traced.

    Example:
        >>> with plain_keras_ops():
        ...     row = benchmark_model("I3D_NLN_8x8_R50", batch_size=4)
    """
    saved = [(cls, name, vars(cls)[name]) for cls, _, name in REWRITTEN_METHODS]
    try:
        for cls, parent, name in REWRITTEN_METHODS:
            setattr(cls, name, getattr(parent, name))
        yield
    finally:
        for cls, name, method in saved:
            setattr(cls, name, method)


def device_description():
    """The backend's compute device, as far as Keras can say.

    Example:
        >>> device_description()
        'jax: NVIDIA H100 80GB HBM3'
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"jax: {getattr(device, 'device_kind', device.platform)}"
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return f"torch: {torch.cuda.get_device_name(0)}"
    return f"{backend}: CPU ({platform.processor() or platform.machine()})"


def time_calls(call, iters, warmup):
    """Seconds of each of `iters` calls of `call`, after `warmup` untimed."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def make_row(
    name, mode, batch_size, shape, width, macs, source, times, model, **extra
):
    """One benchmark row: timings, clips/s, achieved GFLOP/s, setting.

    Args:
        name: Zoo model name or alias.
        mode: `INFERENCE` or `TRAINING` (3 forward passes of FLOPs).
        batch_size: Clips per call.
        shape: Clip shape `(T, H, W, 3)`.
        width: Width per group.
        macs: Forward multiply-adds per clip.
        source: Where `macs` comes from.
        times: Seconds of each timed call.
        model: The model (its `jit_compile`, unless `extra` says).
        **extra: More fields (they override the defaults).

    Returns:
        A JSON-serialisable dict.
    """
    seconds = float(np.median(times))
    clips_per_s = batch_size / seconds
    factor = TRAINING_FLOPS_FACTOR if mode == TRAINING else 1
    return {
        "model": get_entry(name).name,
        "mode": mode,
        "batch_size": batch_size,
        "input_shape": list(shape),
        "width_per_group": width,
        "gmacs_per_clip": macs / 1e9,
        "gmacs_source": source,
        "flops_per_clip_factor": factor,
        "median_s": seconds,
        "times_s": times,
        "clips_per_s": clips_per_s,
        "achieved_gflops_per_s": 2 * factor * clips_per_s * macs / 1e9,
        "jit_compile": bool(getattr(model, "jit_compile", False)),
        "mixed_precision": model.dtype_policy.name,
        "compute_dtype": model.dtype_policy.compute_dtype,
        "backend": keras.backend.backend(),
        "device": device_description(),
        "machine": platform.machine(),
        "step": "predict_on_batch" if mode == INFERENCE else "train_on_batch",
        **extra,
    }


def random_inputs(batch_size, shape, classes, seed=0):
    """Random float32 clips `(B, *shape)` and int32 labels `(B,)`."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch_size, *shape)).astype("float32")
    y = rng.integers(0, classes, size=(batch_size,)).astype("int32")
    return x, y


def benchmark_model(
    name,
    batch_size,
    *,
    iters=3,
    warmup=1,
    input_shape=None,
    width_per_group=64,
    jit_compile=None,
):
    """Times inference, `model.predict_on_batch` (the compiled predict step).

    Args:
        name: zoo model name or alias (random weights).
        batch_size: clips per call.
        iters: timed calls; the median is reported.
        warmup: untimed calls first (tracing, compilation, allocation).
        input_shape: clip shape; default the entry's `(T, 224, 224, 3)`.
        width_per_group: 64 for the published width.
        jit_compile: `model.compile(jit_compile=...)` (XLA); None: Keras's
            default (`"auto"`).

    Returns:
        A dict with the timings, clips/s and achieved GFLOP/s.

    Example:
        >>> row = benchmark_model("I3D_NLN_8x8_R50", batch_size=4)
        >>> print(format_table([row]))
    """
    shape = tuple(input_shape or get_entry(name).input_shape)
    model = get_model(name, input_shape=shape, width_per_group=width_per_group)
    macs, source = model_macs(name, model, shape, width_per_group)
    if jit_compile is not None:
        model.compile(jit_compile=jit_compile)
    x, _ = random_inputs(batch_size, shape, 1)
    times = time_calls(lambda: model.predict_on_batch(x), iters, warmup)
    return make_row(
        name, INFERENCE, batch_size, shape, width_per_group, macs, source,
        times, model,
    )  # fmt: skip


def benchmark_training_step(
    name,
    batch_size=2,
    *,
    iters=3,
    warmup=1,
    input_shape=None,
    width_per_group=64,
    jit_compile=None,
    optimizer_fn=None,
):
    """Times one optimizer step, `model.train_on_batch` (compiled).

    The step is the zoo model in training mode (BN batch statistics,
    dropout 0.5), sparse softmax cross-entropy, and by default SGD with
    Nesterov momentum 0.9 (the paper's optimizer without its weight decay;
    `optimizer_fn` gives another, e.g. the trainer's `MomentumSGD`).

    Args:
        name: zoo model name or alias (random weights).
        batch_size: clips per step.
        iters: timed steps; the median is reported.
        warmup: untimed steps first (tracing, compilation, slot creation).
        input_shape: clip shape; default the entry's `(T, 224, 224, 3)`.
        width_per_group: 64 for the published width.
        jit_compile: `model.compile(jit_compile=...)`; None: `"auto"`.
        optimizer_fn: `fn(model) -> optimizer`; default Keras SGD.

    Returns:
        A dict like `benchmark_model`'s, FLOPs counted as 3 forward passes.

    Example:
        >>> row = benchmark_training_step("I3D_NLN_8x8_R50", batch_size=2)
    """
    shape = tuple(input_shape or get_entry(name).input_shape)
    model = get_model(name, input_shape=shape, width_per_group=width_per_group)
    macs, source = model_macs(name, model, shape, width_per_group)
    if optimizer_fn is None:
        optimizer = keras.optimizers.SGD(
            learning_rate=1e-3, momentum=0.9, nesterov=True
        )
    else:
        optimizer = optimizer_fn(model)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(),
        jit_compile="auto" if jit_compile is None else jit_compile,
    )
    x, y = random_inputs(batch_size, shape, model.output_shape[-1])
    times = time_calls(lambda: model.train_on_batch(x, y), iters, warmup)
    return make_row(
        name, TRAINING, batch_size, shape, width_per_group, macs, source,
        times, model,
    )  # fmt: skip


def format_table(rows):
    """A fixed-width text table of benchmark rows."""
    header = (
        f"{'model':26} {'mode':9} {'step':16} {'strategy':8} {'jit':3} "
        f"{'precision':14} {'ops':9} "
        f"{'batch':>5} {'GFLOPs/clip':>11} {'median s':>9} {'clips/s':>8} "
        f"{'GFLOP/s':>8} {'peak MiB':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        peak = r.get("peak_memory_mib")
        lines.append(
            f"{r['model']:26} {r['mode']:9} {r['step']:16} "
            f"{r.get('strategy') or '-':8} "
            f"{'yes' if r['jit_compile'] else 'no':3} "
            f"{r.get('mixed_precision', 'float32'):14} "
            f"{r.get('ops', 'rewritten'):9} {r['batch_size']:>5} "
            f"{r['gmacs_per_clip']:>11.3f} {r['median_s']:>9.3f} "
            f"{r['clips_per_s']:>8.2f} {r['achieved_gflops_per_s']:>8.1f} "
            f"{'-' if peak is None else f'{peak:.0f}':>8}"
        )
    lines.append(
        "GFLOPs/clip: forward multiply-adds (the zoo table's GFLOPs). "
        "GFLOP/s: 2 x multiply-adds per second; a training step counts 3 "
        "forward passes. ops: the library's 2D rewrites of 3D convolutions "
        "and max pools, or Keras's plain 3D ops."
    )
    return "\n".join(lines)
