r"""Inference and training-step throughput of the R50 zoo models.

Clips/s, achieved GFLOP/s and peak memory at 8 x 224 x 224, for

  inference        `predict_on_batch`, at --batch_sizes and each training
                   batch size (for the training / inference GFLOP/s ratio)
  train_on_batch   Keras's compiled step with the trainer's optimizer
                   (`MomentumSGD`: Caffe2 SGD, Nesterov 0.9, weight decay
                   1e-4 off BN and biases) and sparse cross-entropy
  trainer          the step `scripts/train.py` runs
                   (`trainer.build_training_step`, under each of
                   --strategies), with the training loop's per-step host work

each with and without XLA (--jit_compile), under each Keras dtype policy of
--mixed_precision (float32 by default; `mixed_bfloat16` uses the bfloat16
units of CPUs with AVX512_BF16/AMX), and with the 3D convolutions and max
pools of --ops: `rewritten`, the library's exact 2D rewrites (`FrameConv3D`,
`FrameMaxPooling3D`), or `plain`, the same model with Keras's own 3D ops
(`model_timing.plain_keras_ops`). FLOPs per clip come from the zoo table
(multiply-adds, x2 for FLOP/s; a training step counts 3 forward passes),
see `benchmarks.model_timing`. Each setting runs in a process of
its own (--isolate), so its peak memory is that process's maximum resident
set (or the GPU's peak allocation); --rounds repeats all settings, in turn,
and the medians are over all rounds. Prints a table, the ratios measured in
the run (trainer / train_on_batch speed; training / inference GFLOP/s at
the same batch; rewritten / plain ops speed of each inference and training
setting) and writes JSON:

  python -m benchmarks.model --output=benchmarks/model_cpu.json

  python -m benchmarks.model --models=C2D_8x8_R50,I3D_NLN_8x8_R50 \
      --batch_sizes= --train_batch_sizes=2,4 --jit_compile=false --rounds=3

The speed of the library's layers over Keras's plain 3D ops, same models:

  python -m benchmarks.model --models=C2D_8x8_R50,I3D_NLN_8x8_R50 \
      --batch_sizes=1,4 --train_batch_sizes=2 --strategies=default \
      --jit_compile=false --ops=rewritten,plain --rounds=3

`--quick` runs a tiny copy (width 4, 4 x 32 x 32) of the first model, in
one process, as a smoke test. With `KERAS_BACKEND=jax` only the Keras rows
run (the trainer is TensorFlow's).
"""

import itertools
import json
import resource
import statistics

from absl import flags

from benchmarks import child_runs
from nonlocal_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "models",
    ["C2D_8x8_R50", "C2D_NLN_8x8_R50", "I3D_8x8_R50", "I3D_NLN_8x8_R50"],
    "Zoo model names or aliases.",
)
flags.DEFINE_list(
    "batch_sizes",
    ["1", "8"],
    "Inference clips per call (the training batch sizes are added).",
)
flags.DEFINE_list(
    "train_batch_sizes", ["2", "4"], "Training clips per step (empty: none)."
)
flags.DEFINE_list(
    "steps",
    ["train_on_batch", "trainer"],
    "Training steps timed: train_on_batch and/or trainer.",
)
flags.DEFINE_list(
    "strategies", ["default", "mirrored"], "Strategies of the trainer's step."
)
flags.DEFINE_list(
    "jit_compile", ["false", "true"], "XLA settings timed (false, true)."
)
flags.DEFINE_list(
    "mixed_precision",
    ["float32"],
    "Keras dtype policies timed (float32, mixed_float16, mixed_bfloat16).",
)
flags.DEFINE_list(
    "ops",
    ["rewritten"],
    "3D ops timed: rewritten (the library's 2D rewrites), plain (Keras's).",
)
flags.DEFINE_integer("iters", 3, "Timed calls per setting and round.")
flags.DEFINE_integer("warmup", 1, "Untimed calls per setting first.")
flags.DEFINE_integer("rounds", 1, "Times all settings are run, in turn.")
flags.DEFINE_boolean(
    "isolate", True, "Each setting in its own process (its peak memory)."
)
flags.DEFINE_list(
    "input_shape", None, "T,H,W of the clips; default the entry's (8,224,224)."
)
flags.DEFINE_integer("width_per_group", 64, "64: the published width.")
flags.DEFINE_boolean(
    "quick",
    False,
    "Smoke test: the first model only, width 4, 4 x 32 x 32 clips, batch 2, "
    "one timed call each, all in one process.",
)
flags.DEFINE_string("output", "benchmarks/model.json", "JSON results.")
flags.DEFINE_string("setting", None, "Internal: run one setting (JSON).")

