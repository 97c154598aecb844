"""Test views straight from a video file (PyAV), without records.

For inference on a few videos (`scripts/predict.py`): the same frames,
temporal sampling and spatial transforms as `build_dataset(mode="test")` on
records prepared with the same `short_side` / `fps` / time range, except for
the JPEG round trip of the records.
"""

import numpy as np
import tensorflow as tf

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import frame_selection
from nonlocal_tf.data import sampling
from nonlocal_tf.data import transforms
from nonlocal_tf.data import video_errors
from nonlocal_tf.data import video_io
from nonlocal_tf.models import preprocessing


def read_video_views(
    path,
    clip_spec=None,
    *,
    short_side=320,
    fps=None,
    start_time=None,
    end_time=None,
):
    """All test views of one video file, as `build_dataset` gives them.

    The video is decoded twice: once to count its frames, once to convert
    only the frames the clips use.

    Args:
        path: a local video file.
        clip_spec: the model's `ClipSpec` (frames, rate, sampling, test crop
            S, K clips x 1 or 3 crops, normalisation); default `ClipSpec()`.
        short_side: the preparation short side the records would have had
            (frames are first resized to it, as `prepare_dataset` does);
            None keeps the video's size.
        fps: target frame rate, as in preparation; None keeps the source's.
        start_time: optional time range start, seconds.
        end_time: optional time range end (exclusive), seconds.

    Returns:
        float32 tensor (K * num_test_crops, T, S, S, 3), normalised; view
        `k * num_test_crops + c` is clip k, crop c.

    Raises:
        video_errors.VideoDecodeError: the file cannot be decoded; its `reason`
            and message say why.

    Example:
        >>> views = read_video_views("clip.mp4",
        ...                          model.clip_spec)  # doctest: +SKIP
        >>> views.shape  # doctest: +SKIP
        TensorShape([30, 8, 256, 256, 3])
    """
    spec = ClipSpec() if clip_spec is None else ClipSpec.from_dict(clip_spec)
    selection = {"start_time": start_time, "end_time": end_time, "fps": fps}
    count = frame_selection.count_frames(path, **selection)
    indices = sampling.test_frame_indices(
        count,
        spec.num_frames,
        spec.sampling_rate,
        spec.num_test_clips,
        policy=spec.temporal_sampling,
    ).numpy()
    distinct, positions = np.unique(indices.reshape(-1), return_inverse=True)
    video = video_io.decode_video(
        path, short_side=short_side, indices=distinct, **selection
    )
    if video.num_frames != count or not np.array_equal(video.indices, distinct):
        raise video_errors.VideoDecodeError(
            path,
            video_errors.DECODE_ERROR,
            f"decoding gave {video.num_frames} frames, counting gave {count}",
        )
    views = transforms.test_views(
        tf.constant(video.frames),
        tf.constant(positions.reshape(-1), tf.int32),
        num_clips=spec.num_test_clips,
        num_frames=spec.num_frames,
        crop_size=spec.test_crop_size,
        num_crops=spec.num_test_crops,
    )
    return preprocessing.normalize(views, spec.mean, spec.std)
