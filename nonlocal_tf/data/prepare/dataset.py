"""`prepare_dataset`: plan, run an engine, report (see the package docstring).

Videos are shuffled once (seeded) and dealt round-robin to shards, so each
shard mixes classes. A run that was killed resumes where it stopped:
finished shards are not redone, unfinished ones are redone from the start. A
rerun with different videos or settings into the same folder is refused.

The label map is written beside the shards (`label_map.json`); splits
prepared into one folder must share it. Videos that cannot be used are
skipped, logged with their reason and listed in `<split>_report.json` (see
`video.REASONS`, plus `unknown_label` and `duplicate_id`).
"""

import os
import time

from nonlocal_tf import locks
from nonlocal_tf.data import annotations
from nonlocal_tf.data.prepare import local
from nonlocal_tf.data.prepare import plan as plan_lib
from nonlocal_tf.data.prepare import report

LABEL_MAP_FILE = annotations.LABEL_MAP_FILE
UNKNOWN_LABEL = plan_lib.UNKNOWN_LABEL
DUPLICATE_ID = plan_lib.DUPLICATE_ID
ENGINES = ("local", "beam")
NoVideosFoundError = plan_lib.NoVideosFoundError
NothingPreparedError = report.NothingPreparedError
PrepareResult = report.PrepareResult
shard_path = plan_lib.shard_path


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
    engine="local",
    beam_options=None,
):
    """Writes the videos of `entries` as sharded TFRecord files.

    Args:
        entries: list of `annotations.VideoEntry`.
        output_dir: folder for the shards, the state and the report (created;
            any `tf.io.gfile` path, e.g. `gs://`).
        label_map: {class name: index}; a label not in it skips the video
            (`unknown_label`). Written to `<output_dir>/label_map.json`; when
            that file exists (another split was prepared there) it must be
            the same map.
        split: name prefix of the shard files, e.g. "train", "val".
        num_shards: number of shard files; default about 100 videos per
            shard. Capped at the number of videos.
        num_workers: local engine: decoding processes; default
            `os.cpu_count()`; 0 decodes in this process.
        short_side: frames are resized to this short side (aspect kept);
            None or 0 keeps the size.
        fps: target frame rate; None keeps the source rate.
        jpeg_qscale: JPEG quantiser scale, 2 (best, default) to 31.
        seed: seed of the order in which videos are dealt to shards.
        progress: local engine: show a tqdm progress bar.
        engine: "local" or "beam".
        beam_options: Beam engine: pipeline options, a command-line string
            (e.g. "--runner=DirectRunner --direct_num_workers=2") or a list;
            default the DirectRunner.

    Returns:
        A `PrepareResult` for the whole split (including shards finished by
        an earlier, interrupted run).

    Raises:
        ValueError: bad arguments, or `output_dir` holds a preparation of
            this split made from other videos or settings.
        NoVideosFoundError: none of the videos exists (nothing is written).
        NothingPreparedError: every video was skipped (the report says
            why).
        nonlocal_tf.locks.LockedError: another process prepares data into
            `output_dir` (one at a time there; the message names it).

    Example:
        >>> entries = annotations.read_annotations(
        ...     "train.csv", "videos/")  # doctest: +SKIP
        >>> label_map = annotations.build_label_map(entries)  # doctest: +SKIP
        >>> result = prepare_dataset(
        ...     entries, "records/", label_map=label_map, split="train",
        ...     num_shards=16)  # doctest: +SKIP
        >>> print(result.summary())  # doctest: +SKIP
    """
    started = time.perf_counter()
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    # Rows `read_annotations(..., bad_rows="skip")` left out, for the report.
    bad_rows = [row.as_dict() for row in getattr(entries, "bad_rows", ())]
    entries = list(entries)
    settings = plan_lib.make_settings(
        entries,
        split=split,
        num_shards=num_shards,
        short_side=short_side,
        fps=fps,
        jpeg_qscale=jpeg_qscale,
        seed=seed,
    )
    num_workers = os.cpu_count() if num_workers is None else int(num_workers)
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    # One preparation at a time into output_dir, refused before planning.
    with locks.hold(output_dir, f"preparing split {split!r}"):
        plan = plan_lib.make_plan(
            entries,
            output_dir,
            label_map=label_map,
            split=split,
            settings=settings,
        )
        plan_lib.check_videos_exist(plan)
        plan_lib.claim_output_dir(plan)
        metrics = None
        if engine == "beam":
            # Imported here: Apache Beam is optional and slow to import.
            from nonlocal_tf.data.prepare import beam_engine

            metrics = beam_engine.run(plan, beam_options=beam_options)
        else:
            local.run(plan, num_workers=num_workers, progress=progress)
        return report.write_report(
            plan,
            started,
            engine=engine,
            engine_metrics=metrics,
            bad_annotation_rows=bad_rows,
        )
