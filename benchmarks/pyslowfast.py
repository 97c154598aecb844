r"""Our zoo models against PySlowFast's own, side by side, on the CPU.

For each model of --models (a PySlowFast Kinetics config name, which is
also a zoo alias: C2D_8x8_R50, I3D_NLN_8x8_R50, ...), at --input_shape
(default 8 x 224 x 224), full width, 400 classes, random weights and clips:

  inference        ours: `predict_on_batch` of the zoo model;
                   PySlowFast: its model in eval mode under `no_grad`
                   (`benchmarks.pyslowfast_models`)
  trainer          ours: the step `scripts/train.py` runs
                   (`trainer.build_training_step`, `benchmarks.trainer_timing`)
                   with the training loop's per-step host work
  train_on_batch   ours: Keras's compiled step, the trainer's optimizer
  train            PySlowFast: one iteration of its `train_epoch` with its
                   own `construct_optimizer` (SGD, Nesterov momentum 0.9,
                   weight decay 1e-4 as the config says), cross-entropy
                   loss, gradient norm and top-k errors

at the inference batches of --batch_sizes (plus each training batch, for
the training / inference GFLOP/s ratio at the same batch) and the training
batches of --train_batch_sizes.

Processes: each implementation runs in a child process of its own, kept
alive for all rounds of a model: one for PySlowFast (PyTorch, no
TensorFlow) and one per value of --onednn for ours: `default` (the
variable unset: `import nonlocal_tf` decides, as for a user who sets
nothing), `0` or `1` (`TF_ENABLE_ONEDNN_OPTS` set so). A child builds its
models and steps, runs --warmup untimed calls of each (tracing,
allocation: never timed), then waits for requests. Each round times, for
every (step kind, batch), every implementation's call back to back, the
order turned by one each round (`paired_timing.rotated`), --iters calls
each; ratios are medians of the per-round ratios, with a bootstrap 95%
interval and the same over the quiet rounds (little CPU steal;
`paired_timing.paired_ratio`).

Threads: --threads in every child (TensorFlow's intra-op pool,
`torch.set_num_threads`); TensorFlow's inter-op pool is
--tf_inter_op_threads (0: TensorFlow's default, as `train.py` leaves it).
"cores" in the table is what each call really used: the child's CPU
seconds over the wall seconds of its timed calls.

GFLOP/s: one multiply-add count per model (`model_timing.model_macs`: the
zoo table at full width and the entry's input, else `count_macs`) for
both implementations (their trainable parameter counts are checked equal;
with --fvcore_macs, fvcore's count of PySlowFast's model is recorded
too); x2 per multiply-add, a training step counts 3 forward passes.

The issue's bars (issue 25), checked in the ratio table: ours (trainer)
>= 1.3x PySlowFast's training step at batch 2; inference >= 1.5x at
batch 1 and 4; trainer GFLOP/s >= 0.8x inference GFLOP/s of the same
implementation at the same batch.

PySlowFast is read from a clone of facebookresearch/SlowFast
(--pyslowfast_dir) and needs `pip install fvcore iopath simplejson psutil`
besides torch; without --pyslowfast_dir only our side runs and the table
says PySlowFast was not measured.

  python -m benchmarks.pyslowfast --pyslowfast_dir=/tmp/SlowFast \
      --rounds=3 --output=benchmarks/results/pyslowfast.json

  python -m benchmarks.pyslowfast --pyslowfast_dir=/tmp/SlowFast \
      --models=I3D_NLN_8x8_R50 --batch_sizes=1 --onednn=default

  python -m benchmarks.pyslowfast --quick          # seconds: a smoke run

`--quick`: the first model at width 4, 4 x 32 x 32 clips, batch 2 (inference
and training), one timed call, one round.
"""

import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags

