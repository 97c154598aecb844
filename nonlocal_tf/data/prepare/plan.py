"""Stage 2: the plan of a preparation, and the claim on its output folder.

Videos are shuffled once (seeded) and dealt round-robin to shards, so each
shard mixes classes; a video's shard and position in it depend only on the
annotations, the seed and the number of shards, never on the engine or the
number of workers. Videos whose id repeats an earlier one, or whose labels
are not in the label map, are skipped here, before any decoding.

A state file per finished shard (`.prepare-<split>/shard-NNNNN.json`) marks
the shards a killed run already wrote; the plan lists the others as `todo`.
A fingerprint of the videos and settings (`.prepare-<split>/config.json`)
refuses a rerun with other videos or settings into the same folder.
"""

import dataclasses
import hashlib
import json
import os
import random

import tensorflow as tf
from absl import logging

from nonlocal_tf import fileio
from nonlocal_tf.data import annotations
from nonlocal_tf.data.prepare import records

UNKNOWN_LABEL = "unknown_label"
DUPLICATE_ID = "duplicate_id"
STATE_VERSION = 1


class NoVideosFoundError(FileNotFoundError):
    """None of the videos to prepare exists (e.g. a mistyped video folder)."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a record depends on besides its video (the report's `settings`).

    Attributes:
        short_side: frames resized to this short side, or None (kept).
        fps: target frame rate, or None (the source's).
        jpeg_qscale: JPEG quantiser scale, 2 (best) to 31.
        seed: seed of the video -> shard assignment.
        num_shards: number of shard files.
    """

    short_side: int | None
    fps: float | None
    jpeg_qscale: int
    seed: int
    num_shards: int

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Slot:
    """One video's place in the output.

    Attributes:
        shard: index of its shard.
        position: its position among the shard's videos.
        entry: the `annotations.VideoEntry`.
        skip: the skip decided by the plan (duplicate id, unknown label), or
            None when the video is to be decoded.
    """

    shard: int
    position: int
    entry: object
    skip: dict | None = None


@dataclasses.dataclass
class Plan:
    """Where every video of a split goes, and what is left to do.

    Attributes:
        output_dir: the output folder (any `tf.io.gfile` path).
        split: the shard name prefix.
        settings: the `Settings`.
        label_map: {class name: index}.
        shards: per shard, its `Slot`s in record order.
        paths: per shard, its file.
        states: per shard, its state file.
        todo: indices of the shards still to write.
        fingerprint: hash of the videos, label map and settings.
    """

    output_dir: str
    split: str
    settings: Settings
    label_map: dict
    shards: list
    paths: list
    states: list
    todo: list
    fingerprint: str

    @property
    def state_dir(self):
        return state_dir(self.output_dir, self.split)

    def todo_slots(self):
        """The slots of the shards still to write, shard by shard."""
        return [slot for s in self.todo for slot in self.shards[s]]


def shard_path(output_dir, split, index, num_shards):
    """`<output_dir>/<split>-<index:05d>-of-<num_shards:05d>.tfrecord`.

    Example:
        >>> shard_path("out", "train", 3, 16)
        'out/train-00003-of-00016.tfrecord'
    """
    return os.path.join(
        output_dir, f"{split}-{index:05d}-of-{num_shards:05d}.tfrecord"
    )


def state_dir(output_dir, split):
    """`<output_dir>/.prepare-<split>`, the resume state of a split."""
    return os.path.join(output_dir, f".prepare-{split}")


def make_settings(
    entries, *, split, num_shards, short_side, fps, jpeg_qscale, seed
):
    """Checks the arguments of a preparation; returns its `Settings`.

    `num_shards` None gives about 100 videos per shard; it is capped at the
    number of videos.

    Raises:
        ValueError: no entries, a bad split name or shard count.
    """
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
    return Settings(
        short_side=int(short_side) if short_side else None,
        fps=float(fps) if fps else None,
        jpeg_qscale=int(jpeg_qscale),
        seed=int(seed),
        num_shards=num_shards,
    )


