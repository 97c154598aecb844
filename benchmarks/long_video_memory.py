r"""Peak memory of preparing one long high-resolution video, by its length.

For each length (1, 5 and 10 minutes by default) a 1080p test video is
generated once (`long_videos.py`: FFmpeg's `testsrc2` source encoded with
libx264, through the FFmpeg that PyAV bundles: no system `ffmpeg` needed)
and cached in `--video_dir`. Each video is then prepared alone, in a fresh
Python process, with the call `scripts/prepare_data.py` makes
(`prepare.prepare_dataset`, 1 worker process, the program's default
settings): the child's main process writes the shard and its worker process
decodes and JPEG-encodes. Reported per length: frames in the video, frames
written, the record's size, seconds, the peak resident set (RSS) of the
writer and of the decoder (each process's `VmHWM`), the peak of their sum
(`VmRSS`, sampled every `--poll_interval` seconds) and its growth over the
shortest video. Bounded memory means the peaks do not grow with the length.

    python -m benchmarks.long_video_memory --video_dir=/tmp/long_videos \
        --output=benchmarks/results/long_video_memory.json
    python -m benchmarks.long_video_memory --lengths=2,4 --width=320 \
        --height=240 --video_dir=/tmp/small_videos   # seconds: a smoke run
"""

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from absl import app
from absl import flags

from benchmarks import child_runs
from benchmarks import long_videos
from nonlocal_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "lengths", ["60", "300", "600"], "Video lengths to measure, seconds."
)
flags.DEFINE_string(
    "video_dir",
    None,
    "Cache of the generated videos (reused by later runs); default a "
    "temporary folder removed at the end.",
)
flags.DEFINE_integer("width", 1920, "Width of the generated videos.")
flags.DEFINE_integer("height", 1080, "Height of the generated videos.")
flags.DEFINE_integer("rate", 30, "Frame rate of the generated videos.")
flags.DEFINE_string(
    "x264_preset", "ultrafast", "libx264 preset of the generated videos."
)
flags.DEFINE_integer(
    "x264_crf", 28, "libx264 constant rate factor (file size) of the videos."
)
flags.DEFINE_integer(
    "short_side", 320, "prepare_dataset(short_side=...): the records' size."
)
flags.DEFINE_integer("jpeg_qscale", 2, "prepare_dataset(jpeg_qscale=...).")
flags.DEFINE_float(
    "poll_interval", 0.05, "Seconds between samples of the summed RSS."
)
flags.DEFINE_integer("timeout", 3600, "Seconds allowed per preparation.")
flags.DEFINE_string("output", None, "Write the results as JSON here.")
# Internal: the child's side.
flags.DEFINE_string("child_video", None, "Child: the video (internal).")
flags.DEFINE_string("child_dir", None, "Child: the output folder (internal).")

_RESULT_PREFIX = "LONG_VIDEO_MEMORY "


# The child: one preparation, its memory.


