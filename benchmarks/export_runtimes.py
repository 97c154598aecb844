r"""CPU speed of the export runtimes, with full-width parity.

Each model of --models (full width, random weights from --seed, random
batch-norm statistics so every residual branch counts) is built at
--input_shape (T, S, S: default 8 x 224 x 224, the R50 models' training
crop, where the head pools globally) and exported once per format
(`nonlocal_tf.export.export_model`: SavedModel, ONNX, OpenVINO, LiteRT; the
graph takes float32 clips in [0, 255] and normalises inside). Then, for
each batch size of --batch_sizes, `predict` is timed with

  keras        `model.predict_on_batch` of the Keras model (TensorFlow),
               the normalisation `(pixel - mean) / std` in the timed call
  saved_model  the SavedModel's `serving_default` (`load_exported`)
  onnx         ONNX Runtime, CPU execution provider
  openvino     OpenVINO, CPU, float32 arithmetic (`runtimes.py` asks f32)
  litert       the LiteRT interpreter (ai-edge-litert; XNNPACK)

each (model, runtime, batch) in a fresh process: the runtime loads the
export (Keras: builds the model and loads its weights), runs --warmup
untimed calls, then --iters timed ones; its peak memory is that process's
maximum resident set (`ru_maxrss`: imports, loading and the calls). The
processes of ONNX Runtime, OpenVINO and LiteRT do not import TensorFlow.
--rounds repeats every setting, the runtimes interleaved (their order turns
by one each round), so a change of load on the machine falls on all; the
speed ratio to the SavedModel is the median of the per-round ratios at the
same model and batch (`paired_timing.paired_ratio`).

Threads: --threads (default: the CPUs of this machine) is set in every
runtime: TensorFlow's intra-op threads (and --tf_inter_op_threads), ONNX
Runtime `intra_op_num_threads`, OpenVINO `INFERENCE_NUM_THREADS`, LiteRT
`num_threads` (`load_exported(path, num_threads=...)`). The table shows
what was set / what the runtime reports using (TensorFlow and ONNX Runtime
report their setting, OpenVINO its compiled model's value, LiteRT nothing:
"-"); the JSON adds the process's OS threads after the calls.

Parity: the first call's probabilities of each runtime against the Keras
model's on the same random clips (uniform in [0, 255], --seed), computed
once per model at the largest batch: the largest absolute difference of
the probabilities, and of their logarithms over the classes the Keras
model gives at least 1e-6 (random weights spread the probabilities thinly,
so the log shows the logits' error).

A runtime that is not installed, whose export or load fails, or whose
process dies, is a row with its exact error (table and JSON), not left out.

  python -m benchmarks.export_runtimes --rounds=3 \
      --output=benchmarks/results/export_runtimes.json

  python -m benchmarks.export_runtimes --models=I3D_NLN_8x8_R50 \
      --batch_sizes=1 --runtimes=saved_model,onnx,openvino --threads=1

  python -m benchmarks.export_runtimes --quick      # seconds: a smoke test

`--quick`: the first model at width 4, 4 x 32 x 32 clips, batch 1, one
timed call, one round.
"""

import importlib.metadata
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
from absl import flags

from benchmarks import child_runs
from benchmarks import machine
from benchmarks import paired_timing
from benchmarks import random_weights
from nonlocal_tf import cli