from benchmarks import kept_children
from benchmarks import machine
from benchmarks import side_by_side as sbs
from nonlocal_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "models",
    ["C2D_8x8_R50", "I3D_NLN_8x8_R50"],
    "PySlowFast Kinetics config names (configs/Kinetics/<name>.yaml), "
    "also zoo aliases.",
)
flags.DEFINE_string(
    "pyslowfast_dir",
    None,
    "A clone of facebookresearch/SlowFast; unset: only our side runs.",
)
flags.DEFINE_list("batch_sizes", ["1", "4"], "Inference clips per call.")
flags.DEFINE_list("train_batch_sizes", ["2"], "Training clips per step.")
flags.DEFINE_list(
    "onednn",
    ["default", "0"],
    "Our side's TF_ENABLE_ONEDNN_OPTS, one child each: default (unset), 0, 1.",
)
flags.DEFINE_integer(
    "threads", 2, "CPU threads of each side (TF intra-op, torch)."
)
flags.DEFINE_integer(
    "tf_inter_op_threads", 0, "TensorFlow's inter-op threads (0: its default)."
)
flags.DEFINE_integer("rounds", 3, "Paired rounds.")
flags.DEFINE_integer("iters", 1, "Timed calls per step, implementation, round.")
flags.DEFINE_integer("warmup", 1, "Untimed calls of each step first (>= 1).")
flags.DEFINE_list(
    "input_shape", ["8", "224", "224"], "T,S,S of the clips (S % 32 == 0)."
)
flags.DEFINE_integer("width_per_group", 64, "64: the published width.")
flags.DEFINE_boolean(
    "fvcore_macs",
    True,
    "Also count PySlowFast's multiply-adds with fvcore (recorded, not used).",
)
flags.DEFINE_integer(
    "child_timeout", 3600, "Seconds a child may take for one reply."
)
flags.DEFINE_boolean(
    "quick",
    False,
    "Smoke test: the first model, width 4, 4 x 32 x 32, batch 2, 1 timed "
    "call, 1 round.",
)
flags.DEFINE_string(
    "output", "benchmarks/results/pyslowfast.json", "JSON results."
)
flags.DEFINE_string("worker", None, "Internal: run as a child (JSON spec).")


# ------------------------------------------------------------ child side


def _peak_memory_mib():
    return {
        "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        / 1024
    }


