"""Decoding a video file to RGB frames with PyAV (`decode_video`).

This module never imports TensorFlow. Which frames are decoded is
`frame_selection`'s rule, shared with preparation (`video_jpeg`), so the
i-th frame here is the i-th frame of a record of the same video.
"""

import dataclasses

import numpy as np

from nonlocal_tf.data import frame_selection


@dataclasses.dataclass
class DecodedVideo:
    """RGB frames decoded from a video file.

    Attributes:
        frames: uint8 array (N, H, W, 3), the kept frames in index order.
        indices: int array (N,), the frame index of each kept frame.
        num_frames: number of frames in the selection (kept or not).
        fps: frame rate of the selection.
    """

    frames: np.ndarray
    indices: np.ndarray
    num_frames: int
    fps: float


def scaled_size(height, width, short_side):
    """Frame size with the short side set to `short_side`, aspect kept.

    The long side is `floor(long * short_side / short)`, as Caffe2 and
    PySlowFast compute it. `short_side` of None or 0 keeps the size.

    Example:
        >>> scaled_size(272, 640, 320)
        (320, 752)
    """
    if not short_side:
        return int(height), int(width)
    if height <= width:
        return int(short_side), max(1, int(width) * short_side // int(height))
    return max(1, int(height) * short_side // int(width)), int(short_side)


def decode_video(
    path,
    *,
    short_side=None,
    start_time=None,
    end_time=None,
    fps=None,
    indices=None,
    interpolation="BILINEAR",
):
    """Decodes a video file to RGB frames.

    Args:
        path: a local video file.
        short_side: resize so the short side is this many pixels (aspect
            kept, see `scaled_size`); None keeps the size.
        start_time: optional start of the time range, seconds.
        end_time: optional end of the time range (exclusive), seconds.
        fps: optional target frame rate.
        indices: optional frame indices to keep; the others are decoded but
            not converted. Indices past the end are ignored.
        interpolation: PyAV/swscale interpolation name.

    Returns:
        A `DecodedVideo`.

    Raises:
        VideoDecodeError: the file cannot be used (see `REASONS`).

    Example:
        >>> video = decode_video("clip.mp4", short_side=320)  # doctest: +SKIP
        >>> video.frames.shape  # doctest: +SKIP
        (250, 320, 752, 3)
    """
    keep = None if indices is None else {int(i) for i in indices}
    frames, kept = [], []
    count = 0
    last = None
    for frame in frame_selection.selected_frames(
        path, start_time, end_time, fps
    ):
        if keep is None or count in keep:
            if last is not None and last[0] is frame:
                array = last[1]
            else:
                height, width = scaled_size(
                    frame.height, frame.width, short_side
                )
                array = frame.reformat(
                    width=width,
                    height=height,
                    format="rgb24",
                    interpolation=interpolation,
                ).to_ndarray()
                last = (frame, array)
            frames.append(array)
            kept.append(count)
        count += 1
    if frames:
        stacked = np.stack(frames)
    else:
        stacked = np.zeros((0, 0, 0, 3), np.uint8)
    return DecodedVideo(
        frames=stacked,
        indices=np.asarray(kept, np.int64),
        num_frames=count,
        fps=frame_selection.selection_fps(path, fps),
    )