ROW_PREFIX = "BENCHMARK_ROW "
OPS = ("rewritten", "plain")


def peak_memory_mib():
    """Peak GPU allocation (TensorFlow) if there is a GPU, else max RSS."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
            return peak / 2**20, "gpu peak allocation"
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kib / 1024, "max rss (process)"


def _trainer_row(setting):
    """Times `trainer.build_training_step`'s step as `_run_steps` runs it."""
    from benchmarks import model_timing
    from benchmarks import trainer_timing
    from nonlocal_tf import zoo
    from nonlocal_tf.training import strategy as strategy_lib

    name, batch_size = setting["model"], setting["batch_size"]
    shape = tuple(setting["input_shape"] or zoo.get_entry(name).input_shape)
    width = setting["width_per_group"]
    strategy = strategy_lib.create_strategy(setting["strategy"])
    config = trainer_timing.train_config(
        batch_size,
        strategy=setting["strategy"],
        jit_compile=setting["jit_compile"],
        mixed_precision=setting["mixed_precision"],
    )
    clips, labels = model_timing.random_inputs(
        batch_size, shape, zoo.get_entry(name).num_classes
    )
    built = trainer_timing.build_trainer_step(
        config,
        trainer_timing.zoo_model_fn(name, shape, width),
        clips,
        labels,
        strategy,
    )
    times = model_timing.time_calls(
        lambda: trainer_timing.run_steps_host_work(built.step),
        setting["iters"],
        setting["warmup"],
    )
    macs, source = model_timing.model_macs(name, built.model, shape, width)
    return model_timing.make_row(
        name, model_timing.TRAINING, batch_size, shape, width, macs, source,
        times, built.model, step="trainer", strategy=setting["strategy"],
        jit_compile=setting["jit_compile"],
    )  # fmt: skip


def run_setting(setting):
    """One benchmark row for `setting` (a dict), with its peak memory.

    The models are built under the setting's dtype policy, and with ops
    `plain` built and timed under `model_timing.plain_keras_ops`; the
    policy and layers in force before are restored.
    """
    import contextlib

    import keras

    from benchmarks import model_timing

    ops = setting.get("ops", "rewritten")
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(setting["mixed_precision"])
    try:
        with (
            model_timing.plain_keras_ops()
            if ops == "plain"
            else contextlib.nullcontext()
        ):
            row = _timed_row(setting)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    row["ops"] = ops
    row["jit_compile"] = setting["jit_compile"]
    row["peak_memory_mib"], row["peak_memory_source"] = peak_memory_mib()
    return row


def _timed_row(setting):
    from benchmarks import model_timing
    from benchmarks import trainer_timing

    common = {
        "iters": setting["iters"],
        "warmup": setting["warmup"],
        "input_shape": setting["input_shape"],
        "width_per_group": setting["width_per_group"],
        "jit_compile": setting["jit_compile"],
    }
    if setting["step"] == "predict_on_batch":
        row = model_timing.benchmark_model(
            setting["model"], setting["batch_size"], **common
        )
    elif setting["step"] == "train_on_batch":
        row = model_timing.benchmark_training_step(
            setting["model"],
            setting["batch_size"],
            optimizer_fn=trainer_timing.keras_optimizer,
            **common,
        )
    else:
        row = _trainer_row(setting)
    return row