def _our_calls(spec):
    """`(calls, info)`: our steps as `{step@batch: fn}` and what they ran."""
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
    if spec["tf_inter_op_threads"]:
        tf.config.threading.set_inter_op_parallelism_threads(
            spec["tf_inter_op_threads"]
        )
    import keras

    from benchmarks import model_timing
    from benchmarks import trainer_timing
    from nonlocal_tf import zoo
    from nonlocal_tf.training import strategy as strategy_lib

    name, width = spec["model"], spec["width_per_group"]
    shape = (*spec["input_shape"], 3)
    model = zoo.get_model(name, input_shape=shape, width_per_group=width)
    model.compile(
        optimizer=trainer_timing.keras_optimizer(model),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        jit_compile=False,
    )
    classes = model.output_shape[-1]
    macs, source = model_timing.model_macs(name, model, shape, width)
    calls = {}
    for batch in spec["inference_batches"]:
        x, _ = model_timing.random_inputs(batch, shape, classes)
        calls[f"{sbs.INFERENCE}@{batch}"] = (
            lambda x=x: model.predict_on_batch(x)
        )  # fmt: skip
    strategy = strategy_lib.create_strategy("default")
    for batch in spec["train_batches"]:
        x, y = model_timing.random_inputs(batch, shape, classes)
        config = trainer_timing.train_config(
            batch, jit_compile=False, mixed_precision="float32"
        )
        built = trainer_timing.build_trainer_step(
            config,
            trainer_timing.zoo_model_fn(name, shape, width),
            x,
            y,
            strategy,
        )
        calls[f"{sbs.TRAINER}@{batch}"] = (
            lambda step=built.step: trainer_timing.run_steps_host_work(step)
        )  # fmt: skip
        calls[f"{sbs.TRAIN_ON_BATCH}@{batch}"] = (
            lambda x=x, y=y: model.train_on_batch(x, y)
        )  # fmt: skip
    threading = tf.config.threading
    info = {
        "zoo_name": model.name,
        "trainable_params": int(
            sum(math.prod(v.shape) for v in model.trainable_weights)
        ),
        "macs_per_clip": int(macs),
        "macs_source": source,
        "num_classes": int(classes),
        "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "onednn_enabled": bool(_pywrap_util_port.IsMklEnabled()),
        "threads": {
            "intra_op": threading.get_intra_op_parallelism_threads(),
            "inter_op": threading.get_inter_op_parallelism_threads(),
        },
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    return calls, info


def _their_calls(spec):
    """`(calls, info)`: PySlowFast's steps as `{step@batch: fn}`."""
    import torch

    from benchmarks import pyslowfast_models

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    checkout = spec["pyslowfast_dir"]
    modules = pyslowfast_models.load(checkout)
    frames, size, _ = spec["input_shape"]
    cfg = pyslowfast_models.build_config(
        modules,
        checkout,
        spec["model"],
        num_frames=frames,
        crop_size=size,
        width_per_group=spec["width_per_group"],
    )
    model, trainable = pyslowfast_models.build_model(modules, cfg)
    generator = torch.Generator().manual_seed(0)

    def clips(batch):
        return torch.randn(batch, 3, frames, size, size, generator=generator)

    calls = {}
    for batch in spec["inference_batches"]:
        calls[f"{sbs.INFERENCE}@{batch}"] = pyslowfast_models.inference_call(
            model, clips(batch)
        )
    for batch in spec["train_batches"]:
        labels = torch.randint(
            0, cfg.MODEL.NUM_CLASSES, (batch,), generator=generator
        )
        calls[f"{sbs.TRAIN}@{batch}"] = pyslowfast_models.training_call(
            modules, cfg, model, clips(batch), labels
        )
    info = {
        "trainable_params": trainable,
        "num_classes": int(cfg.MODEL.NUM_CLASSES),
        "config": pyslowfast_models.config_path(checkout, spec["model"]),
        "optimizer": {
            "method": cfg.SOLVER.OPTIMIZING_METHOD,
            "momentum": cfg.SOLVER.MOMENTUM,
            "nesterov": cfg.SOLVER.NESTEROV,
            "weight_decay": cfg.SOLVER.WEIGHT_DECAY,
            "loss": cfg.MODEL.LOSS_FUNC,
        },
        "threads": {
            "torch": torch.get_num_threads(),
            "torch_interop": torch.get_num_interop_threads(),
        },
        "versions": {"torch": torch.__version__},
    }
    if spec["fvcore_macs"]:
        info["fvcore_macs_per_clip"] = _fvcore_macs(model, clips(1))
    return calls, info


def _fvcore_macs(model, clip):
    """fvcore's count of `model`'s multiply-adds on one clip, or an error."""
    try:
        from fvcore.nn import FlopCountAnalysis

        model.eval()
        analysis = FlopCountAnalysis(model, ([clip],))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return int(analysis.total())
    except Exception as error:  # noqa: BLE001 (a record, not a result)
        return f"{type(error).__name__}: {error}"


def run_worker(spec):
    """The child: builds one implementation's steps and serves them.

    `kept_children.serve` warms each step up, reports the set-up (with
    `build_s`), then times the steps the parent asks for.
    """
    start = time.perf_counter()
    ours = spec["side"] == sbs.OURS
    calls, info = (_our_calls if ours else _their_calls)(spec)
    info["build_s"] = time.perf_counter() - start
    kept_children.serve(
        calls, info, warmup=spec["warmup"], extra=_peak_memory_mib
    )


# ----------------------------------------------------------- parent side


def _checked_flags():
    """The run's settings from the flags; a usage error names a bad one."""
    models = FLAGS.models
    inference = [int(b) for b in FLAGS.batch_sizes]
    train = [int(b) for b in FLAGS.train_batch_sizes]
    shape = [int(s) for s in FLAGS.input_shape]
    width, iters, rounds = FLAGS.width_per_group, FLAGS.iters, FLAGS.rounds
    if FLAGS.quick:
        models, inference, train = models[:1], [2], [2]
        shape, width, iters, rounds = [4, 32, 32], 4, 1, 1
    onednn = [v.strip().lower() for v in FLAGS.onednn]
    unknown = [v for v in onednn if v not in sbs.ONEDNN_SETTINGS]
    if unknown or not onednn:
        raise app.UsageError(
            f"--onednn: unknown or none {unknown or onednn}; choose from "
            f"{', '.join(sbs.ONEDNN_SETTINGS)}"
        )
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] % 32:
        raise app.UsageError(
            f"--input_shape takes T,S,S with S a multiple of 32 (PySlowFast's "
            f"head pools S // 32); received {shape}"
        )
    counts = [FLAGS.threads, iters, rounds, FLAGS.warmup, *inference, *train]
    if min(counts) < 1:
        raise app.UsageError(
            "--threads, --iters, --rounds, --warmup and the batch sizes must "
            "be >= 1"
        )
    if FLAGS.pyslowfast_dir:
        from benchmarks import pyslowfast_models

        for name in models:
            try:
                pyslowfast_models.config_path(FLAGS.pyslowfast_dir, name)
            except FileNotFoundError as error:
                raise app.UsageError(f"--pyslowfast_dir: {error}") from None
        missing = pyslowfast_models.missing_packages()
        if missing:
            raise app.UsageError(
                f"--pyslowfast_dir: PySlowFast's model builder needs "
                f"{', '.join(missing)}: pip install {' '.join(missing)}"
            )
    return {
        "models": models,
        "inference_batches": sorted(set(inference) | set(train)),
        "train_batches": train,
        "input_shape": shape,
        "width_per_group": width,
        "iters": iters,
        "rounds": rounds,
        "onednn": list(dict.fromkeys(onednn)),
    }