KERAS = "keras"
SAVED_MODEL = "saved_model"
ONNX = "onnx"
OPENVINO = "openvino"
LITERT = "litert"
RUNTIMES = (KERAS, SAVED_MODEL, ONNX, OPENVINO, LITERT)
EXPORT_FORMATS = (SAVED_MODEL, ONNX, OPENVINO, LITERT)
# The Python distribution whose version each runtime row records.
RUNTIME_PACKAGES = {
    KERAS: ("tensorflow", "keras"),
    SAVED_MODEL: ("tensorflow",),
    ONNX: ("onnxruntime", "tf2onnx"),
    OPENVINO: ("openvino",),
    LITERT: ("ai-edge-litert", "tensorflow"),
}
# Classes whose Keras probability is below this are left out of the
# log-probability difference.
LOG_PROBABILITY_FLOOR = 1e-6

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "models", ["C2D_8x8_R50", "I3D_NLN_8x8_R50"], "Zoo model names or aliases."
)
flags.DEFINE_list("batch_sizes", ["1", "4"], "Clips per predict call.")
flags.DEFINE_list(
    "runtimes", list(RUNTIMES), f"Runtimes timed, of {', '.join(RUNTIMES)}."
)
flags.DEFINE_list(
    "input_shape", ["8", "224", "224"], "T,S,S of the clips (and the export)."
)
flags.DEFINE_integer("width_per_group", 64, "64: the published width.")
flags.DEFINE_integer(
    "threads",
    os.cpu_count(),
    "CPU threads of every runtime (TF intra-op, ORT intra_op_num_threads, "
    "OpenVINO INFERENCE_NUM_THREADS, LiteRT num_threads).",
)
flags.DEFINE_integer(
    "tf_inter_op_threads",
    1,
    "TensorFlow's inter-op threads (keras, saved_model rows); 1 runs one op "
    "at a time, as ONNX Runtime's sequential mode and LiteRT do.",
)
flags.DEFINE_integer("iters", 3, "Timed calls per setting and round.")
flags.DEFINE_integer("warmup", 1, "Untimed calls first (the parity call).")
flags.DEFINE_integer("rounds", 3, "Times every setting runs, interleaved.")
flags.DEFINE_integer("seed", 0, "Seed of the weights and of the clips.")
flags.DEFINE_integer(
    "child_timeout", 1800, "Seconds one child process may take."
)
flags.DEFINE_string(
    "export_dir", None, "Keep the exports here (default: a temp dir, removed)."
)
flags.DEFINE_boolean(
    "quick",
    False,
    "Smoke test: the first model, width 4, 4 x 32 x 32, batch 1, 1 timed "
    "call, 1 round.",
)
flags.DEFINE_string(
    "output", "benchmarks/results/export_runtimes.json", "JSON results."
)
flags.DEFINE_string("setting", None, "Internal: run one setting (JSON).")

ROW_PREFIX = "BENCHMARK_ROW "


# ------------------------------------------------------------ child side


def peak_memory_mib():
    """This process's maximum resident set, MiB (Linux: KiB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def os_threads():
    """Threads of this process now (Linux), or None."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def random_clips(batch, shape, seed):
    """`(batch, T, S, S, 3)` float32 clips, uniform in [0, 255]."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, (batch, *shape, 3)).astype(np.float32)


def parity(probabilities, reference):
    """Largest |p - p_keras| and |log p - log p_keras| (p_keras >= floor)."""
    probabilities = np.asarray(probabilities, np.float64)
    reference = np.asarray(reference, np.float64)
    kept = reference >= LOG_PROBABILITY_FLOOR
    log_diff = np.abs(
        np.log(np.maximum(probabilities[kept], 1e-300))
        - np.log(reference[kept])
    )
    return {
        "max_abs_diff": float(np.max(np.abs(probabilities - reference))),
        "max_log_prob_diff": float(log_diff.max()) if log_diff.size else None,
        "top1_agreement": float(
            np.mean(probabilities.argmax(-1) == reference.argmax(-1))
        ),
    }


def _import_tensorflow(threads, inter_op_threads):
    """TensorFlow with its thread pools set (before it runs anything)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)
    return tf


def _build_model(setting):
    from nonlocal_tf import zoo

    shape = (*setting["input_shape"], 3)
    return zoo.get_model(
        setting["model"],
        input_shape=shape,
        width_per_group=setting["width_per_group"],
    )


def _error_text(error):
    return f"{type(error).__name__}: {error}"


def _folder_mib(path):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total / 2**20


