"""The parts of `benchmarks.pyslowfast` that take no flags.

Implementations and their child environments, the order of a round's
calls, the merged rows, the ratios with issue 25's bars and the tables.
A row is one implementation's timed calls of one step in one round:
`{model, round, implementation, step, batch_size, times_s, steal_s, cpu_s,
peak_memory_mib}` or, for a failed call, `{..., error}`.
"""

import os
import statistics

from benchmarks import paired_timing

OURS = "ours"
PYSLOWFAST = "pyslowfast"
INFERENCE = "inference"
TRAINER = "trainer"  # the step scripts/train.py runs
TRAIN_ON_BATCH = "train_on_batch"  # Keras's compiled step
TRAIN = "train"  # PySlowFast's train_epoch iteration
TRAINING = "training"
ONEDNN_SETTINGS = ("default", "0", "1")
ONEDNN_OFF = f"{OURS}/onednn=0"
TRAINING_FLOPS_FACTOR = 3
# Issue 25's bars: (our step, batch) -> least speed ratio over PySlowFast.
SPEED_BARS = {(INFERENCE, 1): 1.5, (INFERENCE, 4): 1.5, (TRAINER, 2): 1.3}
# Least trainer GFLOP/s over inference GFLOP/s (same implementation, batch).
GFLOPS_BAR = 0.8
# A call is uncontended when it kept at least this share of its threads'
# cores busy (CPU / wall seconds). On a busy machine an OpenMP runtime
# (PyTorch) loses far more than TensorFlow's pool: its threads wait for
# each other at every op's barrier.
UNCONTENDED_CORES_SHARE = 0.9
NOT_MEASURED = "not measured: no --pyslowfast_dir"


def implementations(onednn, with_pyslowfast):
    """The implementations' names, ours first.

    Example:
        >>> implementations(["default", "0"], True)
        ['ours/onednn=default', 'ours/onednn=0', 'pyslowfast']
    """
    names = [f"{OURS}/onednn={value}" for value in onednn]
    return names + ([PYSLOWFAST] if with_pyslowfast else [])


def steps_of(implementation, kind):
    """The steps `implementation` times for `kind` (inference, training)."""
    if kind == INFERENCE:
        return [INFERENCE]
    if implementation == PYSLOWFAST:
        return [TRAIN]
    return [TRAINER, TRAIN_ON_BATCH]


