"""Steps 1 and 2 of the demo: generated videos, then TFRecords."""

import time

import numpy as np

from nonlocal_tf import data as data_lib
from nonlocal_tf.data import synthetic


def _describe_task(config):
    return (
        "Colour match: a square in one corner in frames 0-"
        f"{config.first_frames - 1}, one in the opposite corner in frames "
        f"{config.num_frames - config.last_frames}-{config.num_frames - 1}; "
        "class = same colour or not.\n"
        f"{config.num_frames} frames of {config.height}x{config.width}, "
        f"colours {'/'.join(config.palette)}, {config.num_distractors} "
        "drifting grey distractors, pixel noise.\n"
        "Either square alone says nothing: the network has to relate "
        f"opposite corners of frames >= {config.gap_frames + 1} apart. "
        "Chance is 50%."
    )


def _request_video(demo, config):
    """The held-out request: a seeded video of no split."""
    rng = np.random.default_rng(
        synthetic.video_seed(demo.settings["seed"], "request", 0)
    )
    request = synthetic.generate_video(
        int(rng.integers(len(synthetic.CLASS_NAMES))), rng=rng, config=config
    )
    synthetic.write_video(demo.request_video, request.frames, fps=config.fps)
    return request


def make_videos(demo):
    """Step 1: the seeded colour-match videos and one held-out request.

    Returns:
        (the `SyntheticDataset`, the request's `SyntheticVideo`).
    """
    settings = demo.settings
    demo.step("Generate videos (nonlocal_tf.data.synthetic, PyAV)")
    config = synthetic.SyntheticConfig()
    demo.note(_describe_task(config))
    started = time.perf_counter()
    data = synthetic.make_dataset(
        demo.videos,
        settings["split_sizes"],
        seed=settings["seed"],
        config=config,
    )
    request = _request_video(demo, config)
    counts = data.counts()
    for split, per_class in counts.items():
        demo.note(
            f"{split:5s}: {sum(per_class.values()):4d} videos ("
            + ", ".join(f"{n} {name}" for name, n in per_class.items())
            + f") -> {data.lists[split]}"
        )
    demo.note(
        f"label map {data.label_map} -> {data.label_map_path}\n"
        f"held-out request video: {demo.request_video}\n"
        f"done in {time.perf_counter() - started:.1f} s"
    )
    demo.record(
        "videos",
        ", ".join(f"{split} {sum(c.values())}" for split, c in counts.items())
        + " (+1 request)",
    )
    return data, request


def prepare_records(demo, data):
    """Step 2: videos -> sharded TFRecords through `prepare_dataset`."""
    demo.step("Prepare TFRecords (nonlocal_tf.data.prepare_dataset)")
    started = time.perf_counter()
    results = {}
    for split, entries in data.entries.items():
        result = data_lib.prepare_dataset(
            entries,
            demo.records,
            label_map=data.label_map,
            split=split,
            num_shards=min(2, len(entries)),
            num_workers=0,
            short_side=None,
            seed=demo.settings["seed"],
        )
        results[split] = result
        demo.note(f"{split:5s}: {result.summary()}")
    demo.note(
        f"shards, label_map.json and <split>_report.json in {demo.records}/ "
        f"({time.perf_counter() - started:.1f} s)"
    )
    skipped = sum(r.num_skipped for r in results.values())
    demo.record(
        "records",
        f"{sum(r.written for r in results.values())} written, "
        f"{skipped} skipped",
    )
    return results
