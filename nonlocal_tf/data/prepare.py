"""Videos + annotations -> sharded TFRecord files of `SequenceExample`s.

Videos are shuffled once (seeded) and dealt round-robin to shards, so each
shard mixes classes. Worker processes decode and JPEG-encode the videos
(PyAV only, see `video_io.py`); this process writes the records in a fixed
order, so the output does not depend on the number of workers.

Each shard is written to a temporary file and renamed when complete. A small
state file per finished shard (under `.prepare-<split>/`) records what it
holds, so a run that was killed resumes where it stopped: finished shards are
not redone, unfinished ones are redone from the start. A rerun with different
videos or settings into the same folder is refused.

The label map is written beside the shards (`label_map.json`); splits
prepared into one folder must share it. Videos that cannot be used are
skipped, logged with their reason and listed in
`<split>_report.json` (see `video_io.REASONS`, plus `unknown_label` and
`duplicate_id`).
"""

import collections
import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import random
import sys
import time

import tensorflow as tf
from absl import logging

from nonlocal_tf.data import features
from nonlocal_tf.data import video_io

LABEL_MAP_FILE = "label_map.json"
UNKNOWN_LABEL = "unknown_label"
DUPLICATE_ID = "duplicate_id"
_STATE_VERSION = 1


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


def shard_path(output_dir, split, index, num_shards):
    """`<output_dir>/<split>-<index:05d>-of-<num_shards:05d>.tfrecord`.

    Example:
        >>> shard_path("out", "train", 3, 16)
        'out/train-00003-of-00016.tfrecord'
    """
    return os.path.join(
        output_dir, f"{split}-{index:05d}-of-{num_shards:05d}.tfrecord"
    )


def _write_json(path, data):
    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    tf.io.gfile.rename(tmp, path, overwrite=True)


def _read_json(path):
    with tf.io.gfile.GFile(path) as f:
        return json.loads(f.read())


