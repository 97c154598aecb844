r"""Times and memory of NonLocalBlock, full vs chunked, at the paper's shapes.

Each (shape, implementation, mode) runs in a fresh subprocess on the chosen
Keras backend, compiled (`tf.function` / `jax.jit`; torch runs eagerly):
warm-up calls, then `--repeats` timed calls (median and minimum reported;
ratios use the minimum, the least disturbed by other load). Peak memory is
the growth of the process's peak resident set (VmHWM) over its resident set
after the block and its input were built. `pytorch_reference` is a plain
PyTorch block with PySlowFast's op order, timed in the same run so that the
machine's load affects both sides alike; `pyslowfast` is PySlowFast's own
`Nonlocal` module, read from a SlowFast checkout (`--pyslowfast_dir`). Prints
a table with the ratios and the PySlowFast figures of `PYSLOWFAST`, and
writes everything as JSON (`--output`).

    python -m benchmarks.nonlocal_block --output benchmarks/nonlocal.json
    python -m benchmarks.nonlocal_block --backend=jax --configs=res3,res4
    python -m benchmarks.nonlocal_block --configs=long_clip \
        --implementations=full,chunked --rounds=3
    python -m benchmarks.nonlocal_block --configs=res3,res4 \
        --implementations=full,pytorch_reference,pyslowfast \
        --pyslowfast_dir=path/to/SlowFast
    python -m benchmarks.nonlocal_block --quick   # seconds: checks it works
"""

import os
import platform
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags
from absl import logging

from benchmarks import child_runs
from nonlocal_tf import cli

# name -> (batch, (T, H, W, C)): res3 / res4 of the 8x8 models, a long clip.
CONFIGS = {
    "res3": (8, (4, 28, 28, 512)),
    "res4": (8, (4, 14, 14, 1024)),
    "long_clip": (1, (16, 56, 56, 256)),
}
QUICK_CONFIGS = {"quick": (2, (2, 8, 8, 32))}
# PySlowFast's Nonlocal block (PyTorch 2.x, CPU), measured once on a 2-core
# cloud VM: seconds forward / forward+backward, peak GiB. A reference only:
# time it in the same run (--implementations=...,pyslowfast) for a ratio.
PYSLOWFAST = {
    "res3": {"forward": 0.41, "forward_backward": 0.91},
    "res4": {"forward": 0.077, "forward_backward": 0.20},
    "long_clip": {"forward": 4.9, "forward_backward": 16.3, "peak_gib": 9.8},
}
MODES = ("forward", "forward_backward")
# "pytorch_reference": a plain PyTorch block with PySlowFast's op order
# (docs/reference.md §1), timed in the same run for a side-by-side ratio;
# "pyslowfast": PySlowFast's own module (needs --pyslowfast_dir).
TORCH_IMPLEMENTATIONS = ("pytorch_reference", "pyslowfast")
IMPLEMENTATIONS = ("full", "chunked") + TORCH_IMPLEMENTATIONS

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "backend",
    os.environ.get("KERAS_BACKEND", "tensorflow"),
    ["tensorflow", "jax", "torch"],
    "Keras backend of the measured runs.",
)
flags.DEFINE_list("configs", list(CONFIGS), f"Shapes among {list(CONFIGS)}.")
flags.DEFINE_list(
    "implementations",
    ["full", "chunked", "pytorch_reference"],
    f"Among {list(IMPLEMENTATIONS)}.",
)
flags.DEFINE_string(
    "pyslowfast_dir",
    None,
    "A clone of facebookresearch/SlowFast, for --implementations=pyslowfast.",
)
flags.DEFINE_list("modes", list(MODES), f"Among {list(MODES)}.")
flags.DEFINE_integer("chunk_size", 1024, "Queries per block for chunked.")
flags.DEFINE_bool(
    "use_bn", True, "BN after the output conv (--nouse_bn: its cost share)."
)
flags.DEFINE_integer("warmup", 1, "Untimed calls before timing.")
flags.DEFINE_integer("repeats", 3, "Timed calls; the median is reported.")
flags.DEFINE_integer(
    "rounds",
    1,
    "Measure everything this many times, interleaved, in fresh processes; "
    "times are pooled and the peak is the largest (a shared machine's load "
    "comes in bursts).",
)
flags.DEFINE_integer("timeout", 1800, "Seconds allowed per measurement.")
flags.DEFINE_bool("quick", False, "Tiny shapes, one repeat: a smoke run.")
flags.DEFINE_string("output", None, "Write the results as JSON here.")
# Internal: the subprocess side.
flags.DEFINE_bool("worker", False, "Run one measurement (internal).")
flags.DEFINE_string("config", None, "Worker: shape name (internal).")
flags.DEFINE_string("implementation", None, "Worker: path (internal).")
flags.DEFINE_string("mode", None, "Worker: mode (internal).")

