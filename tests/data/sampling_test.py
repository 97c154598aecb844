"""Pinned frame indices of the train window and the K test clips.

Expected values are worked out by hand from the reference formulas quoted in
`nonlocal_tf/data/sampling.py` (video-nonlocal-net `customized_video_io.cc`,
PySlowFast `decoder.py`), in the style of DMVR's sampling tests.
"""

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.data import sampling


def _test(count, t, r, k, policy="caffe2"):
    return (
        sampling.test_frame_indices(count, t, r, k, policy=policy)
        .numpy()
        .tolist()
    )


def _train(count, t, r, seed, policy="caffe2"):
    return sampling.train_frame_indices(
        count, t, r, seed, policy=policy
    ).numpy()


def test_caffe2_test_clips_long_video():
    clips = _test(100, 8, 8, 10)
    # Clip k starts at floor(k * 100 / 10) = 10 k; frames every 8.
    assert clips[0] == [0, 8, 16, 24, 32, 40, 48, 56]
    assert clips[1] == [10, 18, 26, 34, 42, 50, 58, 66]
    # The last clips run past the end and wrap, as the Caffe2 code does.
    assert clips[9] == [90, 98, 6, 14, 22, 30, 38, 46]


def test_caffe2_test_clips_short_video_wrap():
    # F = 20 < T * r = 64: starts floor(0), floor(20/3) = 6, floor(40/3) = 13.
    assert _test(20, 8, 8, 3) == [
        [0, 8, 16, 4, 12, 0, 8, 16],
        [6, 14, 2, 10, 18, 6, 14, 2],
        [13, 1, 9, 17, 5, 13, 1, 9],
    ]


def test_caffe2_single_frame_video():
    assert _test(1, 4, 2, 2) == [[0, 0, 0, 0], [0, 0, 0, 0]]
    assert _train(1, 4, 2, [3, 4]).tolist() == [0, 0, 0, 0]


def test_pyslowfast_test_clips():
    clips = _test(100, 8, 8, 10, "pyslowfast")
    # delta = 100 - 64 = 36, start_k = 3.6 k, linspace step 63 / 7 = 9.
    assert clips[0] == [0, 9, 18, 27, 36, 45, 54, 63]
    assert clips[1] == [3, 12, 21, 30, 39, 48, 57, 66]
    assert clips[9] == [32, 41, 50, 59, 68, 77, 86, 95]


def test_pyslowfast_short_video_clamps():
    # delta = 0: every clip starts at 0 and is clamped to the last frame.
    assert (
        _test(20, 8, 8, 2, "pyslowfast") == [[0, 9, 18, 19, 19, 19, 19, 19]] * 2
    )


def _train_many(count, t, r, num_seeds, policy="caffe2"):
    seeds = tf.stack([tf.range(num_seeds), tf.fill([num_seeds], 17)], axis=1)
    fn = tf.function(
        lambda seeds: tf.map_fn(
            lambda seed: sampling.train_frame_indices(
                count, t, r, seed, policy=policy
            ),
            seeds,
            fn_output_signature=tf.int32,
        )
    )
    return fn(seeds).numpy()


def test_caffe2_train_window_bounds_and_spacing():
    windows = _train_many(300, 8, 8, 3000)
    assert np.all(np.diff(windows, axis=1) == 8)
    starts = set(windows[:, 0].tolist())
    # Start ~ U{0, ..., 300 - 64}: both ends are reached, nothing beyond.
    assert min(starts) == 0
    assert max(starts) == 236
    assert len(starts) > 200


def test_caffe2_train_window_short_video_wraps():
    windows = _train_many(20, 8, 8, 50)
    assert windows.tolist() == [[0, 8, 16, 4, 12, 0, 8, 16]] * 50
    # F == T * r exactly: the only start is 0.
    assert _train(64, 8, 8, [5, 5]).tolist() == list(range(0, 64, 8))


def test_pyslowfast_train_window():
    windows = _train_many(300, 8, 8, 500, "pyslowfast")
    assert windows[:, 0].min() >= 0
    assert windows[:, 0].max() <= 236
    assert set(np.diff(windows, axis=1).ravel().tolist()) <= {8, 9, 10}
    assert _train(20, 8, 8, [0, 0], "pyslowfast").tolist() == [
        0,
        9,
        18,
        19,
        19,
        19,
        19,
        19,
    ]


def test_train_sampling_is_deterministic_given_a_seed():
    a = _train(1000, 32, 2, [7, 8])
    b = _train(1000, 32, 2, [7, 8])
    c = _train(1000, 32, 2, [9, 8])
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


def test_graph_mode_with_tensor_count():
    fn = tf.function(
        lambda n: sampling.test_frame_indices(n, 4, 2, 2),
        input_signature=[tf.TensorSpec([], tf.int64)],
    )
    assert fn(tf.constant(10, tf.int64)).numpy().tolist() == [
        [0, 2, 4, 6],
        [5, 7, 9, 1],
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_frames": 0, "sampling_rate": 1, "policy": "caffe2"},
        {"num_frames": 8, "sampling_rate": 0, "policy": "caffe2"},
        {"num_frames": 8, "sampling_rate": 1, "policy": "mmaction"},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(
        ValueError, match="num_frames|sampling_rate|temporal_sampling"
    ):
        sampling.train_frame_indices(
            10,
            kwargs["num_frames"],
            kwargs["sampling_rate"],
            [0, 0],
            policy=kwargs["policy"],
        )