def _fingerprint(entries, label_map, settings):
    data = {
        "entries": [dataclasses.astuple(e) for e in entries],
        "label_map": sorted(label_map.items()),
        "settings": settings.as_dict(),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _assign(entries, settings):
    """Per shard, its entries in record order (seeded shuffle, dealt)."""
    order = list(range(len(entries)))
    random.Random(settings.seed).shuffle(order)
    return [
        [entries[i] for i in order[s :: settings.num_shards]]
        for s in range(settings.num_shards)
    ]


def _precheck(entries_by_shard, label_map):
    """The skips decided before decoding: {id(entry): skip}."""
    first = {}
    for shard in entries_by_shard:
        for entry in shard:
            first.setdefault(entry.video_id, entry)
    skips = {}
    for shard in entries_by_shard:
        for entry in shard:
            other = first[entry.video_id]
            unknown = [x for x in entry.labels if x not in label_map]
            if other is not entry:
                skips[id(entry)] = records.skip(
                    entry, DUPLICATE_ID, f"video id also used by {other.path}"
                )
            elif unknown:
                skips[id(entry)] = records.skip(
                    entry,
                    UNKNOWN_LABEL,
                    f"label(s) {unknown} not in the label map",
                )
    return skips


def make_plan(entries, output_dir, *, label_map, split, settings):
    """Plans the split; reads the resume state, writes nothing.

    Returns:
        A `Plan`.
    """
    entries = list(entries)
    label_map = dict(label_map)
    by_shard = _assign(entries, settings)
    skips = _precheck(by_shard, label_map)
    shards = [
        [
            Slot(s, position, entry, skips.get(id(entry)))
            for position, entry in enumerate(shard)
        ]
        for s, shard in enumerate(by_shard)
    ]
    n = settings.num_shards
    paths = [shard_path(output_dir, split, s, n) for s in range(n)]
    folder = state_dir(output_dir, split)
    states = [os.path.join(folder, f"shard-{s:05d}.json") for s in range(n)]
    todo = [
        s
        for s in range(n)
        if not (tf.io.gfile.exists(paths[s]) and tf.io.gfile.exists(states[s]))
    ]
    if len(todo) < n:
        logging.info(
            "Resuming: %d of %d shards of %r are already written",
            n - len(todo),
            n,
            split,
        )
    return Plan(
        output_dir=output_dir,
        split=split,
        settings=settings,
        label_map=label_map,
        shards=shards,
        paths=paths,
        states=states,
        todo=todo,
        fingerprint=_fingerprint(entries, label_map, settings),
    )


def check_videos_exist(plan, video_exists=os.path.exists):
    """Raises `NoVideosFoundError` when no video left to decode exists.

    A mistyped video folder would otherwise give empty shards and a report
    of missing videos only. Stops at the first video found (in shard
    order), so it costs one look-up when the folder is right.
    """
    slots = [slot for slot in plan.todo_slots() if slot.skip is None]
    if not slots or any(video_exists(slot.entry.path) for slot in slots):
        return
    folders = sorted({os.path.dirname(slot.entry.path) for slot in slots})
    raise NoVideosFoundError(
        f"none of the {len(slots)} videos to prepare exists, e.g. "
        f"{slots[0].entry.path} (under {', '.join(folders[:3])}"
        f"{', ...' if len(folders) > 3 else ''}; check the video folder "
        "and the paths in the annotations)"
    )


def read_json(path):
    with tf.io.gfile.GFile(path) as f:
        return json.loads(f.read())


def claim_output_dir(plan):
    """Writes the label map and the fingerprint, or refuses the folder.

    Also removes temporary files a killed run left.

    Raises:
        ValueError: the folder's label map differs, or it holds a
            preparation of this split from other videos or settings.
    """
    tf.io.gfile.makedirs(plan.output_dir)
    map_path = os.path.join(plan.output_dir, annotations.LABEL_MAP_FILE)
    if tf.io.gfile.exists(map_path):
        if annotations.read_label_map(map_path) != plan.label_map:
            raise ValueError(
                f"label_map differs from {map_path}, which another split in "
                "this folder uses; prepare with that map (or another folder)"
            )
    else:
        annotations.write_label_map(map_path, plan.label_map)
    config_path = os.path.join(plan.state_dir, "config.json")
    tf.io.gfile.makedirs(plan.state_dir)
    if tf.io.gfile.exists(config_path):
        if read_json(config_path).get("fingerprint") != plan.fingerprint:
            raise ValueError(
                f"{plan.output_dir} holds a preparation of split "
                f"{plan.split!r} made from other videos or settings (see "
                f"{config_path}); use another output_dir or delete its "
                "shards and that folder"
            )
    else:
        records.write_json(
            config_path,
            {
                "version": STATE_VERSION,
                "fingerprint": plan.fingerprint,
                "settings": plan.settings.as_dict(),
            },
        )
    marker = fileio.TEMP_MARKER
    stale = tf.io.gfile.glob(
        os.path.join(plan.output_dir, f".{plan.split}*{marker}*")
    ) + tf.io.gfile.glob(os.path.join(plan.state_dir, f"*{marker}*"))
    for path in stale:
        tf.io.gfile.remove(path)