_RESULT_PREFIX = "BENCHMARK_RESULT "


def _worker():
    os.environ["KERAS_BACKEND"] = (
        "torch"
        if FLAGS.implementation in TORCH_IMPLEMENTATIONS
        else FLAGS.backend
    )
    import keras
    import numpy as np

    from benchmarks import nonlocal_block_steps as steps
    from nonlocal_tf import NonLocalBlock

    batch, shape = {**CONFIGS, **QUICK_CONFIGS}[FLAGS.config]
    if FLAGS.implementation == "pytorch_reference":
        step = steps.pytorch_reference_step(
            (batch, shape), FLAGS.mode, use_bn=FLAGS.use_bn
        )
    elif FLAGS.implementation == "pyslowfast":
        step = steps.pyslowfast_step(
            (batch, shape),
            FLAGS.mode,
            FLAGS.pyslowfast_dir,
            use_bn=FLAGS.use_bn,
        )
    else:
        layer = NonLocalBlock(
            implementation=FLAGS.implementation,
            chunk_size=FLAGS.chunk_size,
            use_bn=FLAGS.use_bn,
        )
        layer.build((batch,) + shape)
        x = np.random.default_rng(0).standard_normal((batch,) + shape)
        x = x.astype("float32")
        step = steps.compiled_step(FLAGS.backend, layer, x, FLAGS.mode)
    baseline = steps.memory_mib("VmRSS")
    steps.reset_peak_memory()
    for _ in range(FLAGS.warmup):
        step()
    times = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = steps.memory_mib("VmHWM") - baseline
    result = {
        "config": FLAGS.config,
        "batch": batch,
        "shape": list(shape),
        "implementation": FLAGS.implementation,
        "mode": FLAGS.mode,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "times_s": times,
        "peak_mib": peak,
        "baseline_mib": baseline,
        "keras_version": keras.__version__,
    }
    child_runs.print_result(_RESULT_PREFIX, result)


def _worker_args(config, implementation, mode):
    return [
        "--worker",
        f"--backend={FLAGS.backend}",
        f"--config={config}",
        f"--implementation={implementation}",
        f"--mode={mode}",
        f"--chunk_size={FLAGS.chunk_size}",
        f"--use_bn={FLAGS.use_bn}",
        f"--warmup={FLAGS.warmup}",
        f"--repeats={FLAGS.repeats}",
    ] + (
        [f"--pyslowfast_dir={FLAGS.pyslowfast_dir}"]
        if FLAGS.pyslowfast_dir
        else []
    )


def _measure(config, implementation, mode):
    env = dict(
        os.environ, KERAS_BACKEND=FLAGS.backend, TF_CPP_MIN_LOG_LEVEL="3"
    )
    failure = {"config": config, "implementation": implementation, "mode": mode}
    try:
        process = child_runs.run_module(
            __spec__.name,
            _worker_args(config, implementation, mode),
            env=env,
            timeout=FLAGS.timeout,
        )
    except subprocess.TimeoutExpired:
        return {**failure, "error": f"timed out after {FLAGS.timeout} s"}
    result = child_runs.read_result(process.stdout, _RESULT_PREFIX)
    if result is not None:
        return result
    tail = (process.stderr or "").strip().splitlines()[-3:]
    return {
        **failure,
        "error": f"exit status {process.returncode}: {' | '.join(tail)}",
    }


def _merge(runs):
    """One result from the same measurement repeated in several rounds."""
    good = [r for r in runs if "error" not in r]
    if len(good) < len(runs):
        return next(r for r in runs if "error" in r)
    times = [t for r in good for t in r["times_s"]]
    return {
        **good[0],
        "times_s": times,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "peak_mib": max(r["peak_mib"] for r in good),
        "rounds": len(good),
    }


def _ratios(results):
    """Time and peak-memory ratios: chunked / full, ours / PyTorch reference.

    Times compare the fastest of the repeats: on a shared machine other
    processes only ever add time, so the minimum is the least noisy.
    """
    by_key = {
        (r["config"], r["mode"], r["implementation"]): r
        for r in results
        if "error" not in r
    }
    pairs = [
        ("chunked", "full"),
        ("full", "pytorch_reference"),
        ("chunked", "pytorch_reference"),
        ("full", "pyslowfast"),
        ("chunked", "pyslowfast"),
        ("pytorch_reference", "pyslowfast"),
    ]
    ratios = []
    settings = dict.fromkeys((config, mode) for config, mode, _ in by_key)
    for config, mode in settings:
        for numerator, denominator in pairs:
            top = by_key.get((config, mode, numerator))
            bottom = by_key.get((config, mode, denominator))
            if top is None or bottom is None:
                continue
            peak = None
            if bottom["peak_mib"] > 0:
                peak = top["peak_mib"] / bottom["peak_mib"]
            ratios.append(
                {
                    "config": config,
                    "mode": mode,
                    "numerator": numerator,
                    "denominator": denominator,
                    "time_ratio": top["min_s"] / bottom["min_s"],
                    "peak_ratio": peak,
                }
            )
    return ratios