def run_export(setting):
    """Builds the model, exports each format, writes the Keras reference.

    Returns a dict: `formats` ({format: {path, seconds, size_mib, error}}),
    `weights` (the Keras weights file), `reference` (the probabilities'
    .npy), the resolved zoo name and the reference's largest probability.
    """
    tf = _import_tensorflow(setting["threads"], setting["inter_op_threads"])
    import keras

    from nonlocal_tf.export import formats
    from nonlocal_tf.models import preprocessing

    del tf
    keras.utils.set_random_seed(setting["seed"])
    model = _build_model(setting)
    random_weights.randomize(model, setting["seed"], head_std=0.05)
    directory = setting["directory"]
    os.makedirs(directory, exist_ok=True)
    weights = os.path.join(directory, "keras.weights.h5")
    model.save_weights(weights)
    num_frames, size, _ = setting["input_shape"]
    spec = model.clip_spec
    clips = random_clips(
        setting["clip_batch"], setting["input_shape"], setting["seed"]
    )
    normalised = np.asarray(preprocessing.normalize(clips, spec.mean, spec.std))
    reference = np.asarray(model.predict_on_batch(normalised), np.float32)
    reference_path = os.path.join(directory, "keras_probabilities.npy")
    np.save(reference_path, reference)
    results = {}
    graph, graph_error = None, None
    for format in setting["formats"]:
        path = os.path.join(directory, format)
        start = time.perf_counter()
        entry = {"path": None, "error": None}
        try:
            if format == SAVED_MODEL:
                path = formats.export_model(
                    model,
                    os.path.join(path, "1"),
                    format=SAVED_MODEL,
                    num_frames=num_frames,
                    crop_size=size,
                    warmup=False,
                )
            else:
                if graph is None and graph_error is None:
                    try:
                        graph = formats.build_export_graph(
                            model, num_frames=num_frames, crop_size=size
                        )
                    except Exception as error:  # noqa: BLE001
                        graph_error = error
                if graph_error is not None:
                    raise graph_error
                formats.write_export(graph, path, format)
            entry["path"] = path
            entry["size_mib"] = _folder_mib(path)
        except Exception as error:  # noqa: BLE001 (reported, not hidden)
            entry["error"] = f"export failed: {_error_text(error)}"
        entry["seconds"] = time.perf_counter() - start
        results[format] = entry
    return {
        "zoo_name": model.name,
        "parameters": int(model.count_params()),
        "weights": weights,
        "reference": reference_path,
        "reference_max_probability": float(reference.max()),
        "formats": results,
        "peak_memory_mib": peak_memory_mib(),
    }


def _keras_predict(setting):
    """`(predict(clips), threads reported, info)` of the Keras model."""
    tf = _import_tensorflow(setting["threads"], setting["inter_op_threads"])
    from nonlocal_tf.models import preprocessing

    model = _build_model(setting)
    model.load_weights(setting["weights"])
    spec = model.clip_spec

    def predict(clips):
        normalised = preprocessing.normalize(clips, spec.mean, spec.std)
        return model.predict_on_batch(np.asarray(normalised))

    threading = tf.config.threading
    info = {"inter_op_threads": threading.get_inter_op_parallelism_threads()}
    return predict, threading.get_intra_op_parallelism_threads(), info


def _exported_predict(setting):
    """`(predict(clips), threads reported, info)` of an export's runtime."""
    from nonlocal_tf.export import runtimes

    info = {}
    if setting["runtime"] == SAVED_MODEL:
        tf = _import_tensorflow(setting["threads"], setting["inter_op_threads"])
        info["inter_op_threads"] = (
            tf.config.threading.get_inter_op_parallelism_threads()
        )
    exported = runtimes.load_exported(
        setting["path"], num_threads=setting["threads"]
    )
    compiled = getattr(exported._runner, "_compiled", None)  # OpenVINO's
    if compiled is not None:
        for key in (
            "PERFORMANCE_HINT",
            "NUM_STREAMS",
            "INFERENCE_PRECISION_HINT",
        ):
            try:
                info[key] = str(compiled.get_property(key))
            except Exception as error:  # noqa: BLE001
                info[key] = _error_text(error)
    return exported.predict, exported.num_threads, info


def run_timing(setting):
    """One (model, runtime, batch) row: times, parity, threads, memory."""
    row = {
        key: setting[key] for key in ("model", "runtime", "batch_size", "round")
    }
    row["threads_set"] = setting["threads"]
    row["error"] = None
    try:
        start = time.perf_counter()
        make = (
            _keras_predict if setting["runtime"] == KERAS else _exported_predict
        )
        predict, reported, info = make(setting)
        row["load_s"] = time.perf_counter() - start
        row["threads_reported"] = reported
        row["runtime_info"] = info
        clips = random_clips(
            setting["clip_batch"], setting["input_shape"], setting["seed"]
        )[: setting["batch_size"]]
        reference = np.load(setting["reference"])[: setting["batch_size"]]
        start = time.perf_counter()
        probabilities = np.asarray(predict(clips))
        row["first_call_s"] = time.perf_counter() - start
        row.update(parity(probabilities, reference))
        for _ in range(setting["warmup"] - 1):
            predict(clips)
        times, steals = [], []
        for _ in range(setting["iters"]):
            wall, stolen = paired_timing.timed_call(lambda: predict(clips))
            times.append(wall)
            steals.append(stolen)
        row["times_s"] = times
        row["steal_s"] = steals
    except Exception as error:  # noqa: BLE001 (reported in the table)
        row["error"] = _error_text(error)
    row["os_threads"] = os_threads()
    row["tensorflow_imported"] = "tensorflow" in sys.modules
    row["peak_memory_mib"] = peak_memory_mib()
    return row