def _run_isolated(setting):
    """`run_setting` in a fresh Python process (its own peak memory)."""
    completed = child_runs.run_module(
        __spec__.name, [f"--setting={json.dumps(setting)}"]
    )
    row = child_runs.read_result(completed.stdout, ROW_PREFIX)
    if row is not None:
        return row
    raise RuntimeError(
        f"Benchmark setting {setting} failed (exit {completed.returncode}):\n"
        + completed.stderr[-3000:]
    )


def settings(models, batch_sizes, train_batch_sizes, steps, strategies,
             jit_settings, policies=("float32",), ops=("rewritten",),
             **common):  # fmt: skip
    """Every setting to time, in run order (see the module docstring)."""
    import keras

    inference_batches = sorted(set(batch_sizes) | set(train_batch_sizes))
    trainer = "trainer" in steps and keras.backend.backend() == "tensorflow"
    out = []
    for name, policy, jit, op in itertools.product(
        models, policies, jit_settings, ops
    ):
        base = dict(
            model=name,
            mixed_precision=policy,
            jit_compile=jit,
            ops=op,
            strategy=None,
            **common,
        )
        out += [
            dict(base, step="predict_on_batch", batch_size=b)
            for b in inference_batches
        ]
        for batch in train_batch_sizes:
            if "train_on_batch" in steps:
                out.append(dict(base, step="train_on_batch", batch_size=batch))
            if trainer:
                out += [
                    dict(
                        base,
                        step="trainer",
                        batch_size=batch,
                        strategy=strategy,
                    )  # fmt: skip
                    for strategy in strategies
                ]
    return out


def _key(row):
    return (
        row["model"],
        row["step"],
        row.get("strategy"),
        row["jit_compile"],
        row["batch_size"],
        row.get("mixed_precision", "float32"),
        row.get("ops", "rewritten"),
    )


def merge_rounds(rows):
    """One row per setting: all rounds' times, the highest peak memory."""
    merged = {}
    for row in rows:
        key = _key(row)
        if key not in merged:
            merged[key] = dict(row, times_s=list(row["times_s"]))
            continue
        first = merged[key]
        first["times_s"] += row["times_s"]
        first["peak_memory_mib"] = max(
            first["peak_memory_mib"], row["peak_memory_mib"]
        )
    for row in merged.values():
        seconds = statistics.median(row["times_s"])
        row["median_s"] = seconds
        row["clips_per_s"] = row["batch_size"] / seconds
        row["achieved_gflops_per_s"] = (
            2 * row["flops_per_clip_factor"] * row["clips_per_s"]
            * row["gmacs_per_clip"]
        )  # fmt: skip
    return list(merged.values())


def ratios(rows):
    """Speed and GFLOP/s ratios between rows of one run.

    For each training row, trainer / train_on_batch speed and training /
    inference GFLOP/s, at the same model, batch, XLA setting, dtype policy
    and ops; for each row of ops `rewritten` with a `plain` twin (same
    setting otherwise), inference too, rewritten / plain clips/s.
    """
    by_key = {_key(r): r for r in rows}
    out = []
    for row in rows:
        model, step, strategy, jit, batch, policy, ops = _key(row)
        plain = None
        if ops == "rewritten":
            plain = by_key.get(
                (model, step, strategy, jit, batch, policy, "plain")
            )
        training = row["mode"] == "training"
        if not (training or plain):
            continue
        entry = {
            "model": model,
            "step": step,
            "strategy": strategy,
            "jit_compile": jit,
            "mixed_precision": policy,
            "ops": ops,
            "batch_size": batch,
            "train_over_inference_gflops": None,
            "speed_over_train_on_batch": None,
            "speed_over_plain_ops": None,
        }
        if plain:
            entry["speed_over_plain_ops"] = (
                row["clips_per_s"] / plain["clips_per_s"]
            )
        inference = by_key.get(
            (model, "predict_on_batch", None, jit, batch, policy, ops)
        )
        if training and inference:
            entry["train_over_inference_gflops"] = (
                row["achieved_gflops_per_s"]
                / inference["achieved_gflops_per_s"]
            )
        keras_step = by_key.get(
            (model, "train_on_batch", None, jit, batch, policy, ops)
        )
        if keras_step and step == "trainer":
            entry["speed_over_train_on_batch"] = (
                row["clips_per_s"] / keras_step["clips_per_s"]
            )
        out.append(entry)
    return out


