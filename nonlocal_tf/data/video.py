"""Video files with PyAV: open, select frames, decode, JPEG-encode.

This module never imports TensorFlow: the preparation worker processes import
only PyAV and NumPy through it. `av` is None when PyAV is not installed.

- Why a file cannot be used: `VideoDecodeError`, whose `reason` is one of
  `REASONS`; preparation reports its skipped videos by these reasons.
- Opening: `open_video`, and what the container says (`probe_video`).
- Which frames of a file a record holds (`selected_frames`): time range and
  frame rate, shared by preparation (`encode_video_jpeg`), frame counting
  (`count_frames`) and the direct reader (`decode_video`), so the i-th frame
  of a record is the i-th frame those functions see:

  1. Frames are decoded in presentation order. Their time is measured from
     the stream's start time, in seconds.
  2. A time range keeps the frames with `start_time <= t < end_time`.
  3. A target `fps` resamples the kept frames on the grid
     `t_j = start + j / fps` (`start` is `start_time`, or 0): output frame
     `j` is the last source frame whose time is `<= t_j`, or the first kept
     frame for ticks before it. Ticks run up to the end of the range, which
     is `end_time` or the last frame's time plus one source frame duration.
- Decoding to RGB frames: `decode_video`.
- JPEG-encoding the selected frames, as records hold them
  (`encode_video_jpeg`): resized with swscale and encoded by FFmpeg's MJPEG
  encoder, all inside PyAV. Frames are decoded, resized and encoded one at
  a time (the decoder holds no more than its own few reference frames);
  the JPEG bytes go to a list, or to any `frames` sink with `append` (the
  preparation's `FrameSpool`, a file), so memory stays flat in the video's
  length.
"""

import dataclasses
import fractions
import os

import numpy as np

try:
    import av
except ImportError:  # pragma: no cover - exercised only without the extra
    av = None

# Why a video file cannot be used.

MISSING = "missing"
EMPTY_FILE = "empty_file"
NOT_A_VIDEO = "not_a_video"
TRUNCATED = "truncated"
ZERO_FRAMES = "zero_frames"
DECODE_ERROR = "decode_error"
REASONS = (
    MISSING,
    EMPTY_FILE,
    NOT_A_VIDEO,
    TRUNCATED,
    ZERO_FRAMES,
    DECODE_ERROR,
)


