"""Temporal sampling: which frame indices a clip uses (pure index maths).

A clip is `num_frames` (T) frames taken every `sampling_rate` (r) frames, so
it spans T x r frames of a video of F frames. Two conventions are offered.

`"caffe2"` (default): the official video-nonlocal-net code, which trained the
released weights (`caffe2_customized_ops/video/customized_video_io.cc`,
`DecodeClipFromVideoFileFlex` / `DecodeClipFromMemoryBufferFlex`):

- train: start `s ~ U{0, ..., max(F - T*r, 0)}`, frames `(s + i*r) mod F`;
- test clip k of K: start `floor(k * F / K)`, frames `(s_k + i*r) mod F`.

Videos shorter than the span wrap around to their first frames, and so do
late test clips of long videos (clip 9 of 10 starts at 0.9 F).

`"pyslowfast"`: PySlowFast `datasets/decoder.py` (`get_start_end_idx` +
`temporal_sampling`, all frames decoded, target fps = video fps):
`delta = max(F - T*r, 0)`; start `s ~ U[0, delta]` (train) or
`s_k = delta * k / K` (test); frames
`clamp(trunc(linspace(s, s + T*r - 1, T)), 0, F - 1)`. Short videos repeat
their last frame; the linspace step is `(T*r - 1) / (T - 1)`, not exactly r.
"""

import tensorflow as tf

from nonlocal_tf.clip_spec import CAFFE2
from nonlocal_tf.clip_spec import TEMPORAL_SAMPLING as POLICIES


def _check(num_frames, sampling_rate, policy):
    if int(num_frames) < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if int(sampling_rate) < 1:
        raise ValueError(f"sampling_rate must be >= 1, got {sampling_rate}")
    if policy not in POLICIES:
        raise ValueError(
            f"temporal_sampling must be one of {POLICIES}, got {policy!r}"
        )


def _linspace_clamped(start, num_video_frames, num_frames, sampling_rate):
    """PySlowFast `temporal_sampling` indices for float start(s) (..., 1)."""
    span = float(num_frames * sampling_rate - 1)
    if num_frames > 1:
        steps = tf.range(num_frames, dtype=tf.float64) * (
            span / (num_frames - 1)
        )
    else:
        steps = tf.zeros([1], tf.float64)
    index = tf.cast(tf.floor(start + steps), tf.int32)
    return tf.clip_by_value(index, 0, tf.cast(num_video_frames, tf.int32) - 1)


def train_frame_indices(
    num_video_frames, num_frames, sampling_rate, seed, *, policy=CAFFE2
):
    """Frame indices of one random training clip.

    Args:
        num_video_frames: F, scalar int tensor (> 0).
        num_frames: T, clip length.
        sampling_rate: r, step between clip frames.
        seed: shape (2,) int tensor for `tf.random.stateless_uniform`.
        policy: "caffe2" or "pyslowfast" (module docstring).

    Returns:
        int32 tensor (T,).

    Example:
        >>> train_frame_indices(300, 8, 8, [1, 2]).shape
        TensorShape([8])
    """
    _check(num_frames, sampling_rate, policy)
    count = tf.cast(num_video_frames, tf.int32)
    span = num_frames * sampling_rate
    if policy == CAFFE2:
        start = tf.random.stateless_uniform(
            [],
            seed,
            minval=0,
            maxval=tf.maximum(count - span, 0) + 1,
            dtype=tf.int32,
        )
        return (start + tf.range(num_frames) * sampling_rate) % count
    delta = tf.cast(tf.maximum(count - span, 0), tf.float64)
    start = tf.random.stateless_uniform([], seed, dtype=tf.float64) * delta
    return _linspace_clamped(start, count, num_frames, sampling_rate)


def test_frame_indices(
    num_video_frames, num_frames, sampling_rate, num_clips, *, policy=CAFFE2
):
    """Frame indices of the K evenly spaced test clips.

    Args:
        num_video_frames: F, scalar int tensor (> 0).
        num_frames: T, clip length.
        sampling_rate: r, step between clip frames.
        num_clips: K.
        policy: "caffe2" or "pyslowfast" (module docstring).

    Returns:
        int32 tensor (K, T); row k is clip k.

    Example:
        >>> test_frame_indices(100, 4, 2, 2).numpy().tolist()
        [[0, 2, 4, 6], [50, 52, 54, 56]]
    """
    _check(num_frames, sampling_rate, policy)
    if int(num_clips) < 1:
        raise ValueError(f"num_test_clips must be >= 1, got {num_clips}")
    count = tf.cast(num_video_frames, tf.int32)
    clips = tf.range(num_clips)
    if policy == CAFFE2:
        starts = tf.cast(
            tf.cast(clips, tf.int64) * tf.cast(count, tf.int64) // num_clips,
            tf.int32,
        )
        offsets = tf.range(num_frames) * sampling_rate
        return (starts[:, None] + offsets[None, :]) % count
    delta = tf.cast(
        tf.maximum(count - num_frames * sampling_rate, 0), tf.float64
    )
    starts = delta * tf.cast(clips, tf.float64) / num_clips
    return _linspace_clamped(starts[:, None], count, num_frames, sampling_rate)
