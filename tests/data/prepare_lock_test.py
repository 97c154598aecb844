"""One preparation at a time into an output folder: a second is refused,
naming the holder, before it plans or decodes; the one after a killed
preparation takes its lock over and writes the records."""

import json
import os

import pytest

from nonlocal_tf import locks
from nonlocal_tf.data import annotations
from nonlocal_tf.data import prepare
from tests import lock_holder
from tests.data import helpers


def test_a_second_preparation_is_refused_before_planning(tmp_path):
    output = tmp_path / "records"
    # Without the lock this preparation would fail on its missing video.
    entries = [annotations.VideoEntry(str(tmp_path / "gone.mp4"), "gone")]
    with lock_holder.held_elsewhere(output, "preparing split 'train'") as h:
        with pytest.raises(locks.LockedError) as refused:
            prepare.prepare_dataset(
                entries, str(output), label_map={}, num_workers=0
            )
        assert f"pid {h.pid}" in str(refused.value)
        assert "(preparing split 'train')" in str(refused.value)
        assert os.listdir(output) == [locks.LOCK_FILE]


def test_the_preparation_after_a_killed_one_takes_over(tmp_path, caplog):
    output = tmp_path / "records"
    with lock_holder.held_elsewhere(output, "preparing split 'train'") as h:
        lock_holder.kill(h)
    video = helpers.write_index_video(tmp_path / "v.mp4", 4)
    entries = [annotations.VideoEntry(str(video), "v", ("a",))]
    with caplog.at_level("WARNING"):
        result = prepare.prepare_dataset(
            entries,
            str(output),
            label_map={"a": 0},
            num_workers=0,
            progress=False,
        )
    assert f"pid {h.pid}" in caplog.text and "Took over" in caplog.text
    report = json.loads(open(result.report_path).read())
    assert report["written"] == 1, report
    assert not (output / locks.LOCK_FILE).exists()