def _fingerprint(entries, label_map, settings):
    data = {
        "entries": [dataclasses.astuple(e) for e in entries],
        "label_map": sorted(label_map.items()),
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _skip(entry, reason, detail):
    logging.warning(
        "Skipping %s (%s): %s: %s", entry.path, entry.video_id, reason, detail
    )
    return {
        "path": entry.path,
        "video_id": entry.video_id,
        "reason": reason,
        "detail": detail,
    }


def _encode_args(entry, settings):
    """Arguments of the worker task `video_io.encode_video_jpeg`.

    The task lives in `video_io`, which never imports TensorFlow, so the
    spawned workers stay light.
    """
    return (entry.path,), {
        "short_side": settings["short_side"],
        "start_time": entry.start_time,
        "end_time": entry.end_time,
        "fps": settings["fps"],
        "jpeg_qscale": settings["jpeg_qscale"],
    }


def _encode(entry, settings):
    args, kwargs = _encode_args(entry, settings)
    return video_io.encode_video_jpeg(*args, **kwargs)


def _main_is_importable():
    """Spawned workers re-import `__main__` from its file, if it has one."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return path is None or os.path.exists(path)


class _Executor:
    """Runs `_encode` in worker processes (or inline with 0 workers).

    Results come back in submission order, at most `window` in flight. A
    worker that dies (a crashing decoder) is reported for the video it was
    decoding, found by retrying the affected videos one process at a time.
    """

    def __init__(self, num_workers, settings):
        if num_workers and not _main_is_importable():
            logging.warning(
                "__main__ has no importable file (%s); decoding in this "
                "process instead of %d workers",
                getattr(sys.modules.get("__main__"), "__file__", None),
                num_workers,
            )
            num_workers = 0
        self._num_workers = num_workers
        self._settings = settings
        self._pool = None
        self._context = multiprocessing.get_context("spawn")

    def _new_pool(self, workers):
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=self._context
        )

    def _submit(self, pool, entry):
        args, kwargs = _encode_args(entry, self._settings)
        return pool.submit(video_io.encode_video_jpeg, *args, **kwargs)

    def map(self, entries):
        """Yields (entry, EncodedVideo or exception) in order."""
        entries = list(entries)
        if not entries:
            return
        if self._num_workers == 0:
            for entry in entries:
                try:
                    yield entry, _encode(entry, self._settings)
                except Exception as e:  # noqa: BLE001 - reported per video
                    yield entry, e
            return
        window = 2 * self._num_workers
        pending = collections.deque()
        entries = iter(entries)
        self._pool = self._new_pool(self._num_workers)
        try:
            while True:
                while len(pending) < window:
                    entry = next(entries, None)
                    if entry is None:
                        break
                    pending.append((entry, self._submit(self._pool, entry)))
                if not pending:
                    return
                entry, future = pending.popleft()
                try:
                    yield entry, future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    retry = [entry] + [e for e, _ in pending]
                    pending.clear()
                    self._pool.shutdown(cancel_futures=True)
                    yield from self._isolated(retry)
                    self._pool = self._new_pool(self._num_workers)
                except Exception as e:  # noqa: BLE001 - reported per video
                    yield entry, e
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)

    def _isolated(self, entries):
        for entry in entries:
            pool = self._new_pool(1)
            try:
                yield entry, self._submit(pool, entry).result()
            except concurrent.futures.process.BrokenProcessPool:
                yield (
                    entry,
                    video_io.VideoDecodeError(
                        entry.path,
                        video_io.DECODE_ERROR,
                        "the decoding process died (FFmpeg crashed on this "
                        "file)",
                    ),
                )
            except Exception as e:  # noqa: BLE001 - reported per video
                yield entry, e
            finally:
                pool.shutdown()


def _as_skip(entry, error):
    if isinstance(error, video_io.VideoDecodeError):
        return _skip(entry, error.reason, error.detail)
    if isinstance(error, ValueError):
        return _skip(entry, video_io.DECODE_ERROR, str(error))
    return _skip(
        entry, video_io.DECODE_ERROR, f"{type(error).__name__}: {error}"
    )


def prepare_dataset(
    entries,
    output_dir,
    *,
    label_map,
    split="train",
    num_shards=None,
    num_workers=None,
    short_side=320,
    fps=None,
    jpeg_qscale=2,
    seed=0,
    progress=True,
):
    """Writes the videos of `entries` as sharded TFRecord files.

    Args:
        entries: list of `annotations.VideoEntry`.
        output_dir: folder for the shards, the state and the report (created;
            any `tf.io.gfile` path).
        label_map: {class name: index}; a label not in it skips the video
            (`unknown_label`). Written to `<output_dir>/label_map.json`; when
            that file exists (another split was prepared there) it must be
            the same map.
        split: name prefix of the shard files, e.g. "train", "val".
        num_shards: number of shard files; default about 100 videos per
            shard. Capped at the number of videos.
        num_workers: decoding processes; default `os.cpu_count()`; 0 decodes
            in this process.
        short_side: frames are resized to this short side (aspect kept);
            None or 0 keeps the size.
        fps: target frame rate; None keeps the source rate.
        jpeg_qscale: JPEG quantiser scale, 2 (best, default) to 31.
        seed: seed of the order in which videos are dealt to shards.
        progress: show a tqdm progress bar.

    Returns:
        A `PrepareResult` for the whole split (including shards finished by
        an earlier, interrupted run).

    Raises:
        ValueError: bad arguments, or `output_dir` holds a preparation of
            this split made from other videos or settings.

    Example:
        >>> entries = annotations.read_annotations(
        ...     "train.csv", "videos/")  # doctest: +SKIP
        >>> label_map = annotations.build_label_map(entries)  # doctest: +SKIP
        >>> result = prepare_dataset(
        ...     entries, "records/", label_map=label_map, split="train",
        ...     num_shards=16)  # doctest: +SKIP
        >>> print(result.summary())  # doctest: +SKIP
    """
    from tqdm import tqdm

    started = time.perf_counter()
    entries = list(entries)
    if not entries:
        raise ValueError("no videos to prepare (the annotation list is empty)")
    if not split or os.sep in split:
        raise ValueError(f"split must be a plain name, got {split!r}")
    if num_shards is None:
        num_shards = max(1, round(len(entries) / 100))
    num_shards = int(num_shards)
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    if num_shards > len(entries):
        logging.warning(
            "num_shards=%d > %d videos; writing %d shards",
            num_shards,
            len(entries),
            len(entries),
        )
        num_shards = len(entries)
    num_workers = os.cpu_count() if num_workers is None else int(num_workers)
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    settings = {
        "short_side": int(short_side) if short_side else None,
        "fps": float(fps) if fps else None,
        "jpeg_qscale": int(jpeg_qscale),
        "seed": int(seed),
        "num_shards": num_shards,
    }

    tf.io.gfile.makedirs(output_dir)
    map_path = os.path.join(output_dir, LABEL_MAP_FILE)
    if tf.io.gfile.exists(map_path):
        if _read_json(map_path) != dict(label_map):
            raise ValueError(
                f"label_map differs from {map_path}, which another split in "
                "this folder uses; prepare with that map (or another folder)"
            )
    else:
        _write_json(map_path, dict(label_map))
    state_dir = os.path.join(output_dir, f".prepare-{split}")
    tf.io.gfile.makedirs(state_dir)
    fingerprint = _fingerprint(entries, label_map, settings)
    config_path = os.path.join(state_dir, "config.json")
    if tf.io.gfile.exists(config_path):
        if _read_json(config_path).get("fingerprint") != fingerprint:
            raise ValueError(
                f"{output_dir} holds a preparation of split {split!r} made "
                f"from other videos or settings (see {config_path}); use "
                "another output_dir or delete its shards and that folder"
            )
    else:
        _write_json(
            config_path,
            {
                "version": _STATE_VERSION,
                "fingerprint": fingerprint,
                "settings": settings,
            },
        )
    for stale in tf.io.gfile.glob(os.path.join(output_dir, f"{split}-*.tmp-*")):
        tf.io.gfile.remove(stale)

    order = list(range(len(entries)))
    random.Random(seed).shuffle(order)
    shards = [
        [entries[i] for i in order[s::num_shards]] for s in range(num_shards)
    ]
    paths = [
        shard_path(output_dir, split, s, num_shards) for s in range(num_shards)
    ]
    states = [
        os.path.join(state_dir, f"shard-{s:05d}.json")
        for s in range(num_shards)
    ]
    done = [
        tf.io.gfile.exists(paths[s]) and tf.io.gfile.exists(states[s])
        for s in range(num_shards)
    ]
    todo = [s for s in range(num_shards) if not done[s]]
    if len(todo) < num_shards:
        logging.info(
            "Resuming: %d of %d shards of %r are already written",
            num_shards - len(todo),
            num_shards,
            split,
        )

    seen_ids = {}
    for s in range(num_shards):
        for entry in shards[s]:
            seen_ids.setdefault(entry.video_id, (s, entry))

    def prechecked(entry):
        first = seen_ids[entry.video_id][1]
        if first is not entry:
            return _skip(
                entry, DUPLICATE_ID, f"video id also used by {first.path}"
            )
        unknown = [label for label in entry.labels if label not in label_map]
        if unknown:
            return _skip(
                entry, UNKNOWN_LABEL, f"label(s) {unknown} not in the label map"
            )
        return None

    jobs = []
    early = {}
    for s in todo:
        for entry in shards[s]:
            problem = prechecked(entry)
            if problem:
                early[id(entry)] = problem
            else:
                jobs.append(entry)

    decoded_seconds = 0.0
    bar = tqdm(
        total=sum(len(shards[s]) for s in todo),
        desc=f"prepare {split}",
        unit="video",
        disable=not progress,
    )
    results = _Executor(num_workers, settings).map(jobs)
    try:
        for s in todo:
            tmp = f"{paths[s]}.tmp-{os.getpid()}"
            state = {"written": [], "skipped": [], "frames": 0, "seconds": 0.0}
            with tf.io.TFRecordWriter(tmp) as writer:
                for entry in shards[s]:
                    if id(entry) in early:
                        state["skipped"].append(early[id(entry)])
                        bar.update(1)
                        continue
                    got, video = next(results)
                    if got is not entry:
                        raise RuntimeError(
                            "internal error: results out of order"
                        )
                    if isinstance(video, BaseException):
                        state["skipped"].append(_as_skip(entry, video))
                    else:
                        example = features.make_sequence_example(
                            video.frames,
                            video_id=entry.video_id,
                            label_indices=[label_map[x] for x in entry.labels],
                            label_texts=entry.labels,
                            fps=video.fps,
                        )
                        writer.write(
                            example.SerializeToString(deterministic=True)
                        )
                        state["written"].append(entry.video_id)
                        state["frames"] += video.num_frames
                        state["seconds"] += video.duration
                        decoded_seconds += video.duration
                    bar.update(1)
                    bar.set_postfix(
                        skipped=len(state["skipped"]), refresh=False
                    )
            _write_json(states[s], state)
            tf.io.gfile.rename(tmp, paths[s], overwrite=True)
    finally:
        results.close()
        bar.close()

    written, frames, seconds = 0, 0, 0.0
    skipped_videos = []
    for s in range(num_shards):
        state = _read_json(states[s])
        written += len(state["written"])
        frames += state["frames"]
        seconds += state["seconds"]
        skipped_videos.extend(state["skipped"])
    counts = dict(collections.Counter(v["reason"] for v in skipped_videos))
    report_path = os.path.join(output_dir, f"{split}_report.json")
    result = PrepareResult(
        written=written,
        skipped=counts,
        skipped_videos=skipped_videos,
        shards=paths,
        report_path=report_path,
        frames=frames,
        seconds_of_video=seconds,
        decoded_seconds_of_video=decoded_seconds,
        elapsed_seconds=time.perf_counter() - started,
    )
    _write_json(
        report_path,
        {
            "split": split,
            "written": written,
            "skipped": result.num_skipped,
            "skipped_by_reason": counts,
            "frames": frames,
            "seconds_of_video": seconds,
            "settings": settings,
            "shards": [os.path.basename(p) for p in paths],
            "skipped_videos": skipped_videos,
        },
    )
    logging.info("prepare %s: %s", split, result.summary())
    return result