def child_environment(implementation, environ=None):
    """The child's environment, `TF_ENABLE_ONEDNN_OPTS` as the name says.

    `ours/onednn=default` removes the variable (this process's own
    `import nonlocal_tf` may have set it): the child gets what a user who
    sets nothing gets. `ours/onednn=0` / `=1` set it.

    Example:
        >>> child_environment("ours/onednn=0")["TF_ENABLE_ONEDNN_OPTS"]
        '0'
    """
    env = dict(os.environ if environ is None else environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    if implementation == PYSLOWFAST:
        return env
    value = implementation.split("=", 1)[1]
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if value != "default":
        env["TF_ENABLE_ONEDNN_OPTS"] = value
    return env


def schedule(inference_batches, train_batches, names, round_index):
    """Round `round_index`'s calls: `[(implementation, step, batch), ...]`.

    Per (kind, batch), every implementation's steps back to back, their
    order turned by one place each round (`paired_timing.rotated`).

    Example:
        >>> schedule([1], [], ["ours/onednn=0", "pyslowfast"], 1)
        [('pyslowfast', 'inference', 1), ('ours/onednn=0', 'inference', 1)]
    """
    out = []
    slots = [(INFERENCE, b) for b in inference_batches]
    slots += [(TRAINING, b) for b in train_batches]
    for kind, batch in slots:
        calls = [(n, s, batch) for n in names for s in steps_of(n, kind)]
        out += paired_timing.rotated(calls, round_index)
    return out


def _groups(rows):
    groups = {}
    for row in rows:
        key = (row["implementation"], row["step"], row["batch_size"])
        groups.setdefault(key, []).append(row)
    return groups


def _median_steal(row):
    steals = row.get("steal_s") or []
    return None if not steals or None in steals else statistics.median(steals)


def cores_used(row):
    """CPU seconds over wall seconds of a row's timed calls."""
    return sum(row["cpu_s"]) / sum(row["times_s"])


def paired_rows_ratio(
    top_rows, bottom_rows, top_scale=1.0, bottom_scale=1.0, threads=None
):
    """The paired ratio `bottom / top` of per-round median times.

    Over the rounds where both have times; each time scaled first. Above
    1: `top` is the faster. None without such a round.

    Returns:
        `paired_timing.paired_ratio`'s dict (intervals as lists) with
        `rounds` (the round indices used), `uncontended_rounds` (those
        where both calls kept at least `UNCONTENDED_CORES_SHARE` x
        `threads` cores busy; all rounds without `threads`) and
        `uncontended_median` (their ratios' median, None if none).
    """
    top = {r["round"]: r for r in top_rows if r.get("times_s")}
    bottom = {r["round"]: r for r in bottom_rows if r.get("times_s")}
    rounds = sorted(set(top) & set(bottom))
    if not rounds:
        return None

    def times(rows, scale):
        return [scale * statistics.median(rows[r]["times_s"]) for r in rounds]

    top_steals = [_median_steal(top[r]) for r in rounds]
    bottom_steals = [_median_steal(bottom[r]) for r in rounds]
    with_steal = None not in top_steals and None not in bottom_steals
    result = paired_timing.paired_ratio(
        times(bottom, bottom_scale),
        times(top, top_scale),
        bottom_steals if with_steal else None,
        top_steals if with_steal else None,
    )
    result["interval_95"] = list(result["interval_95"])
    if result["quiet_interval_95"] is not None:
        result["quiet_interval_95"] = list(result["quiet_interval_95"])
    result["rounds"] = rounds
    least = 0.0 if threads is None else UNCONTENDED_CORES_SHARE * threads
    uncontended = [
        i
        for i, r in enumerate(rounds)
        if min(cores_used(top[r]), cores_used(bottom[r])) >= least
    ]
    result["uncontended_rounds"] = [rounds[i] for i in uncontended]
    result["uncontended_median"] = (
        statistics.median(result["ratios"][i] for i in uncontended)
        if uncontended
        else None
    )
    return result


def ratios(rows, names, threads=None):
    """Every ratio issue 25 asks for, from the rows of one model's run.

    `vs_pyslowfast`: each of our steps over PySlowFast's of the same kind
    and batch (speed); `trainer_vs_train_on_batch` (speed);
    `onednn_vs_off`: our steps with oneDNN default / on over off (speed);
    `train_vs_inference_gflops`: a training step's achieved GFLOP/s over
    the same implementation's inference at the same batch
    (= 3 t_inference / t_train).

    Returns:
        A list of dicts: `kind`, `numerator`, `denominator`
        (`"<implementation> <step>"`), `batch_size`, `ratio`
        (`paired_rows_ratio`, None if no round had both), `bar` and
        `meets_bar` (None without a bar or a ratio), judged on the median
        over all rounds; `threads` (the threads each call was given) marks
        the uncontended rounds (`paired_rows_ratio`).
    """
    groups = _groups(rows)
    ours = [n for n in names if n != PYSLOWFAST]
    out = []

    def add(kind, top, bottom, bar=None, scales=(1.0, 1.0)):
        if top not in groups or bottom not in groups:
            return
        ratio = paired_rows_ratio(
            groups[top], groups[bottom], *scales, threads=threads
        )
        out.append(
            {
                "kind": kind,
                "numerator": f"{top[0]} {top[1]}",
                "denominator": f"{bottom[0]} {bottom[1]}",
                "batch_size": top[2],
                "ratio": ratio,
                "bar": bar,
                "meets_bar": None
                if bar is None or ratio is None
                else ratio["median"] >= bar,
            }
        )

    for batch in sorted({row["batch_size"] for row in rows}):
        for name in ours:
            add(
                "vs_pyslowfast",
                (name, INFERENCE, batch),
                (PYSLOWFAST, INFERENCE, batch),
                SPEED_BARS.get((INFERENCE, batch)),
            )
            for step in (TRAINER, TRAIN_ON_BATCH):
                add(
                    "vs_pyslowfast",
                    (name, step, batch),
                    (PYSLOWFAST, TRAIN, batch),
                    SPEED_BARS.get((step, batch)),
                )
            add(
                "trainer_vs_train_on_batch",
                (name, TRAINER, batch),
                (name, TRAIN_ON_BATCH, batch),
            )
            if name != ONEDNN_OFF:
                for step in (INFERENCE, TRAINER, TRAIN_ON_BATCH):
                    add(
                        "onednn_vs_off",
                        (name, step, batch),
                        (ONEDNN_OFF, step, batch),
                    )
        for name in names:
            for step in steps_of(name, TRAINING):
                add(
                    "train_vs_inference_gflops",
                    (name, step, batch),
                    (name, INFERENCE, batch),
                    GFLOPS_BAR if step == TRAINER else None,
                    (1.0, TRAINING_FLOPS_FACTOR),
                )
    return out


def merge(rows, macs_per_clip):
    """One entry per (implementation, step, batch) over all rounds.

    `clips_per_s` from the median of all timed calls; `achieved_gflops_per_s`
    = 2 x multiply-adds per second (a training step counts 3 forward
    passes; None without `macs_per_clip`); `cores_used` = CPU seconds over
    wall seconds of the timed calls; the highest peak memory; the errors.
    """
    merged = []
    for (name, step, batch), group in _groups(rows).items():
        ok = [r for r in group if r.get("times_s")]
        entry = {
            "implementation": name,
            "step": step,
            "batch_size": batch,
            "rounds": len(group),
            "rounds_ok": len(ok),
            "errors": list(
                dict.fromkeys(r["error"] for r in group if r.get("error"))
            ),
            "peak_memory_mib": max(
                (
                    r["peak_memory_mib"]
                    for r in group
                    if r.get("peak_memory_mib")
                ),
                default=None,
            ),
            "times_s": None,
            "median_s": None,
            "clips_per_s": None,
            "achieved_gflops_per_s": None,
            "cores_used": None,
        }
        if ok:
            times = [t for r in ok for t in r["times_s"]]
            cpu = [c for r in ok for c in r["cpu_s"]]
            factor = 1 if step == INFERENCE else TRAINING_FLOPS_FACTOR
            entry["times_s"] = times
            entry["median_s"] = statistics.median(times)
            entry["clips_per_s"] = batch / entry["median_s"]
            entry["cores_used"] = sum(cpu) / sum(times)
            if macs_per_clip:
                entry["achieved_gflops_per_s"] = (
                    2 * factor * entry["clips_per_s"] * macs_per_clip / 1e9
                )
        merged.append(entry)
    return merged


def _number(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(model, entries, names, with_pyslowfast):
    """A model's entries: clips/s, GFLOP/s, cores used, peak memory."""
    header = (
        f"{'model':16} {'implementation':20} {'step':15} {'batch':>5} "
        f"{'clips/s':>8} {'GFLOP/s':>8} {'cores':>5} {'peak MiB':>8} "
        f"{'rounds':>6}"
    )
    lines = [header, "-" * len(header)]
    order = {name: i for i, name in enumerate(names)}
    for e in sorted(
        entries,
        key=lambda e: (e["step"] != INFERENCE, e["batch_size"],
                       order[e["implementation"]], e["step"]),
    ):  # fmt: skip
        peak = e["peak_memory_mib"]
        line = (
            f"{model:16} {e['implementation']:20} {e['step']:15} "
            f"{e['batch_size']:>5} {_number(e['clips_per_s'], 3):>8} "
            f"{_number(e['achieved_gflops_per_s'], 1):>8} "
            f"{_number(e['cores_used']):>5} "
            f"{'-' if peak is None else f'{peak:.0f}':>8} "
            f"{e['rounds_ok']:>3}/{e['rounds']:<2}"
        )
        for error in e["errors"]:
            line += f"  FAILED: {error}"
        lines.append(line)
    if not with_pyslowfast:
        lines.append(f"{model:16} {PYSLOWFAST:20} {NOT_MEASURED}")
    return "\n".join(lines)


def format_ratios(model, entries):
    """A model's ratios, each with its bar and MEET / MISS."""
    header = (
        f"{'model':16} {'ratio':26} {'numerator':36} {'denominator':32} "
        f"{'batch':>5} {'median':>7} {'95% interval':>15} "
        f"{'uncontended':>13} {'bar':>5}"
    )
    lines = [header, "-" * len(header)]
    for e in entries:
        ratio = e["ratio"]
        value, interval, uncontended = "-", "-", "-"
        if ratio is not None:
            low, high = ratio["interval_95"]
            value = f"{ratio['median']:.2f}x"
            interval = f"[{low:.2f}, {high:.2f}]"
            if ratio["uncontended_median"] is not None:
                uncontended = (
                    f"{ratio['uncontended_median']:.2f}x "
                    f"({len(ratio['uncontended_rounds'])}/"
                    f"{len(ratio['rounds'])})"
                )
        verdict = {True: " MEET", False: " MISS", None: ""}[e["meets_bar"]]
        bar = "-" if e["bar"] is None else f"{e['bar']:.1f}"
        lines.append(
            f"{model:16} {e['kind']:26} {e['numerator']:36} "
            f"{e['denominator']:32} {e['batch_size']:>5} {value:>7} "
            f"{interval:>15} {uncontended:>13} {bar:>5}{verdict}"
        )
    return "\n".join(lines)
