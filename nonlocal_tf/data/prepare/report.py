"""Stage 5: the split's totals, `<split>_report.json` and a `PrepareResult`.

The totals are read back from the shard state files, so they cover the
whole split (shards finished by an earlier, interrupted run included) and do
not depend on the engine that wrote the shards.
"""

import collections
import dataclasses
import os
import time

from absl import logging

from nonlocal_tf.data.prepare import plan as plan_lib
from nonlocal_tf.data.prepare import records


class NothingPreparedError(ValueError):
    """No video of a split could be prepared (every one was skipped).

    Attributes:
        result: the `PrepareResult` (the report is written).
    """

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


@dataclasses.dataclass
class PrepareResult:
    """Summary of a `prepare_dataset` run (the whole split, resumed or not).

    Attributes:
        written: videos written as records.
        skipped: {reason: count} of skipped videos.
        skipped_videos: [{"path", "video_id", "reason", "detail"}].
        shards: paths of the shard files.
        report_path: the JSON report.
        frames: frames written.
        seconds_of_video: duration of the written videos.
        decoded_seconds_of_video: duration of the videos decoded by this run
            (0 for shards finished by an earlier run).
        elapsed_seconds: wall time of this run.
        engine: "local" or "beam".
        engine_metrics: the Beam pipeline's counters of this run ({name:
            value}), or None for the local engine.
    """

    written: int
    skipped: dict
    skipped_videos: list
    shards: list
    report_path: str
    frames: int
    seconds_of_video: float
    decoded_seconds_of_video: float
    elapsed_seconds: float
    engine: str = "local"
    engine_metrics: dict | None = None

    @property
    def num_skipped(self):
        return sum(self.skipped.values())

    def summary(self):
        """One line: written / skipped by reason.

        Example:
            >>> print(result.summary())  # doctest: +SKIP
            written 98 videos (1960.0 s, 49000 frames) in 4 shards; skipped 2:
            missing 1, truncated 1
        """
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        return (
            f"written {self.written} videos ({self.seconds_of_video:.1f} s, "
            f"{self.frames} frames) in {len(self.shards)} shards; skipped "
            f"{self.num_skipped}" + (f": {reasons}" if reasons else "")
        )

    def metrics_summary(self):
        """The engine's counters of this run as one line (Beam only).

        They cover the shards this run wrote (a resumed run's earlier shards
        are in `summary` only).
        """
        if self.engine_metrics is None:
            return None
        return metrics_line(self.engine_metrics)


# Beam counter names (namespace `METRICS_NAMESPACE`).
METRICS_NAMESPACE = "nonlocal_tf.prepare"
WRITTEN = "videos_written"
FRAMES = "frames"
MILLISECONDS = "milliseconds_of_video"
SHARDS = "shards_written"
SKIPPED_PREFIX = "skipped_"


def metrics_line(metrics):
    """The engine's counters, in the words of `PrepareResult.summary`.

    Example:
        >>> metrics_line({"videos_written": 2, "frames": 50,
        ...               "milliseconds_of_video": 2000,
        ...               "shards_written": 1, "skipped_missing": 1})
        'written 2 videos (2.0 s, 50 frames) in 1 shards; skipped 1: missing 1'
    """
    skipped = {
        name[len(SKIPPED_PREFIX) :]: value
        for name, value in sorted(metrics.items())
        if name.startswith(SKIPPED_PREFIX) and value
    }
    reasons = ", ".join(f"{k} {v}" for k, v in skipped.items())
    return (
        f"written {metrics.get(WRITTEN, 0)} videos "
        f"({metrics.get(MILLISECONDS, 0) / 1000:.1f} s, "
        f"{metrics.get(FRAMES, 0)} frames) in {metrics.get(SHARDS, 0)} "
        f"shards; skipped {sum(skipped.values())}"
        + (f": {reasons}" if reasons else "")
    )


def report_path(output_dir, split):
    """`<output_dir>/<split>_report.json`."""
    return os.path.join(output_dir, f"{split}_report.json")


def write_report(
    plan,
    started,
    *,
    engine="local",
    engine_metrics=None,
    bad_annotation_rows=(),
):
    """Totals the shard states, writes the report; returns a `PrepareResult`.

    Args:
        plan: the `plan.Plan` whose shards are all written.
        started: `time.perf_counter()` at the start of the run.
        engine: the engine's name.
        engine_metrics: the engine's own counters, if any.
        bad_annotation_rows: annotation rows skipped as malformed
            (`BadRow.as_dict()`), listed in the report.

    Raises:
        NothingPreparedError: no video was written (after writing the
            report, which lists why).
    """
    states = [plan_lib.read_json(path) for path in plan.states]
    written = sum(len(state["written"]) for state in states)
    frames = sum(state["frames"] for state in states)
    seconds = 0.0
    for state in states:
        seconds += state["seconds"]
    decoded = 0.0
    for s in plan.todo:
        decoded += states[s]["seconds"]
    skipped_videos = [video for state in states for video in state["skipped"]]
    counts = dict(collections.Counter(v["reason"] for v in skipped_videos))
    path = report_path(plan.output_dir, plan.split)
    result = PrepareResult(
        written=written,
        skipped=counts,
        skipped_videos=skipped_videos,
        shards=list(plan.paths),
        report_path=path,
        frames=frames,
        seconds_of_video=seconds,
        decoded_seconds_of_video=decoded,
        elapsed_seconds=time.perf_counter() - started,
        engine=engine,
        engine_metrics=engine_metrics,
    )
    records.write_json(
        path,
        {
            "split": plan.split,
            "written": written,
            "skipped": result.num_skipped,
            "skipped_by_reason": counts,
            "frames": frames,
            "seconds_of_video": seconds,
            "settings": plan.settings.as_dict(),
            "shards": [os.path.basename(p) for p in plan.paths],
            # The readers check each shard against its count: a damaged or
            # cut shard is counted and named (`nonlocal_tf.data.integrity`).
            "shard_records": {
                os.path.basename(p): len(state["written"])
                for p, state in zip(plan.paths, states, strict=True)
            },
            "skipped_videos": skipped_videos,
            "bad_annotation_rows": list(bad_annotation_rows),
        },
    )
    logging.info("prepare %s: %s", plan.split, result.summary())
    if not written:
        raise NothingPreparedError(
            f"no video of split {plan.split!r} could be prepared, "
            f"{plan.output_dir} ({result.summary()}; see {path})",
            result,
        )
    return result