def run_setting(setting):
    if setting["kind"] == "export":
        return run_export(setting)
    return run_timing(setting)


# ----------------------------------------------------------- parent side


def _run_child(setting, timeout):
    """`run_setting` in a fresh process; (result, None) or (None, error)."""
    try:
        completed = child_runs.run_module(
            __spec__.name,
            [f"--setting={json.dumps(setting)}"],
            timeout=timeout,
        )
    except Exception as error:  # noqa: BLE001 (subprocess.TimeoutExpired)
        return None, _error_text(error)
    result = child_runs.read_result(completed.stdout, ROW_PREFIX)
    if result is not None:
        return result, None
    tail = completed.stderr.strip().splitlines()[-5:]
    return None, (
        f"child process exited with status {completed.returncode} and no "
        f"result: {' | '.join(tail) or '(no stderr)'}"
    )


def package_versions():
    """Versions of the runtimes' Python distributions (None: missing)."""
    names = sorted({p for ps in RUNTIME_PACKAGES.values() for p in ps})
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def merge(rows, runtimes):
    """One entry per (model, batch, runtime): medians, ratios, worst parity.

    The ratio to the SavedModel is, per round, the SavedModel's median time
    over the runtime's (above 1: the runtime is faster), and the median of
    those over the rounds where both ran.
    """
    groups = {}
    for row in rows:
        key = (row["model"], row["batch_size"], row["runtime"])
        groups.setdefault(key, []).append(row)
    order = sorted(
        groups,
        key=lambda k: (k[0], k[1], runtimes.index(k[2])),
    )
    models = list(dict.fromkeys(row["model"] for row in rows))
    order.sort(key=lambda k: models.index(k[0]))

    def round_medians(group):
        return {
            r["round"]: statistics.median(r["times_s"])
            for r in group
            if not r["error"] and r.get("times_s")
        }

    def round_steals(group):
        out = {}
        for r in group:
            steals = r.get("steal_s") or []
            if r["error"] or not steals or None in steals:
                continue
            out[r["round"]] = statistics.median(steals)
        return out

    merged = []
    for key in order:
        model, batch, runtime = key
        group = groups[key]
        ok = [r for r in group if not r["error"] and r.get("times_s")]
        errors = list(dict.fromkeys(r["error"] for r in group if r["error"]))
        entry = {
            "model": model,
            "runtime": runtime,
            "batch_size": batch,
            "rounds": len(group),
            "rounds_ok": len(ok),
            "errors": errors,
            "threads_set": group[0].get("threads_set"),
        }
        for field in (
            "zoo_name", "threads_reported", "runtime_info", "os_threads",
            "tensorflow_imported", "versions",
        ):  # fmt: skip
            values = [r.get(field) for r in (ok or group)]
            entry[field] = values[-1] if values else None
        entry["peak_memory_mib"] = max(
            (r["peak_memory_mib"] for r in group if r.get("peak_memory_mib")),
            default=None,
        )
        if ok:
            times = [t for r in ok for t in r["times_s"]]
            entry["times_s"] = times
            entry["median_s"] = statistics.median(times)
            entry["clips_per_s"] = batch / entry["median_s"]
            entry["load_s"] = statistics.median(r["load_s"] for r in ok)
            entry["first_call_s"] = statistics.median(
                r["first_call_s"] for r in ok
            )
            for field in ("max_abs_diff", "max_log_prob_diff"):
                values = [r[field] for r in ok if r.get(field) is not None]
                entry[field] = max(values) if values else None
            entry["top1_agreement"] = min(r["top1_agreement"] for r in ok)
        else:
            for field in (
                "times_s", "median_s", "clips_per_s", "load_s",
                "first_call_s", "max_abs_diff", "max_log_prob_diff",
                "top1_agreement",
            ):  # fmt: skip
                entry[field] = None
        entry["speed_over_saved_model"] = None
        reference = groups.get((model, batch, SAVED_MODEL))
        if ok and reference:
            mine, base = round_medians(group), round_medians(reference)
            rounds = sorted(set(mine) & set(base))
            if rounds:
                steals_mine, steals_base = (
                    round_steals(group),
                    round_steals(reference),
                )
                with_steal = all(
                    r in steals_mine and r in steals_base for r in rounds
                )
                entry["speed_over_saved_model"] = paired_timing.paired_ratio(
                    [base[r] for r in rounds],
                    [mine[r] for r in rounds],
                    [steals_base[r] for r in rounds] if with_steal else None,
                    [steals_mine[r] for r in rounds] if with_steal else None,
                )
        merged.append(entry)
    return merged


