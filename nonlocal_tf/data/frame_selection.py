"""Which frames of a video file a record holds: time range and frame rate.

Frame selection is shared by preparation (`video_jpeg.encode_video_jpeg`),
frame counting (`count_frames`) and the direct reader
(`video_io.decode_video`), so the i-th frame of a record is the i-th frame
those functions see:

1. Frames are decoded in presentation order. Their time is measured from the
   stream's start time, in seconds.
2. A time range keeps the frames with `start_time <= t < end_time`.
3. A target `fps` resamples the kept frames on the grid
   `t_j = start + j / fps` (`start` is `start_time`, or 0): output frame `j`
   is the last source frame whose time is `<= t_j`, or the first kept frame
   for ticks before it. Ticks run up to the end of the range, which is
   `end_time` or the last frame's time plus one source frame duration.
"""

import fractions

from nonlocal_tf.data import video_container
from nonlocal_tf.data import video_errors

# Fewer decoded frames than the container declares, beyond this slack, means
# the file was cut short (edit lists may legitimately drop a frame or two).
_TRUNCATION_SLACK = 2
_TIME_EPS = fractions.Fraction(1, 1_000_000)


def _check_range(path, start_time, end_time, fps):
    if start_time is not None and start_time < 0:
        raise ValueError(f"{path}: start_time must be >= 0, got {start_time}")
    if (
        start_time is not None
        and end_time is not None
        and end_time <= start_time
    ):
        raise ValueError(
            f"{path}: end_time ({end_time}) must be after start_time "
            f"({start_time})"
        )
    if fps is not None and fps <= 0:
        raise ValueError(f"{path}: fps must be positive, got {fps}")


def _seek(container, stream, origin, start):
    """Seeks to the keyframe before `start`; returns whether it did."""
    if start <= 0 or stream.time_base is None:
        return False
    try:
        container.seek(
            int((origin + start) / stream.time_base),
            stream=stream,
            backward=True,
            any_frame=False,
        )
        return True
    except video_container.av.error.FFmpegError:
        container.seek(0)
        return False


def _timed_frames(container, stream, path, start, end):
    """Yields (time, frame) for the source frames in [start, end)."""
    time_base = stream.time_base
    origin = fractions.Fraction(0)
    if stream.start_time is not None and time_base is not None:
        origin = stream.start_time * time_base
    rate = video_container.stream_rate(stream)
    seeked = _seek(container, stream, origin, start)
    decoded = 0
    try:
        for frame in container.decode(stream):
            if frame.pts is not None and time_base is not None:
                t = frame.pts * time_base - origin
            elif rate and not seeked:
                t = fractions.Fraction(decoded) / rate
            else:
                raise video_errors.VideoDecodeError(
                    path,
                    video_errors.DECODE_ERROR,
                    "frames have no timestamps, so a time range or frame "
                    "rate cannot be applied",
                )
            decoded += 1
            if t < start - _TIME_EPS:
                continue
            if end is not None and t >= end - _TIME_EPS:
                return
            yield t, frame
    except video_container.av.error.FFmpegError as e:
        raise video_errors.VideoDecodeError(
            path,
            video_errors.DECODE_ERROR,
            f"FFmpeg failed after {decoded} frames ({e})",
        ) from None
    if not seeked and end is None and start == 0:
        declared = int(stream.frames or 0)
        if declared and decoded < declared - _TRUNCATION_SLACK:
            raise video_errors.VideoDecodeError(
                path,
                video_errors.TRUNCATED,
                f"decoded {decoded} of the {declared} frames the container "
                "declares",
            )


def _resampled(timed, start, end, fps, rate):
    """Yields the frames of `timed` on the `fps` grid (step 3)."""
    step = 1 / fractions.Fraction(fps)
    tick = start
    shown = None
    last_time = None
    for t, frame in timed:
        last_time = t
        # Ticks before this frame show the previous frame (or this one, for
        # ticks before the first kept frame).
        while tick < t - _TIME_EPS:
            yield shown if shown is not None else frame
            tick += step
        shown = frame
    if shown is not None:
        range_end = end
        if range_end is None:
            range_end = last_time + (1 / rate if rate else _TIME_EPS)
        while tick < range_end - _TIME_EPS:
            yield shown
            tick += step


def selected_frames(path, start_time=None, end_time=None, fps=None):
    """Yields the selected PyAV frames (module docstring, steps 1-3).

    With a target `fps` a source frame may be yielded several times in a row
    (the same object); consumers reuse its conversion.

    Raises:
        VideoDecodeError: the file cannot be used (see `REASONS`), or the
            selection holds no frames.
    """
    _check_range(path, start_time, end_time, fps)
    container, stream = video_container.open_video(path)
    start = fractions.Fraction(start_time or 0)
    end = None if end_time is None else fractions.Fraction(end_time)
    rate = video_container.stream_rate(stream)
    count = 0
    try:
        timed = _timed_frames(container, stream, path, start, end)
        if fps is None:
            frames = (frame for _, frame in timed)
        else:
            frames = _resampled(timed, start, end, fps, rate)
        for frame in frames:
            count += 1
            yield frame
    finally:
        container.close()
    if count == 0:
        if start_time is not None or end_time is not None:
            raise video_errors.VideoDecodeError(
                path,
                video_errors.ZERO_FRAMES,
                f"no frames in the time range [{start_time}, {end_time}) s",
            )
        raise video_errors.VideoDecodeError(
            path, video_errors.ZERO_FRAMES, "the video has no frames"
        )


def selection_fps(path, fps):
    """The frame rate of a selection: `fps`, else the stream's (0 unknown)."""
    if fps is not None:
        return float(fps)
    container, stream = video_container.open_video(path)
    try:
        rate = video_container.stream_rate(stream)
        return float(rate) if rate else 0.0
    finally:
        container.close()


def count_frames(path, *, start_time=None, end_time=None, fps=None):
    """Counts the frames a record of this video holds, by decoding.

    Args:
        path: a local video file.
        start_time: optional start of the time range, seconds.
        end_time: optional end of the time range (exclusive), seconds.
        fps: optional target frame rate.

    Returns:
        The number of selected frames.

    Raises:
        VideoDecodeError: the file cannot be used (see `REASONS`).

    Example:
        >>> count_frames("clip.mp4")  # doctest: +SKIP
        250
    """
    return sum(1 for _ in selected_frames(path, start_time, end_time, fps))
