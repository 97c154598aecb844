"""Frame spools: a video's record streamed from a file, memory flat in length.

References: `SequenceExample.SerializeToString(deterministic=True)` of the
same frames, TensorFlow's parser and `tf.io.TFRecordWriter`'s files; memory
is Python's own allocation count (`tracemalloc`), compared with the frames
kept in a list, which must grow with the video.
"""

import errno
import os
import pickle
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.data import annotations
from nonlocal_tf.data import features
from nonlocal_tf.data import prepare
from nonlocal_tf.data import video
from nonlocal_tf.data.prepare import framing
from nonlocal_tf.data.prepare import records
from nonlocal_tf.data.prepare import spool
from nonlocal_tf.data.prepare import workers
from tests import cli_helpers
from tests.data import helpers

ENTRY = annotations.VideoEntry("v.mp4", "vid", ("a", "b"))
LABEL_MAP = {"a": 3, "b": 1}


def _frames(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, n, np.uint8).tobytes() for n in sizes]


def _spooled(folder, frames):
    frame_spool = spool.FrameSpool.create(folder)
    for frame in frames:
        frame_spool.append(frame)
    frame_spool.close()
    return frame_spool


def _encoded(frames):
    return video.EncodedVideo(
        frames=frames, fps=29.97, height=2, width=2, source_frames=len(frames)
    )