def _short(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def _sci(value):
    return "-" if value is None else f"{value:.1e}"


def format_table(entries):
    """The merged entries as a fixed-width table, errors in full below."""
    header = (
        f"{'model':16} {'runtime':11} {'batch':>5} {'clips/s':>8} "
        f"{'vs SavedModel':>13} {'threads set/used':>16} {'peak MiB':>8} "
        f"{'max|dp|':>8} {'max|dlog p|':>11} {'top1':>5}"
    )
    lines = [header, "-" * len(header)]
    failures = []
    for e in entries:
        ratio = e["speed_over_saved_model"]
        used = e["threads_reported"]
        threads = f"{e['threads_set']}/{'-' if used is None else used}"
        peak = e["peak_memory_mib"]
        ratio = "-" if ratio is None else f"{ratio['median']:.2f} x"
        line = (
            f"{e['model']:16} {e['runtime']:11} {e['batch_size']:>5} "
            f"{_short(e['clips_per_s'], 3):>8} {ratio:>13} "
            f"{threads:>16} {'-' if peak is None else f'{peak:.0f}':>8} "
            f"{_sci(e['max_abs_diff']):>8} {_sci(e['max_log_prob_diff']):>11} "
            f"{_short(e['top1_agreement']):>5}"
        )
        if e["errors"]:
            failures.append(e)
            line += f"  FAILED {e['rounds'] - e['rounds_ok']}/{e['rounds']}"
        lines.append(line)
    lines.append(
        "clips/s: median over all rounds' timed calls. vs SavedModel: median "
        "of the per-round speed ratios (>1: faster). threads: set / what the "
        "runtime reports (-: it cannot say). peak MiB: the process's max "
        "RSS. max|dp|, max|dlog p|, top1: against the Keras model's "
        "probabilities on the same clips."
    )
    for e in failures:
        for error in e["errors"]:
            lines.append(
                f"FAILED {e['model']} {e['runtime']} batch {e['batch_size']}: "
                f"{error}"
            )
    return "\n".join(lines)


def _error_row(setting, error):
    return {
        **{k: setting[k] for k in ("model", "runtime", "batch_size", "round")},
        "threads_set": setting["threads"],
        "error": error,
    }


def main(argv):
    del argv
    if FLAGS.setting:
        child_runs.print_result(
            ROW_PREFIX, run_setting(json.loads(FLAGS.setting))
        )
        return
    models = FLAGS.models
    batch_sizes = [int(b) for b in FLAGS.batch_sizes]
    shape = [int(s) for s in FLAGS.input_shape]
    width, iters, rounds = FLAGS.width_per_group, FLAGS.iters, FLAGS.rounds
    if FLAGS.quick:
        models, batch_sizes, shape = models[:1], [1], [4, 32, 32]
        width, iters, rounds = 4, 1, 1
    runtimes = [r.strip().lower() for r in FLAGS.runtimes]
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown or not runtimes:
        raise ValueError(
            f"--runtimes: unknown or none {unknown or runtimes}; choose from "
            f"{', '.join(RUNTIMES)}"
        )
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"--input_shape takes T,S,S; received {shape}")
    if FLAGS.threads < 1:
        raise ValueError(f"--threads must be >= 1; received {FLAGS.threads}")
    formats_needed = [f for f in EXPORT_FORMATS if f in runtimes]
    common = {
        "input_shape": shape,
        "width_per_group": width,
        "threads": FLAGS.threads,
        "inter_op_threads": FLAGS.tf_inter_op_threads,
        "seed": FLAGS.seed,
        "clip_batch": max(batch_sizes),
    }
    cpu = machine.cpu_description()
    versions = package_versions()
    print(machine.cpu_line(cpu))
    print(
        "packages: "
        + ", ".join(f"{k} {v or 'not installed'}" for k, v in versions.items())
    )
    started = time.perf_counter()
    export_root = FLAGS.export_dir or tempfile.mkdtemp(prefix="export_bench_")
    exports = {}
    rows = []
    try:
        for name in models:
            setting = dict(
                common,
                kind="export",
                model=name,
                formats=formats_needed,
                directory=os.path.join(export_root, name),
            )
            result, error = _run_child(setting, FLAGS.child_timeout)
            if error:
                result = {"error": f"export process: {error}"}
            exports[name] = result
            if error:
                print(f"{name}: {result['error']}", flush=True)
                continue
            for format, entry in result["formats"].items():
                detail = (
                    entry["error"]
                    or f"{entry['size_mib']:.0f} MiB, {entry['seconds']:.0f} s"
                )
                print(f"{name} {format}: {detail}", flush=True)
        for round_index in range(rounds):
            for name in models:
                export = exports[name]
                for batch in batch_sizes:
                    for runtime in paired_timing.rotated(runtimes, round_index):
                        setting = dict(
                            common,
                            kind="time",
                            model=name,
                            runtime=runtime,
                            batch_size=batch,
                            round=round_index,
                            iters=iters,
                            warmup=max(FLAGS.warmup, 1),
                        )
                        row = _time_one(setting, export)
                        row["zoo_name"] = export.get("zoo_name")
                        row["versions"] = {
                            p: versions[p] for p in RUNTIME_PACKAGES[runtime]
                        }
                        rows.append(row)
                        _print_progress(round_index, row)
    finally:
        if not FLAGS.export_dir:
            shutil.rmtree(export_root, ignore_errors=True)
    entries = merge(rows, runtimes)
    print(format_table(entries))
    elapsed = time.perf_counter() - started
    print(f"total {elapsed / 60:.1f} min")
    machine.write_json(
        FLAGS.output,
        {
            "cpu": cpu,
            "packages": versions,
            "settings": {
                "models": models,
                "batch_sizes": batch_sizes,
                "runtimes": runtimes,
                "input_shape": shape,
                "width_per_group": width,
                "threads": FLAGS.threads,
                "tf_inter_op_threads": FLAGS.tf_inter_op_threads,
                "iters": iters,
                "warmup": max(FLAGS.warmup, 1),
                "rounds": rounds,
                "seed": FLAGS.seed,
                "quick": FLAGS.quick,
                "command": " ".join(
                    ["python -m", __spec__.name, *sys.argv[1:]]
                ),
            },
            "exports": exports,
            "entries": entries,
            "rows": rows,
            "total_s": elapsed,
        },
    )
    print(f"wrote {FLAGS.output}")


def _time_one(setting, export):
    """The row of one setting: the child's, or one carrying the error."""
    if export.get("error"):
        return _error_row(setting, export["error"])
    runtime = setting["runtime"]
    setting["reference"] = export["reference"]
    if runtime == KERAS:
        setting["weights"] = export["weights"]
    else:
        entry = export["formats"][runtime]
        if entry["error"]:
            return _error_row(setting, entry["error"])
        setting["path"] = entry["path"]
    row, error = _run_child(setting, FLAGS.child_timeout)
    return row if row is not None else _error_row(setting, error)


def _print_progress(round_index, row):
    if row["error"]:
        text = f"FAILED: {row['error']}"
    else:
        median = statistics.median(row["times_s"])
        text = (
            f"{row['batch_size'] / median:.3f} clips/s, "
            f"peak {row['peak_memory_mib']:.0f} MiB, "
            f"max|dp| {row['max_abs_diff']:.1e}"
        )
    print(
        f"round {round_index + 1}: {row['model']} {row['runtime']} batch "
        f"{row['batch_size']}: {text}",
        flush=True,
    )


if __name__ == "__main__":
    cli.run(main)