def _status_kib(pid, field):
    """A `VmRSS`-like field of /proc/<pid>/status, KiB (None if gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def _descendants(pid):
    """The ids of the processes under `pid` (Linux /proc)."""
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        children = []
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    children += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
        found.extend(children)
        stack.extend(children)
    return found


class _Memory:
    """Samples this process tree's memory in a thread.

    `ru_maxrss` cannot measure the decoder: a spawned process inherits the
    peak of the process it was forked from (Linux keeps `maxrss` across
    exec). Each process's own high-water mark (`VmHWM`, exact, reset by
    exec) is read instead; a worker's last sample before it exits is its
    peak. The tree's summed `VmRSS` is a sample.
    """

    def __init__(self, interval):
        self.tree_peak_kib = 0
        self.worker_peaks_kib = {}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self):
        pid = os.getpid()
        total = _status_kib(pid, "VmRSS") or 0
        for child in _descendants(pid):
            total += _status_kib(child, "VmRSS") or 0
            peak = _status_kib(child, "VmHWM")
            if peak is not None:
                self.worker_peaks_kib[child] = peak
        self.tree_peak_kib = max(self.tree_peak_kib, total)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _child():
    from nonlocal_tf.data import annotations
    from nonlocal_tf.data import prepare

    video_dir, name = os.path.split(FLAGS.child_video)
    listing = os.path.join(FLAGS.child_dir, "videos.txt")
    with open(listing, "w") as f:
        f.write(f"{name},test\n")
    entries = annotations.read_annotations(listing, video_dir, format="list")
    output_dir = os.path.join(FLAGS.child_dir, "records")
    started = time.perf_counter()
    with _Memory(FLAGS.poll_interval) as memory:
        result = prepare.prepare_dataset(
            entries,
            output_dir,
            label_map=annotations.build_label_map(entries),
            num_workers=1,
            short_side=FLAGS.short_side,
            jpeg_qscale=FLAGS.jpeg_qscale,
            progress=False,
        )
    seconds = time.perf_counter() - started
    if result.written != 1:
        raise RuntimeError(f"{FLAGS.child_video}: {result.summary()}")
    child_runs.print_result(
        _RESULT_PREFIX,
        {
            "frames_written": result.frames,
            "seconds": seconds,
            "record_bytes": sum(os.path.getsize(p) for p in result.shards),
            "writer_peak_mib": _status_kib(os.getpid(), "VmHWM") / 1024,
            "decoder_peak_mib": max(memory.worker_peaks_kib.values(), default=0)
            / 1024,
            "tree_peak_mib": memory.tree_peak_kib / 1024,
        },
    )


# The parent: the table.


def _measure(path, work_dir):
    child_dir = tempfile.mkdtemp(prefix="child_", dir=work_dir)
    try:
        process = child_runs.run_module(
            __spec__.name,
            [
                f"--child_video={path}",
                f"--child_dir={child_dir}",
                f"--short_side={FLAGS.short_side}",
                f"--jpeg_qscale={FLAGS.jpeg_qscale}",
                f"--poll_interval={FLAGS.poll_interval}",
            ],
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
            timeout=FLAGS.timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {FLAGS.timeout} s"}
    finally:
        shutil.rmtree(child_dir, ignore_errors=True)
    result = child_runs.read_result(process.stdout, _RESULT_PREFIX)
    if result is not None:
        return result
    tail = (process.stderr or "").strip().splitlines()[-3:]
    return {"error": f"exit status {process.returncode}: {' | '.join(tail)}"}


def _with_growth(rows):
    """Adds each peak's growth over the first (shortest) good row."""
    good = [r for r in rows if "error" not in r]
    if not good:
        return rows
    first = good[0]
    for r in good:
        for key in ("writer_peak_mib", "decoder_peak_mib", "tree_peak_mib"):
            name = key.replace("_peak_mib", "_growth_mib")
            r[name] = r[key] - first[key]
        r["tree_growth_ratio"] = r["tree_peak_mib"] / first["tree_peak_mib"]
    return rows


def format_table(rows):
    """The results as a text table."""
    header = (
        f"{'length':>8} {'frames in video':>15} {'frames written':>14} "
        f"{'record MiB':>10} {'seconds':>8} {'writer MiB':>10} "
        f"{'decoder MiB':>11} {'sum MiB':>8} {'sum growth MiB':>14} "
        f"{'x first':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        length = f"{r['length_s']} s"
        if "error" in r:
            lines.append(f"{length:>8} failed: {r['error']}")
            continue
        lines.append(
            f"{length:>8} {r['frames_in_video']:>15} "
            f"{r['frames_written']:>14} {r['record_bytes'] / 2**20:>10.0f} "
            f"{r['seconds']:>8.1f} "
            f"{r['writer_peak_mib']:>10.0f} {r['decoder_peak_mib']:>11.0f} "
            f"{r['tree_peak_mib']:>8.0f} {r['tree_growth_mib']:>14.0f} "
            f"{r['tree_growth_ratio']:>7.2f}"
        )
    return "\n".join(lines)


def _lengths():
    try:
        lengths = [int(x) for x in FLAGS.lengths]
    except ValueError:
        raise app.UsageError(
            f"--lengths must be whole seconds, got {','.join(FLAGS.lengths)}"
        ) from None
    if not lengths or min(lengths) < 1:
        raise app.UsageError(
            f"--lengths must be >= 1 s, got {','.join(FLAGS.lengths)}"
        )
    return sorted(lengths)


def main(argv):
    del argv
    if FLAGS.child_video:
        _child()
        return
    lengths = _lengths()
    work_dir = tempfile.mkdtemp(prefix="long_video_memory_")
    video_dir = FLAGS.video_dir or os.path.join(work_dir, "videos")
    settings = {
        "width": FLAGS.width,
        "height": FLAGS.height,
        "rate": FLAGS.rate,
        "preset": FLAGS.x264_preset,
        "crf": FLAGS.x264_crf,
    }
    rows = []
    try:
        for seconds in lengths:
            path, generated_s = long_videos.cached_video(
                video_dir, seconds, settings
            )
            row = {
                "length_s": seconds,
                "video": path,
                "video_bytes": os.path.getsize(path),
                "generated_s": generated_s,
                "frames_in_video": long_videos.count_packets(path),
            }
            print(f"preparing {path} ...", flush=True)
            rows.append({**row, **_measure(path, work_dir)})
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    rows = _with_growth(rows)
    print(format_table(rows))
    payload = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
        },
        "video": settings,
        "short_side": FLAGS.short_side,
        "jpeg_qscale": FLAGS.jpeg_qscale,
        "results": rows,
    }
    if FLAGS.output:
        from nonlocal_tf import fileio

        fileio.atomic_write_json(FLAGS.output, payload, indent=1)
        print(f"wrote {FLAGS.output}")
    if any("error" in r for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main)
