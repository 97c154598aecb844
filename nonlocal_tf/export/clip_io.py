"""Client-side clip preparation with PyAV: read, sample, resize, JPEG-encode.

Kept small on purpose: the client samples `num_frames` frames evenly over
the whole video (one clip, one view). Multi-view prediction is
`scripts/predict.py`'s job.
"""

import fractions

import numpy as np


def _require_av():
    try:
        import av
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "Reading videos and encoding JPEG frames needs PyAV: "
            "pip install 'nonlocal-tf[video]'"
        ) from error
    return av


def evenly_spaced_indices(total, num_frames):
    """`num_frames` indices spread evenly over `range(total)`, ends included.

    Example:

    >>> evenly_spaced_indices(10, 4).tolist()
    [0, 3, 6, 9]
    """
    if total < 1:
        raise ValueError(f"Cannot sample frames from {total} frames.")
    return np.round(np.linspace(0, total - 1, num_frames)).astype(np.int64)


def read_video_frames(path, num_frames):
    """Decodes `num_frames` RGB frames sampled evenly over a video file.

    The video is decoded twice (first to count its frames, which containers
    often misreport, then to keep the chosen ones), so memory stays at
    `num_frames` frames whatever the video's length.

    Args:
        path: a video file PyAV (FFmpeg) can open.
        num_frames: how many frames to return.

    Returns:
        A uint8 array (num_frames, H, W, 3) at the video's resolution.

    Raises:
        ValueError: the file has no video stream or no decodable frame.

    Example:

    ```python
    frames = read_video_frames("video.mp4", num_frames=8)
    ```
    """
    av = _require_av()

    def decoded(container):
        if not container.streams.video:
            raise ValueError(f"{path}: no video stream.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return container.decode(stream)

    with av.open(str(path)) as container:
        total = sum(1 for _ in decoded(container))
    if total == 0:
        raise ValueError(f"{path}: no decodable video frame.")
    indices = evenly_spaced_indices(total, num_frames)
    wanted = {int(index) for index in indices}
    kept = {}
    with av.open(str(path)) as container:
        for position, frame in enumerate(decoded(container)):
            if position in wanted:
                kept[position] = frame.to_ndarray(format="rgb24")
    return np.stack([kept[int(index)] for index in indices])


def resize_and_center_crop(frames, crop_size):
    """Short side to `crop_size` (bilinear, FFmpeg swscale), centre crop.

    Frames whose short side already equals `crop_size` are only cropped.

    Args:
        frames: uint8 array (T, H, W, 3).
        crop_size: side of the square output frames.

    Returns:
        A uint8 array (T, crop_size, crop_size, 3).
    """
    av = _require_av()
    frames = np.asarray(frames, dtype=np.uint8)
    height, width = frames.shape[1:3]
    scale = crop_size / min(height, width)
    new_height = max(crop_size, round(height * scale))
    new_width = max(crop_size, round(width * scale))
    if (new_height, new_width) != (height, width):
        frames = np.stack(
            [
                av.VideoFrame.from_ndarray(frame, format="rgb24")
                .reformat(
                    width=new_width, height=new_height, interpolation="BILINEAR"
                )
                .to_ndarray(format="rgb24")
                for frame in frames
            ]
        )
    top = (new_height - crop_size) // 2
    left = (new_width - crop_size) // 2
    return frames[:, top : top + crop_size, left : left + crop_size]


def encode_jpeg(frames, quality=2):
    """Encodes RGB frames as JPEG with FFmpeg's MJPEG encoder (4:4:4).

    Args:
        frames: uint8 array (T, H, W, 3).
        quality: MJPEG quantiser scale, 1 (best) to 31.

    Returns:
        A list of T `bytes`, one JPEG each.

    Example:

    ```python
    jpegs = encode_jpeg(read_video_frames("video.mp4", 8))
    ```
    """
    av = _require_av()
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