def _peak_bytes(fn):
    """Python's peak allocated bytes while `fn` runs (its result kept)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# Frame sizes whose varint lengths take 1, 2 and 3 bytes, and an empty one.
@pytest.mark.parametrize(
    "sizes", [[1], [0, 5, 127, 128, 300], [20_000, 3, 70_000]]
)
def test_streamed_record_is_the_serialized_sequence_example(tmp_path, sizes):
    frames = _frames(sizes)
    encoded = _encoded(_spooled(tmp_path, frames))
    outcome = records.video_outcome(ENTRY, encoded, LABEL_MAP)
    assert isinstance(outcome.record, framing.StreamedRecord)
    data = b"".join(outcome.record.chunks())
    expected = features.make_sequence_example(
        frames,
        video_id="vid",
        label_indices=[3, 1],
        label_texts=("a", "b"),
        fps=29.97,
    ).SerializeToString(deterministic=True)
    assert data == expected
    assert outcome.record.size == len(expected)
    assert outcome.frames == len(frames)
    # Read once: the spool file is gone.
    assert not os.path.exists(encoded.frames.path)
    parsed = features.parse_sequence_example(tf.constant(data))
    assert [bytes(f) for f in parsed["frames"].numpy()] == frames
    assert parsed["num_frames"].numpy() == len(frames)
    assert list(parsed["label_index"].numpy()) == [3, 1]


def test_a_spool_travels_closed_as_its_name_count_and_size(tmp_path):
    frame_spool = spool.FrameSpool.create(tmp_path)
    frame_spool.append(b"jpeg")
    with pytest.raises(ValueError, match="close the spool"):
        pickle.dumps(frame_spool)
    frame_spool.close()
    copy = pickle.loads(pickle.dumps(frame_spool))
    assert (copy.path, len(copy), copy.size) == (
        frame_spool.path,
        1,
        frame_spool.size,
    )
    assert len(pickle.dumps(copy)) < 500


def test_a_worker_spools_the_frames_it_would_list(tmp_path):
    path = helpers.write_video(
        tmp_path / "v.mp4", helpers.textured_frames(12, 48, 64)
    )
    listed = workers.encode_file(str(path), short_side=None)
    spooled = workers.encode_file(
        str(path), spool_dir=str(tmp_path), short_side=None
    )
    assert len(spooled.frames) == len(listed.frames) == 12
    with open(spooled.frames.path, "rb") as f:
        assert f.read() == b"".join(map(spool.frame_entry, listed.frames))
    assert (spooled.fps, spooled.height, spooled.width) == (
        listed.fps,
        listed.height,
        listed.width,
    )


def test_a_failed_video_leaves_no_spool(tmp_path):
    bad = helpers.bad_videos(tmp_path / "bad")["truncated"]
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    with pytest.raises(video.VideoDecodeError):
        workers.encode_file(str(bad), spool_dir=str(spool_dir))
    assert list(spool_dir.iterdir()) == []


def test_decoding_memory_is_flat_in_the_video_length(tmp_path):
    paths = {
        n: helpers.write_video(
            tmp_path / f"{n}.mp4", helpers.textured_frames(n, 120, 160)
        )
        for n in (40, 160)
    }
    extra = {}

    def encode(n, spool_dir):
        encoded = workers.encode_file(
            str(paths[n]), spool_dir=spool_dir, short_side=None
        )
        if spool_dir is None:
            extra[n] = sum(map(len, encoded.frames))

    listed = {n: _peak_bytes(lambda n=n: encode(n, None)) for n in paths}
    spooled = {
        n: _peak_bytes(lambda n=n: encode(n, str(tmp_path))) for n in paths
    }
    extra_jpeg_bytes = extra[160] - extra[40]
    assert extra_jpeg_bytes > 200_000
    # A list holds every frame: its peak grows with the video...
    assert listed[160] - listed[40] > 0.5 * extra_jpeg_bytes
    # ... a spool holds one frame at a time.
    assert spooled[160] - spooled[40] < 32 * 1024
    assert spooled[160] < 0.1 * extra[160]


def test_writing_memory_is_flat_in_the_record_size(tmp_path):
    def write(num_frames, spooled):
        frames = _frames([20_000] * num_frames, seed=num_frames)
        if spooled:
            frames = _spooled(tmp_path, frames)
        encoded = _encoded(frames)
        name = tmp_path / f"{num_frames}-{spooled}"
        return _peak_bytes(
            lambda: records.write_shard(
                f"{name}.tfrecord",
                f"{name}.json",
                [records.video_outcome(ENTRY, encoded, LABEL_MAP)],
            )
        )

    small, large = 100, 400  # about 2 and 8 MB of frames
    extra_bytes = (large - small) * 20_000
    # A whole record in memory: the peak grows with it...
    assert write(large, False) - write(small, False) > 0.8 * extra_bytes
    # ... a streamed one is written in 1 MiB chunks.
    assert write(large, True) - write(small, True) < 256 * 1024
    for n in (small, large):
        streamed = (tmp_path / f"{n}-True.tfrecord").read_bytes()
        assert streamed == (tmp_path / f"{n}-False.tfrecord").read_bytes()


def test_a_full_disk_while_spooling_stops_the_shard(tmp_path):
    full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError) as raised:
        records.video_outcome(ENTRY, full, LABEL_MAP)
    assert raised.value is full

    def outcomes():
        yield records.video_outcome(ENTRY, full, LABEL_MAP)

    shard = tmp_path / "train-00000-of-00001.tfrecord"
    with pytest.raises(OSError) as raised:
        records.write_shard(str(shard), str(tmp_path / "s.json"), outcomes())
    assert raised.value.errno == errno.ENOSPC
    assert str(shard) in str(raised.value)
    assert not shard.exists()


@pytest.mark.parametrize("num_workers", [0, 1])
def test_prepared_shard_is_tensorflows_and_leaves_no_spool(
    tmp_path, num_workers
):
    path = helpers.write_video(
        tmp_path / "v.mp4", helpers.textured_frames(30, 48, 64)
    )
    entries = [annotations.VideoEntry(str(path), "v", ("x",))]
    output = tmp_path / "records"
    stale = output / ".prepare-train" / "spool-left-by-a-killed-run"
    stale.mkdir(parents=True)
    (stale / "tmp1.frames").write_bytes(b"partial")
    result = prepare.prepare_dataset(
        entries,
        str(output),
        label_map={"x": 0},
        num_workers=num_workers,
        short_side=32,
        progress=False,
    )
    assert result.written == 1
    # The reference: the frames in a list, TensorFlow's writer.
    frames = video.encode_video_jpeg(str(path), short_side=32)
    example = features.make_sequence_example(
        frames.frames,
        video_id="v",
        label_indices=[0],
        label_texts=("x",),
        fps=frames.fps,
    )
    reference = tmp_path / "reference.tfrecord"
    with tf.io.TFRecordWriter(str(reference)) as writer:
        writer.write(example.SerializeToString(deterministic=True))
    (shard,) = result.shards
    assert open(shard, "rb").read() == reference.read_bytes()
    assert not [
        p for p in (output / ".prepare-train").iterdir() if "spool" in p.name
    ]


def test_spool_and_workers_load_without_tensorflow():
    code = (
        "from nonlocal_tf.data.prepare import spool, workers; import sys; "
        "print('tensorflow' in sys.modules)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env=cli_helpers.program_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "False"
