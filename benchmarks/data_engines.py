"""Preparation throughput of the two engines, side by side.

Seconds of video prepared per second of wall time, for the local engine
(worker processes) and the Beam engine (a DirectRunner, multi-processing,
with as many workers), on the same videos, into fresh folders, alternating
in each round so that load from other processes hits both alike. The Beam
figure includes its start-up (worker processes, each importing TensorFlow),
which a cluster pays once per job.
"""

import os
import statistics
import time

from benchmarks import data_pipeline
from nonlocal_tf.data import annotations
from nonlocal_tf.data import prepare


def beam_direct_options(num_workers):
    """The DirectRunner's options for `num_workers` worker processes."""
    return (
        f"--runner=DirectRunner --direct_num_workers={num_workers} "
        "--direct_running_mode=multi_processing"
    )


def run(
    work_dir,
    *,
    num_videos=12,
    num_workers=2,
    rounds=1,
    video_dir=None,
    seconds=None,
    num_shards=4,
):
    """Prepares the same videos with both engines, `rounds` times each.

    Returns:
        {"engines": {name: {"video_seconds_per_second": median, "rounds":
        [...], "wall_seconds": [...]}}, "beam_over_local": ratio of the
        medians, ...settings}.
    """
    entries = data_pipeline.benchmark_entries(num_videos, video_dir, seconds)
    label_map = annotations.build_label_map(entries)
    engines = {
        "local": {"engine": "local", "num_workers": num_workers},
        "beam_direct": {
            "engine": "beam",
            "beam_options": beam_direct_options(num_workers),
        },
    }
    rates = {name: [] for name in engines}
    walls = {name: [] for name in engines}
    for r in range(rounds):
        for name, options in engines.items():
            started = time.perf_counter()
            result = prepare.prepare_dataset(
                entries,
                os.path.join(str(work_dir), f"{name}-{r}"),
                label_map=label_map,
                split="bench",
                num_shards=min(num_shards, num_videos),
                short_side=320,
                progress=False,
                **options,
            )
            wall = time.perf_counter() - started
            walls[name].append(wall)
            rates[name].append(result.seconds_of_video / wall)
    medians = {name: statistics.median(v) for name, v in rates.items()}
    return {
        "videos": num_videos,
        "workers": num_workers,
        "seconds_of_video": result.seconds_of_video,
        "engines": {
            name: {
                "video_seconds_per_second": medians[name],
                "rounds": rates[name],
                "wall_seconds": walls[name],
            }
            for name in engines
        },
        "beam_over_local": medians["beam_direct"] / medians["local"],
    }


def format_table(report):
    """The report as a text table."""
    lines = [
        f"preparation engines ({report['videos']} videos, "
        f"{report['seconds_of_video']:.1f} s of video, {report['workers']} "
        "workers each)",
        f"{'engine':14s} {'s video/s':>9s} {'wall s (rounds)':>24s}",
    ]
    for name, row in report["engines"].items():
        walls = ", ".join(f"{w:.1f}" for w in row["wall_seconds"])
        lines.append(
            f"{name:14s} {row['video_seconds_per_second']:9.1f} {walls:>24s}"
        )
    lines.append(f"beam / local: {report['beam_over_local']:.2f}")
    return "\n".join(lines)
