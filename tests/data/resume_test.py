"""Killing `scripts/prepare_data.py` midway, then resuming it."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.data import annotations
from nonlocal_tf.data import prepare
from tests.conftest import REPO_ROOT
from tests.data import helpers

NUM_VIDEOS = 12
NUM_SHARDS = 6


def _videos(folder):
    folder.mkdir()
    base = helpers.textured_frames(90, 240, 320)
    lines = ["path,label"]
    for i in range(NUM_VIDEOS):
        frames = np.roll(base, shift=(7 * i, 11 * i), axis=(1, 2))
        helpers.write_video(folder / f"v{i:02d}.mp4", frames, fps=30)
        lines.append(f"v{i:02d}.mp4,class{i % 3}")
    listing = folder / "list.csv"
    listing.write_text("\n".join(lines) + "\n")
    return listing


def _shards(folder):
    return sorted(folder.glob("train-*-of-*.tfrecord"))


def _records(path):
    """The contents of each record: context values and frame bytes."""
    records = []
    for serialized in tf.data.TFRecordDataset(str(path)):
        example = tf.train.SequenceExample.FromString(serialized.numpy())
        context = {
            key: list(getattr(value, value.WhichOneof("kind")).value)
            for key, value in example.context.feature.items()
        }
        frames = [
            f.bytes_list.value[0]
            for f in example.feature_lists.feature_list["image/encoded"].feature
        ]
        records.append((context, frames))
    return records


@pytest.mark.slow
def test_killed_preparation_resumes_to_the_same_records(tmp_path):
    listing = _videos(tmp_path / "videos")
    output = tmp_path / "resumed"
    command = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "prepare_data.py"),
        f"--video_dir={tmp_path / 'videos'}",
        f"--annotations={listing}",
        f"--output_dir={output}",
        f"--num_shards={NUM_SHARDS}",
        "--num_workers=1",
        "--short_side=120",
        "--noprogress",
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    first = subprocess.Popen(
        command,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not _shards(output) and first.poll() is None:
        assert time.monotonic() < deadline, "no shard appeared in 120 s"
        time.sleep(0.005)
    # Kill the run and its worker processes (its own process group).
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    stderr = first.stderr.read().decode()
    first.stderr.close()
    finished = _shards(output)
    assert 1 <= len(finished) < NUM_SHARDS, (
        f"the kill missed the middle: {len(finished)} shards written\n{stderr}"
    )
    print(f"killed after {len(finished)} of {NUM_SHARDS} shards")
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in finished}

    second = subprocess.run(command, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert f"written {NUM_VIDEOS} videos" in second.stdout
    assert "skipped 0" in second.stdout
    # Finished shards were left alone; no temporary file is left behind.
    for path in finished:
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == before[
            path.name
        ]
    assert not list(output.glob("*.tmp-*"))

    # One uninterrupted run (in this process, no workers) for comparison.
    entries = annotations.read_annotations(listing, tmp_path / "videos")
    reference = tmp_path / "reference"
    prepare.prepare_dataset(
        entries,
        str(reference),
        label_map=annotations.build_label_map(entries),
        split="train",
        num_shards=NUM_SHARDS,
        num_workers=0,
        short_side=120,
        progress=False,
    )
    resumed_shards = _shards(output)
    assert [p.name for p in resumed_shards] == [
        p.name for p in _shards(reference)
    ]
    total = 0
    for path in resumed_shards:
        got = _records(path)
        assert got == _records(reference / path.name), path.name
        total += len(got)
    assert total == NUM_VIDEOS
