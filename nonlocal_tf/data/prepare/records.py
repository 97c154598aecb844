"""Stages 3b and 4: one video's record (or skip), one shard written atomically.

A shard is written to a temporary file beside it (`fileio.atomic_path`);
its state file (`.prepare-<split>/shard-NNNNN.json`: the ids written, the
videos skipped with their reasons, frames and seconds) is written before the
rename, so a shard file that exists with its state is complete. Writing the
same shard again (a resumed run, a retried Beam bundle) gives the same
bytes.

A video whose frames were spooled to a file (`spool.FrameSpool`, the local
engine) becomes a `framing.StreamedRecord`: its context, then the spool's
bytes, streamed into the shard without the record ever being held whole.
Shards are written by `framing.RecordWriter`, byte for byte what
`tf.io.TFRecordWriter` writes.
"""

import dataclasses
import itertools
import json

from absl import logging

from nonlocal_tf import fileio
from nonlocal_tf.data import features
from nonlocal_tf.data.prepare import framing
from nonlocal_tf.data.prepare import spool
from nonlocal_tf.data.video import DECODE_ERROR
from nonlocal_tf.data.video import VideoDecodeError

FULL_DISK_HINT = (
    "the shards finished before it are kept; free space and rerun: "
    "preparation carries on from this shard"
)


@dataclasses.dataclass(frozen=True)
class VideoOutcome:
    """What one video becomes: a serialized record, or a skip.

    Attributes:
        video_id: the entry's id.
        record: the serialized `SequenceExample` (bytes, or a
            `framing.StreamedRecord` reading a frame spool once), or None
            when skipped.
        skip: {"path", "video_id", "reason", "detail"} when skipped.
        frames: frames in the record.
        seconds: seconds of video in the record.
    """

    video_id: str
    record: bytes | framing.StreamedRecord | None = None
    skip: dict | None = None
    frames: int = 0
    seconds: float = 0.0


def skip(entry, reason, detail):
    """The report line of a skipped video."""
    return {
        "path": entry.path,
        "video_id": entry.video_id,
        "reason": reason,
        "detail": detail,
    }


def skip_of_error(entry, error):
    """The skip of a video whose encoding raised `error`."""
    if isinstance(error, VideoDecodeError):
        return skip(entry, error.reason, error.detail)
    if isinstance(error, ValueError):
        return skip(entry, DECODE_ERROR, str(error))
    return skip(entry, DECODE_ERROR, f"{type(error).__name__}: {error}")


def video_outcome(entry, video, label_map):
    """The record of `entry` from its encoded video (or the exception).

    Args:
        entry: an `annotations.VideoEntry`.
        video: the `video.EncodedVideo`, or the exception its encoding
            raised.
        label_map: {class name: index}.

    Returns:
        A `VideoOutcome`.

    Example:
        >>> outcome = video_outcome(entry, encode_video(entry, settings),
        ...                         {"cycling": 0})  # doctest: +SKIP
    """
    if isinstance(video, BaseException):
        if fileio.is_disk_full(video):
            # The frame spool filled the disk: not this video's fault.
            raise video
        return VideoOutcome(entry.video_id, skip=skip_of_error(entry, video))
    labels = {
        "video_id": entry.video_id,
        "label_indices": [label_map[x] for x in entry.labels],
        "label_texts": entry.labels,
        "fps": video.fps,
    }
    if isinstance(video.frames, spool.FrameSpool):
        context = features.make_context(video.num_frames, **labels)
        frames = video.frames
        head = spool.record_head(
            context.SerializeToString(deterministic=True),
            features.IMAGE_KEY,
            frames.size,
        )
        record = framing.StreamedRecord(
            len(head) + frames.size,
            lambda: itertools.chain([head], frames.chunks()),
        )
    else:
        example = features.make_sequence_example(video.frames, **labels)
        record = example.SerializeToString(deterministic=True)
    return VideoOutcome(
        entry.video_id,
        record=record,
        frames=video.num_frames,
        seconds=video.duration,
    )


def slot_outcome(slot, label_map, encode):
    """The outcome of a plan slot: its planned skip, or `encode`d video.

    Args:
        slot: a `plan.Slot`.
        label_map: {class name: index}.
        encode: `fn(entry) -> EncodedVideo or exception`.
    """
    if slot.skip is not None:
        return VideoOutcome(slot.entry.video_id, skip=slot.skip)
    return video_outcome(slot.entry, encode(slot.entry), label_map)


def write_json(path, data):
    """JSON as preparation writes it (UTF-8, indent 1), atomically."""
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    fileio.atomic_write_text(path, text)


def write_shard(path, state_path, outcomes):
    """Writes the records of `outcomes` (in order) as one shard, atomically.

    Args:
        path: the shard file.
        state_path: its state file, written before the shard is renamed into
            place.
        outcomes: iterable of `VideoOutcome`, in record order.

    Returns:
        The state: {"written": [ids], "skipped": [skips], "frames": int,
        "seconds": float}.

    Raises:
        fileio.DiskFullError: the disk filled up; the shard's temporary file
            is removed, the shards finished before are kept.
    """
    state = {"written": [], "skipped": [], "frames": 0, "seconds": 0.0}
    with (
        fileio.disk_full_as(path, FULL_DISK_HINT),
        fileio.atomic_path(path) as temp,
    ):
        with framing.RecordWriter(temp) as writer:
            for outcome in outcomes:
                if outcome.record is None:
                    logging.warning(
                        "Skipping %s (%s): %s: %s",
                        outcome.skip["path"],
                        outcome.skip["video_id"],
                        outcome.skip["reason"],
                        outcome.skip["detail"],
                    )
                    state["skipped"].append(outcome.skip)
                    continue
                writer.write(outcome.record)
                state["written"].append(outcome.video_id)
                state["frames"] += outcome.frames
                state["seconds"] += outcome.seconds
        write_json(state_path, state)
    return state