def _start_children(model, names, settings, log_dir):
    """Every implementation's child, set up at once: `(children, infos)`."""
    common = {
        "model": model,
        "input_shape": settings["input_shape"],
        "width_per_group": settings["width_per_group"],
        "inference_batches": settings["inference_batches"],
        "train_batches": settings["train_batches"],
        "threads": FLAGS.threads,
        "tf_inter_op_threads": FLAGS.tf_inter_op_threads,
        "warmup": FLAGS.warmup,
        "pyslowfast_dir": FLAGS.pyslowfast_dir,
        "fvcore_macs": FLAGS.fvcore_macs,
    }
    started = {}
    for name in names:
        side = sbs.PYSLOWFAST if name == sbs.PYSLOWFAST else sbs.OURS
        started[name] = kept_children.Child(
            f"{model}.{name}",
            __spec__.name,
            [f"--worker={json.dumps(dict(common, side=side))}"],
            sbs.child_environment(name),
            log_dir,
        )
    children, infos = {}, {}
    for name, child in started.items():
        try:
            infos[name] = child.ready(FLAGS.child_timeout)
            children[name] = child
        except kept_children.ChildError as error:
            child.close()
            infos[name] = {"error": f"setup failed: {error}"}
        print(f"{model} {name}: {_setup_line(infos[name])}", flush=True)
    return children, infos


def _setup_line(info):
    if "error" in info:
        return info["error"]
    first = ", ".join(f"{k} {v:.1f} s" for k, v in info["first_call_s"].items())
    text = (
        f"built in {info['build_s']:.0f} s, {info['trainable_params']} "
        f"trainable parameters, threads {info['threads']}, first calls: {first}"
    )
    if "onednn_enabled" in info:
        text += (
            f", TF_ENABLE_ONEDNN_OPTS={info['onednn_env']} (oneDNN "
            f"{'on' if info['onednn_enabled'] else 'off'})"
        )
    for key, error in info["step_errors"].items():
        text += f"; {key} FAILED: {error}"
    return text


def _run_model(model, names, settings, log_dir):
    """All rounds of one model: `(rows, infos)`."""
    children, infos = _start_children(model, names, settings, log_dir)
    rows = []
    try:
        for round_index in range(settings["rounds"]):
            for name, step, batch in sbs.schedule(
                settings["inference_batches"],
                settings["train_batches"],
                names,
                round_index,
            ):
                row = {
                    "model": model,
                    "round": round_index,
                    "implementation": name,
                    "step": step,
                    "batch_size": batch,
                }
                child = children.get(name)
                if child is None:
                    row["error"] = infos[name]["error"]
                elif child.error:
                    row["error"] = child.error
                else:
                    try:
                        row.update(
                            child.request(
                                {
                                    "step": f"{step}@{batch}",
                                    "iters": settings["iters"],
                                },
                                FLAGS.child_timeout,
                            )
                        )
                    except kept_children.ChildError as error:
                        child.error = f"child failed: {error}"
                        row["error"] = child.error
                rows.append(row)
                _print_progress(row)
    finally:
        for child in children.values():
            child.close()
    return rows, infos


def _print_progress(row):
    if row.get("error"):
        text = f"FAILED: {row['error']}"
    else:
        median = statistics.median(row["times_s"])
        cores = sum(row["cpu_s"]) / sum(row["times_s"])
        text = (
            f"{median:.3f} s, {row['batch_size'] / median:.3f} clips/s, "
            f"{cores:.2f} cores"
        )
    print(
        f"round {row['round'] + 1}: {row['model']} {row['implementation']} "
        f"{row['step']} batch {row['batch_size']}: {text}",
        flush=True,
    )