def format_ratios(entries):
    """The ratios as a fixed-width table."""

    def value(x):
        return "-" if x is None else f"{x:.3f}"

    header = (
        f"{'model':26} {'step':16} {'strategy':8} {'jit':3} "
        f"{'precision':14} {'ops':9} {'batch':>5} "
        f"{'train/infer GFLOP/s':>19} {'speed/train_on_batch':>20} "
        f"{'speed/plain ops':>15}"
    )
    lines = [header, "-" * len(header)]
    for e in entries:
        lines.append(
            f"{e['model']:26} {e['step']:16} {e['strategy'] or '-':8} "
            f"{'yes' if e['jit_compile'] else 'no':3} "
            f"{e['mixed_precision']:14} {e.get('ops', 'rewritten'):9} "
            f"{e['batch_size']:>5} "
            f"{value(e['train_over_inference_gflops']):>19} "
            f"{value(e['speed_over_train_on_batch']):>20} "
            f"{value(e.get('speed_over_plain_ops')):>15}"
        )
    return "\n".join(lines)


def _flag_booleans(values):
    parsed = []
    for value in values:
        if value.lower() not in ("true", "false"):
            raise ValueError(f"--jit_compile takes true/false, got {value!r}")
        parsed.append(value.lower() == "true")
    return parsed


def _flag_policies(values):
    from nonlocal_tf.training import config as config_lib

    unknown = [v for v in values if v not in config_lib.PRECISION_POLICIES]
    if unknown or not values:
        raise ValueError(
            f"--mixed_precision: unknown or none {unknown or values}; choose "
            f"from {', '.join(config_lib.PRECISION_POLICIES)}"
        )
    return values


def _flag_ops(values):
    unknown = [v for v in values if v not in OPS]
    if unknown or not values:
        raise ValueError(
            f"--ops: unknown or none {unknown or values}; choose from "
            f"{', '.join(OPS)}"
        )
    return values


def main(argv):
    del argv
    if FLAGS.setting:
        child_runs.print_result(
            ROW_PREFIX, run_setting(json.loads(FLAGS.setting))
        )
        return
    from benchmarks import model_timing
    from nonlocal_tf import fileio

    models = FLAGS.models
    batch_sizes = [int(b) for b in FLAGS.batch_sizes]
    train_batch_sizes = [int(b) for b in FLAGS.train_batch_sizes]
    shape = FLAGS.input_shape and [int(s) for s in FLAGS.input_shape] + [3]
    width, iters, warmup = FLAGS.width_per_group, FLAGS.iters, FLAGS.warmup
    isolate = FLAGS.isolate
    if FLAGS.quick:
        models, batch_sizes, train_batch_sizes = models[:1], [2], [2]
        shape, width, iters, warmup = [4, 32, 32, 3], 4, 1, 1
        isolate = False
    todo = settings(
        models,
        batch_sizes,
        train_batch_sizes,
        FLAGS.steps,
        FLAGS.strategies,
        _flag_booleans(FLAGS.jit_compile),
        _flag_policies(FLAGS.mixed_precision),
        _flag_ops(FLAGS.ops),
        iters=iters,
        warmup=warmup,
        input_shape=shape,
        width_per_group=width,
    )
    print(f"device: {model_timing.device_description()}")
    rows = []
    for round_index in range(FLAGS.rounds):
        for setting in todo:
            row = (_run_isolated if isolate else run_setting)(setting)
            rows.append(row)
            line = model_timing.format_table([row]).splitlines()[2]
            print(f"round {round_index + 1}: {line}", flush=True)
    rows = merge_rounds(rows)
    entries = ratios(rows)
    print(model_timing.format_table(rows))
    print(format_ratios(entries))
    fileio.atomic_write_json(FLAGS.output, {"rows": rows, "ratios": entries})
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    cli.run(main)
