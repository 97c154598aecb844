"""Opening a video file with PyAV, and what its container says about it.

This module never imports TensorFlow: the preparation worker processes import
only PyAV and NumPy through it. `av` is None when PyAV is not installed.
"""

import dataclasses
import fractions
import os

from nonlocal_tf.data import video_errors

try:
    import av
except ImportError:  # pragma: no cover - exercised only without the extra
    av = None

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
        raise video_errors.VideoDecodeError(
            path, video_errors.MISSING, "no such file"
        )
    if os.path.isdir(path):
        raise video_errors.VideoDecodeError(
            path, video_errors.NOT_A_VIDEO, "is a directory"
        )
    if os.path.getsize(path) == 0:
        raise video_errors.VideoDecodeError(
            path, video_errors.EMPTY_FILE, "the file is empty (0 bytes)"
        )
    try:
        container = av.open(path, metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, EOFError) as e:
        kind = _signature(path)
        if kind:
            raise video_errors.VideoDecodeError(
                path,
                video_errors.TRUNCATED,
                f"starts like a {kind} file but FFmpeg cannot open it ({e}); "
                "it is probably truncated or damaged",
            ) from None
        raise video_errors.VideoDecodeError(
            path,
            video_errors.NOT_A_VIDEO,
            f"FFmpeg does not read it as media ({e})",
        ) from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise video_errors.VideoDecodeError(
            path,
            video_errors.NOT_A_VIDEO,
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
