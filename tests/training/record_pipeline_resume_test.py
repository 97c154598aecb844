"""The real record pipeline resumes exactly inside `train`'s `WorkerInput`.

`build_dataset` counts skipped records with a `py_function` (stateful) and
declares that external state ignorable, so `WorkerInput` saves its iterator
without it (and without warning). Its augmentation is
stateless (seeded by the element's position), so a restored iterator must
still give the very clips an uninterrupted one gives.
"""

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf import data
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import annotations
from nonlocal_tf.training import inputs
from nonlocal_tf.training import strategy as strategy_lib
from tests.scripts import helpers


@pytest.fixture(scope="module")
def train_records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    entries = []
    for i in range(6):
        path = helpers.colour_video(root / f"v{i}.mp4", i % 3, seed=i)
        entries.append(
            annotations.VideoEntry(
                str(path), f"v{i}", (helpers.CLASS_NAMES[i % 3],)
            )
        )
    data.prepare_dataset(
        entries,
        str(root / "records"),
        label_map={name: i for i, name in enumerate(helpers.CLASS_NAMES)},
        split="train",
        num_shards=2,
        num_workers=0,
        short_side=None,
        progress=False,
    )
    return str(root / "records" / "train-*")


def _worker_input(pattern):
    def dataset_fn(context):
        return data.build_dataset(
            pattern,
            ClipSpec(
                num_frames=4,
                sampling_rate=2,
                crop_size=32,
                jitter_scales=(32, 40),
            ),
            mode="train",
            num_classes=3,
            batch_size=context.get_per_replica_batch_size(2),
            input_context=context,
            seed=3,
        )

    info = strategy_lib.worker_info(tf.distribute.get_strategy())
    return inputs.WorkerInput(dataset_fn, 2, info)


def _take(iterator, count):
    return [tuple(t.numpy() for t in next(iterator)) for _ in range(count)]


def test_restored_iterator_gives_the_same_clips(
    train_records, tmp_path, caplog
):
    with caplog.at_level("WARNING"):
        uninterrupted = _worker_input(train_records)
    # build_dataset declares its py_function harmless: no false alarm.
    assert "stateful ops" not in caplog.text
    # Past the first epoch (6 videos = 3 batches), so reshuffling counts.
    _take(uninterrupted.iterator, 4)
    path = tf.train.Checkpoint(iterator=uninterrupted.iterator).write(
        str(tmp_path / "it")
    )
    expected = _take(uninterrupted.iterator, 5)

    resumed = _worker_input(train_records)
    tf.train.Checkpoint(iterator=resumed.iterator).read(path).assert_consumed()
    actual = _take(resumed.iterator, 5)
    for (clips, labels), (clips_expected, labels_expected) in zip(
        actual, expected, strict=True
    ):
        np.testing.assert_array_equal(labels, labels_expected)
        np.testing.assert_array_equal(clips, clips_expected)
    # Not trivially equal: the batches differ from one another.
    assert not np.array_equal(expected[0][0], expected[1][0])