def _table(results, ratios):
    header = (
        f"{'config':<10} {'input (B,T,H,W,C)':<22} {'impl':<18} {'mode':<17}"
        f" {'median s':>9} {'min s':>7} {'peak MiB':>9} {'PySlowFast s':>13}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        batch, shape = {**CONFIGS, **QUICK_CONFIGS}[r["config"]]
        size = "x".join(str(s) for s in (batch,) + tuple(shape))
        reference = PYSLOWFAST.get(r["config"], {}).get(r["mode"])
        reference = f"{reference:.3f}" if reference else "-"
        if "error" in r:
            measured = f"{'failed: ' + r['error'][:60]}"
        else:
            measured = (
                f"{r['median_s']:>9.3f} {r['min_s']:>7.3f} "
                f"{r['peak_mib']:>9.0f}"
            )
        lines.append(
            f"{r['config']:<10} {size:<22} {r['implementation']:<18} "
            f"{r['mode']:<17} {measured} {reference:>13}"
        )
    if ratios:
        lines += [
            "",
            "ratios (same run, side by side; time: min over repeats):",
        ]
        for r in ratios:
            peak = r["peak_ratio"]
            peak = f"{peak:.2f}" if peak is not None else "-"
            name = f"{r['numerator']} / {r['denominator']}"
            lines.append(
                f"  {r['config']:<10} {r['mode']:<17} {name:<32} time "
                f"{r['time_ratio']:.2f}x  peak memory {peak}x"
            )
    return "\n".join(lines)


def _checked_configs():
    """The configs to measure; a usage error for an unknown flag value."""
    configs = list(QUICK_CONFIGS) if FLAGS.quick else FLAGS.configs
    unknown = [c for c in configs if c not in {**CONFIGS, **QUICK_CONFIGS}]
    if unknown:
        raise app.UsageError(f"Unknown configs {unknown}; use {list(CONFIGS)}")
    for value, allowed in (
        (FLAGS.implementations, IMPLEMENTATIONS),
        (FLAGS.modes, MODES),
    ):
        if set(value) - set(allowed):
            raise app.UsageError(f"{value}: expected values in {allowed}")
    if "pyslowfast" in FLAGS.implementations:
        from benchmarks import nonlocal_block_steps as steps

        if not FLAGS.pyslowfast_dir:
            raise app.UsageError(
                "--implementations=pyslowfast needs --pyslowfast_dir (a clone "
                "of facebookresearch/SlowFast)"
            )
        try:
            steps.pyslowfast_module_path(FLAGS.pyslowfast_dir)
        except FileNotFoundError as error:
            raise app.UsageError(f"--pyslowfast_dir: {error}") from None
    return configs


def _measure_rounds(configs):
    """Every measurement `--rounds` times, interleaved, merged per setting."""
    rounds = []
    for round_index in range(FLAGS.rounds):
        measured = []
        for config in configs:
            for mode in FLAGS.modes:
                for implementation in FLAGS.implementations:
                    logging.info(
                        "round %d: %s %s %s",
                        round_index + 1,
                        config,
                        implementation,
                        mode,
                    )
                    measured.append(_measure(config, implementation, mode))
        rounds.append(measured)
    return [_merge(runs) for runs in zip(*rounds, strict=True)]


def _payload(results, ratios, load_at_start):
    return {
        "backend": FLAGS.backend,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            # The machine is shared: 1-minute load averages around the run.
            "load_average_start": load_at_start[0],
            "load_average_end": os.getloadavg()[0],
        },
        "chunk_size": FLAGS.chunk_size,
        "use_bn": FLAGS.use_bn,
        "warmup": FLAGS.warmup,
        "repeats": FLAGS.repeats,
        "rounds": FLAGS.rounds,
        "results": results,
        "ratios": ratios,
        "pyslowfast_reference": PYSLOWFAST,
    }


def main(argv):
    del argv
    if FLAGS.worker:
        _worker()
        return
    configs = _checked_configs()
    if FLAGS.quick:
        FLAGS.warmup, FLAGS.repeats, FLAGS.chunk_size = 1, 1, 48
    load_at_start = os.getloadavg()
    results = _measure_rounds(configs)
    ratios = _ratios(results)
    print(_table(results, ratios))
    print(
        f"load average (1 min) {load_at_start[0]:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end, on {os.cpu_count()} CPUs"
    )
    payload = _payload(results, ratios, load_at_start)
    if FLAGS.output:
        from nonlocal_tf import fileio

        fileio.atomic_write_json(FLAGS.output, payload, indent=2)
        print(f"wrote {FLAGS.output}")
    if any("error" in r for r in results):
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main)
