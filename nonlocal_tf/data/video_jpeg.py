"""JPEG-encoding the selected frames of a video file, as records hold them.

Frames are chosen by `frame_selection` (the rule shared with `decode_video`),
resized with swscale and encoded by FFmpeg's MJPEG encoder, all inside PyAV;
this module never imports TensorFlow (the preparation workers run it).
"""

import dataclasses
import fractions

from nonlocal_tf.data import frame_selection
from nonlocal_tf.data import video_container
from nonlocal_tf.data import video_errors
from nonlocal_tf.data import video_io


@dataclasses.dataclass
class EncodedVideo:
    """JPEG-encoded frames of one video, as written into a record."""

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
    encoder = video_container.av.CodecContext.create("mjpeg", "w")
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
        raise video_errors.VideoDecodeError(
            path,
            video_errors.DECODE_ERROR,
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
):
    """Decodes a video and JPEG-encodes every selected frame.

    Frames are resized with swscale and encoded by FFmpeg's MJPEG encoder
    (baseline JPEG, full-range YCbCr 4:2:0), all inside PyAV.

    Args:
        path: a local video file.
        short_side: resize so the short side is this many pixels (aspect
            kept, see `video_io.scaled_size`); None or 0 keeps the size.
        start_time: optional start of the time range, seconds.
        end_time: optional end of the time range (exclusive), seconds.
        fps: optional target frame rate; None keeps the source rate.
        jpeg_qscale: JPEG quantiser scale, 2 (best) to 31. 2 is about libjpeg
            quality 90 in file size.
        interpolation: PyAV/swscale interpolation name.

    Returns:
        An `EncodedVideo`.

    Raises:
        VideoDecodeError: the file cannot be used (see `REASONS`).

    Example:
        >>> video = encode_video_jpeg(
        ...     "clip.mp4", short_side=320)  # doctest: +SKIP
        >>> video.num_frames, video.height  # doctest: +SKIP
        (250, 320)
    """
    video_container.require_av()
    if not 2 <= int(jpeg_qscale) <= 31:
        raise ValueError(f"jpeg_qscale must be in [2, 31], got {jpeg_qscale}")
    encoder = None
    encoded = []
    last = None
    source_frames = 0
    height = width = 0
    for frame in frame_selection.selected_frames(
        path, start_time, end_time, fps
    ):
        if last is not None and last[0] is frame:
            encoded.append(last[1])
            continue
        source_frames += 1
        if encoder is None:
            height, width = video_io.scaled_size(
                frame.height, frame.width, short_side
            )
            encoder = _jpeg_encoder(height, width, jpeg_qscale)
        data = _encode_frame(
            encoder, frame, source_frames, interpolation, path, len(encoded)
        )
        encoded.append(data)
        last = (frame, data)
    return EncodedVideo(
        frames=encoded,
        fps=frame_selection.selection_fps(path, fps),
        height=height,
        width=width,
        source_frames=source_frames,
    )