class VideoDecodeError(Exception):
    """A video file that cannot be decoded.

    Attributes:
        path: the file.
        reason: one of `REASONS` (`"missing"`, `"empty_file"`,
            `"not_a_video"`, `"truncated"`, `"zero_frames"`,
            `"decode_error"`).
        detail: a human-readable explanation.
    """

    def __init__(self, path, reason, detail):
        super().__init__(f"{path}: {reason}: {detail}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail

    def __reduce__(self):
        return (type(self), (self.path, self.reason, self.detail))


# Opening a file, and what its container says.

# First bytes of common containers: an unreadable file that starts like one of
# these is a damaged video rather than something else named .mp4.
_SIGNATURES = (
    (4, b"ftyp", "MP4/MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"RIFF", "AVI"),
    (0, b"FLV", "FLV"),
    (0, b"OggS", "Ogg"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
    (0, b"\x30\x26\xb2\x75", "ASF/WMV"),
)


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What the container says about its first video stream."""

    path: str
    width: int
    height: int
    fps: float
    declared_frames: int
    duration: float | None
    codec: str


def require_av():
    """Raises `ImportError` with the install line when PyAV is missing."""
    if av is None:
        raise ImportError(
            "Decoding video files needs PyAV: pip install 'nonlocal-tf[video]'"
        )


def _signature(path):
    with open(path, "rb") as f:
        head = f.read(16)
    for offset, magic, name in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def open_video(path):
    """Opens `path` with PyAV; returns (container, video stream).

    Raises:
        VideoDecodeError: the file is missing, empty, damaged or not a video.
    """
    require_av()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoDecodeError(path, MISSING, "no such file")
    if os.path.isdir(path):
        raise VideoDecodeError(path, NOT_A_VIDEO, "is a directory")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, EMPTY_FILE, "the file is empty (0 bytes)")
    try:
        container = av.open(path, metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, EOFError) as e:
        kind = _signature(path)
        if kind:
            raise VideoDecodeError(
                path,
                TRUNCATED,
                f"starts like a {kind} file but FFmpeg cannot open it ({e}); "
                "it is probably truncated or damaged",
            ) from None
        raise VideoDecodeError(
            path,
            NOT_A_VIDEO,
            f"FFmpeg does not read it as media ({e})",
        ) from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise VideoDecodeError(
            path,
            NOT_A_VIDEO,
            f"has no video stream (streams: {', '.join(kinds)})",
        )
    return container, container.streams.video[0]


def stream_rate(stream):
    """The stream's frame rate as a `Fraction`, or None when unknown."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return fractions.Fraction(rate) if rate else None


def probe_video(path):
    """Reads the container's description of the first video stream.

    Args:
        path: a local video file.

    Returns:
        A `VideoInfo`. `declared_frames` is what the container says (0 when it
        does not say); `count_frames` counts by decoding.

    Raises:
        VideoDecodeError: the file is missing, empty or not a video.

    Example:
        >>> info = probe_video("clip.mp4")  # doctest: +SKIP
        >>> info.fps, info.declared_frames  # doctest: +SKIP
        (25.0, 250)
    """
    container, stream = open_video(path)
    try:
        rate = stream_rate(stream)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        return VideoInfo(
            path=os.fspath(path),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=float(rate) if rate else 0.0,
            declared_frames=int(stream.frames or 0),
            duration=duration,
            codec=stream.codec_context.name,
        )
    finally:
        container.close()


# Which frames: time range and frame rate (module docstring, steps 1-3).

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
    except av.error.FFmpegError:
        container.seek(0)
        return False


def _timed_frames(container, stream, path, start, end):
    """Yields (time, frame) for the source frames in [start, end)."""
    time_base = stream.time_base
    origin = fractions.Fraction(0)
    if stream.start_time is not None and time_base is not None:
        origin = stream.start_time * time_base
    rate = stream_rate(stream)
    seeked = _seek(container, stream, origin, start)
    decoded = 0
    try:
        for frame in container.decode(stream):
            if frame.pts is not None and time_base is not None:
                t = frame.pts * time_base - origin
            elif rate and not seeked:
                t = fractions.Fraction(decoded) / rate
            else:
                raise VideoDecodeError(
                    path,
                    DECODE_ERROR,
                    "frames have no timestamps, so a time range or frame "
                    "rate cannot be applied",
                )
            decoded += 1
            if t < start - _TIME_EPS:
                continue
            if end is not None and t >= end - _TIME_EPS:
                return
            yield t, frame
    except av.error.FFmpegError as e:
        raise VideoDecodeError(
            path,
            DECODE_ERROR,
            f"FFmpeg failed after {decoded} frames ({e})",
        ) from None
    if not seeked and end is None and start == 0:
        declared = int(stream.frames or 0)
        if declared and decoded < declared - _TRUNCATION_SLACK:
            raise VideoDecodeError(
                path,
                TRUNCATED,
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
    container, stream = open_video(path)
    start = fractions.Fraction(start_time or 0)
    end = None if end_time is None else fractions.Fraction(end_time)
    rate = stream_rate(stream)
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
            raise VideoDecodeError(
                path,
                ZERO_FRAMES,
                f"no frames in the time range [{start_time}, {end_time}) s",
            )
        raise VideoDecodeError(path, ZERO_FRAMES, "the video has no frames")


def selection_fps(path, fps):
    """The frame rate of a selection: `fps`, else the stream's (0 unknown)."""
    if fps is not None:
        return float(fps)
    container, stream = open_video(path)
    try:
        rate = stream_rate(stream)
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


# Decoding to RGB frames.


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
    for frame in selected_frames(path, start_time, end_time, fps):
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
        fps=selection_fps(path, fps),
    )


# JPEG-encoding, as records hold the frames.


@dataclasses.dataclass
class EncodedVideo:
    """JPEG-encoded frames of one video, as written into a record.

    Attributes:
        frames: the JPEG bytes of each frame: a list, or the `frames` sink
            given to `encode_video_jpeg`.
        fps: frame rate of the frames.
        height: frame height.
        width: frame width.
        source_frames: distinct source frames encoded (fewer than the
            frames when a target `fps` repeats some).
    """

    frames: list
    fps: float
    height: int
    width: int
    source_frames: int

    @property
    def num_frames(self):
        return len(self.frames)

    @property
    def duration(self):
        """Seconds of video covered by the frames."""
        return len(self.frames) / self.fps if self.fps else 0.0


def _jpeg_encoder(height, width, jpeg_qscale):
    """An open MJPEG encoder for frames of `height` x `width`."""
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width = width
    encoder.height = height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = fractions.Fraction(1, 1)
    encoder.qmin = int(jpeg_qscale)
    encoder.qmax = int(jpeg_qscale)
    encoder.open()
    return encoder


def _encode_frame(encoder, frame, pts, interpolation, path, index):
    """One frame's JPEG bytes; `index` is its place in the output."""
    image = frame.reformat(
        width=encoder.width,
        height=encoder.height,
        format="yuvj420p",
        interpolation=interpolation,
    )
    # Each JPEG is one packet; the encoder wants increasing timestamps.
    image.pts = pts
    image.time_base = encoder.time_base
    packets = encoder.encode(image)
    if len(packets) != 1:
        raise VideoDecodeError(
            path,
            DECODE_ERROR,
            f"the JPEG encoder returned {len(packets)} packets for frame "
            f"{index}",
        )
    return bytes(packets[0])


def encode_video_jpeg(
    path,
    *,
    short_side=320,
    start_time=None,
    end_time=None,
    fps=None,
    jpeg_qscale=2,
    interpolation="BILINEAR",
    frames=None,
):
    """Decodes a video and JPEG-encodes every selected frame.

    Frames are resized with swscale and encoded by FFmpeg's MJPEG encoder
    (baseline JPEG, full-range YCbCr 4:2:0), all inside PyAV.

    Args:
        path: a local video file.
        short_side: resize so the short side is this many pixels (aspect
            kept, see `scaled_size`); None or 0 keeps the size.
        start_time: optional start of the time range, seconds.
        end_time: optional end of the time range (exclusive), seconds.
        fps: optional target frame rate; None keeps the source rate.
        jpeg_qscale: JPEG quantiser scale, 2 (best) to 31. 2 is about libjpeg
            quality 90 in file size.
        interpolation: PyAV/swscale interpolation name.
        frames: where the JPEG bytes of each frame go, in order: anything
            with `append` and `len` (e.g. a file-backed
            `prepare.spool.FrameSpool`); default a new list.

    Returns:
        An `EncodedVideo` whose `frames` is `frames`.

    Raises:
        VideoDecodeError: the file cannot be used (see `REASONS`).

    Example:
        >>> video = encode_video_jpeg(
        ...     "clip.mp4", short_side=320)  # doctest: +SKIP
        >>> video.num_frames, video.height  # doctest: +SKIP
        (250, 320)
    """
    require_av()
    if not 2 <= int(jpeg_qscale) <= 31:
        raise ValueError(f"jpeg_qscale must be in [2, 31], got {jpeg_qscale}")
    encoder = None
    encoded = [] if frames is None else frames
    last = None
    source_frames = 0
    height = width = 0
    for frame in selected_frames(path, start_time, end_time, fps):
        if last is not None and last[0] is frame:
            encoded.append(last[1])
            continue
        source_frames += 1
        if encoder is None:
            height, width = scaled_size(frame.height, frame.width, short_side)
            encoder = _jpeg_encoder(height, width, jpeg_qscale)
        data = _encode_frame(
            encoder, frame, source_frames, interpolation, path, len(encoded)
        )
        encoded.append(data)
        last = (frame, data)
    return EncodedVideo(
        frames=encoded,
        fps=selection_fps(path, fps),
        height=height,
        width=width,
        source_frames=source_frames,
    )
