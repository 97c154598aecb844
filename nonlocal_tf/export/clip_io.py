"""Client-side clips from video files: frame sampling and JPEG encoding.

Decoding is `nonlocal_tf.data.video_io`'s (PyAV, the same frame selection as
data preparation; no TensorFlow), so the REST client stays free of
TensorFlow and Keras. The client neither resizes nor crops: it sends the
sampled frames at the video's own size, as JPEG, to `classify_frames`,
whose graph scales, rounds and crops them with the one implementation of
the test transform (`nonlocal_tf.models.preprocessing`). Kept small on
purpose: `num_frames` frames evenly over the whole video (one clip, one
view; not the test pipeline's K clips at the spec's sampling rate).
Multi-view prediction is `scripts/predict.py`'s job.
"""

import fractions

import numpy as np

from nonlocal_tf.data import frame_selection
from nonlocal_tf.data import video_container
from nonlocal_tf.data import video_errors
from nonlocal_tf.data import video_io


def evenly_spaced_indices(total, num_frames):
    """`num_frames` indices spread evenly over `range(total)`, ends included.

    Example:

    >>> evenly_spaced_indices(10, 4).tolist()
    [0, 3, 6, 9]
    """
    if total < 1:
        raise ValueError(f"Cannot sample frames from {total} frames.")
    return np.round(np.linspace(0, total - 1, num_frames)).astype(np.int64)


def read_video_clip(path, num_frames):
    """`num_frames` RGB frames sampled evenly over a video file, full size.

    The video is decoded twice by `video_io` (first to count its frames,
    which containers often misreport, then to convert only the chosen
    ones), so memory stays at `num_frames` frames whatever its length.

    Args:
        path: a video file PyAV (FFmpeg) can open.
        num_frames: how many frames to return (repeats when the video is
            shorter).

    Returns:
        A uint8 array (num_frames, H, W, 3).

    Raises:
        nonlocal_tf.data.VideoDecodeError: the file cannot be decoded (its
            message says why: missing, empty, not a video, truncated, ...).

    Example:

    ```python
    frames = read_video_clip("video.mp4", 8)  # (8, H, W, 3) uint8
    ```
    """
    count = frame_selection.count_frames(path)
    indices = evenly_spaced_indices(count, num_frames)
    distinct, positions = np.unique(indices, return_inverse=True)
    video = video_io.decode_video(path, indices=distinct)
    if not np.array_equal(video.indices, distinct):
        raise video_errors.VideoDecodeError(
            path,
            video_errors.DECODE_ERROR,
            f"decoding kept frames {video.indices.tolist()}, counting "
            f"promised {distinct.tolist()}",
        )
    return video.frames[positions.reshape(-1)]


def encode_jpeg(frames, quality=2):
    """Encodes RGB frames as JPEG with FFmpeg's MJPEG encoder (4:4:4).

    Args:
        frames: uint8 array (T, H, W, 3).
        quality: MJPEG quantiser scale, 1 (best) to 31.

    Returns:
        A list of T `bytes`, one JPEG each.

    Example:

    ```python
    jpegs = encode_jpeg(read_video_clip("video.mp4", 8))
    ```
    """
    av = video_container.av  # None without PyAV
    if av is None:
        raise ImportError(
            "Encoding JPEG frames needs PyAV: pip install 'nonlocal-tf[video]'"
        )
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            "Frames to encode must be uint8 (T, H, W, 3). Received dtype "
            f"{frames.dtype} with shape {frames.shape}."
        )
    height, width = frames.shape[1:3]
    encoded = []
    for frame in frames:
        context = av.CodecContext.create("mjpeg", "w")
        context.width = width
        context.height = height
        context.pix_fmt = "yuvj444p"
        context.time_base = fractions.Fraction(1, 25)
        context.options = {"qmin": str(quality), "qmax": str(quality)}
        picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
        packets = context.encode(picture.reformat(format="yuvj444p"))
        packets += context.encode(None)
        encoded.append(b"".join(bytes(packet) for packet in packets))
    return encoded