def _model_summary(model, rows, infos, names, with_pyslowfast):
    ours = [
        i for n, i in infos.items() if n != sbs.PYSLOWFAST and "error" not in i
    ]
    macs = ours[0]["macs_per_clip"] if ours else None
    entries = sbs.merge(rows, macs)
    ratio_entries = sbs.ratios(rows, names, threads=FLAGS.threads)
    notes = []
    theirs = infos.get(sbs.PYSLOWFAST, {})
    if ours and "trainable_params" in theirs:
        same = theirs["trainable_params"] == ours[0]["trainable_params"]
        notes.append(
            f"trainable parameters: ours {ours[0]['trainable_params']}, "
            f"PySlowFast {theirs['trainable_params']} "
            f"({'equal' if same else 'DIFFERENT: the models differ'})"
        )
    if ours:
        notes.append(
            f"multiply-adds per clip: {macs / 1e9:.3f} G "
            f"({ours[0]['macs_source']}), used for both"
            + (
                f"; fvcore counts PySlowFast's as "
                f"{theirs['fvcore_macs_per_clip'] / 1e9:.3f} G"
                if isinstance(theirs.get("fvcore_macs_per_clip"), int)
                else ""
            )
        )
    return {
        "model": model,
        "setup": infos,
        "entries": entries,
        "ratios": ratio_entries,
        "notes": notes,
        "rows": rows,
        "pyslowfast": None if with_pyslowfast else sbs.NOT_MEASURED,
    }


def main(argv):
    del argv
    if FLAGS.worker:
        run_worker(json.loads(FLAGS.worker))
        return
    settings = _checked_flags()
    with_pyslowfast = bool(FLAGS.pyslowfast_dir)
    names = sbs.implementations(settings["onednn"], with_pyslowfast)
    cpu = machine.cpu_description()
    print(machine.cpu_line(cpu))
    print(f"cpu vector flags: {' '.join(cpu['vector_flags']) or '-'}")
    if not with_pyslowfast:
        print(f"PySlowFast: {sbs.NOT_MEASURED}")
    started = time.perf_counter()
    load_at_start = os.getloadavg()
    summaries = []
    with tempfile.TemporaryDirectory(prefix="pyslowfast_bench_") as log_dir:
        for model in settings["models"]:
            rows, infos = _run_model(model, names, settings, log_dir)
            summaries.append(
                _model_summary(model, rows, infos, names, with_pyslowfast)
            )
    elapsed = time.perf_counter() - started
    for summary in summaries:
        print()
        print(
            sbs.format_table(
                summary["model"], summary["entries"], names, with_pyslowfast
            )
        )
        for note in summary["notes"]:
            print(f"  {note}")
    print()
    for summary in summaries:
        print(sbs.format_ratios(summary["model"], summary["ratios"]))
    print(
        "clips/s: median of all rounds' timed calls; GFLOP/s: 2 x multiply-"
        "adds per second, a training step counts 3 forward passes; cores: "
        "CPU seconds / wall seconds of the timed calls. Ratios: median of "
        "the per-round ratios (>1: the numerator is the faster, or has the "
        "higher GFLOP/s), bootstrap 95% interval; uncontended: the median "
        "over the rounds where both calls kept >= "
        f"{sbs.UNCONTENDED_CORES_SHARE:.0%} of their {FLAGS.threads} "
        "threads' cores busy (n/rounds); bar: issue 25's, on the median."
    )
    busy = [
        f"{s['model']} {e['implementation']} {e['step']} {e['batch_size']}"
        for s in summaries
        for e in s["entries"]
        if e["cores_used"] is not None
        and e["cores_used"] < sbs.UNCONTENDED_CORES_SHARE * FLAGS.threads
    ]
    if busy:
        print(
            f"WARNING: the machine was busy: {len(busy)} of the timed steps "
            f"kept fewer than {sbs.UNCONTENDED_CORES_SHARE * FLAGS.threads:.1f}"
            " cores busy (column 'cores'). PyTorch's OpenMP threads lose far "
            "more than TensorFlow's under contention, so ratios to PySlowFast "
            "then overstate our lead: read the 'uncontended' column, or rerun "
            "on an idle machine."
        )
    print(
        f"load average (1 min) {load_at_start[0]:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end; total {elapsed / 60:.1f} min"
    )
    machine.write_json(
        FLAGS.output,
        {
            "cpu": cpu,
            "command": " ".join(["python -m", __spec__.name, *sys.argv[1:]]),
            "settings": dict(
                settings,
                threads=FLAGS.threads,
                tf_inter_op_threads=FLAGS.tf_inter_op_threads,
                warmup=FLAGS.warmup,
                pyslowfast_dir=FLAGS.pyslowfast_dir,
                implementations=names,
                quick=FLAGS.quick,
            ),
            "load_average_start": load_at_start[0],
            "load_average_end": os.getloadavg()[0],
            "total_s": elapsed,
            "models": summaries,
        },
    )
    print(f"wrote {FLAGS.output}")
    failed = any(e["errors"] for s in summaries for e in s["entries"]) or any(
        "error" in info for s in summaries for info in s["setup"].values()
    )
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main)
