r"""Generated long test videos for `long_video_memory`, cached by settings.

FFmpeg's `testsrc2` pattern encoded with libx264, through the FFmpeg that
PyAV bundles (no system `ffmpeg` needed); the same video as

    ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=30 -t 600 \
        -c:v libx264 -preset ultrafast -crf 28 -pix_fmt yuv420p video.mp4
"""

import os
import time


def video_name(seconds, width, height, rate, preset, crf):
    """The cache file name of a generated video (its settings)."""
    return (
        f"testsrc2_{width}x{height}_{rate}fps_{seconds}s_"
        f"x264-{preset}-crf{crf}.mp4"
    )


def generate_video(path, *, seconds, width, height, rate, preset, crf):
    """Writes `testsrc2` (FFmpeg's test pattern) as H.264 to `path`.

    Written beside `path` and renamed into place, so a cached file is a
    whole video.

    Returns:
        The number of frames written.
    """
    import av

    temp = f"{path}.partial-{os.getpid()}.mp4"
    graph = av.filter.Graph()
    source = graph.add(
        "testsrc2", f"size={width}x{height}:rate={rate}:duration={seconds}"
    )
    convert = graph.add("format", "pix_fmts=yuv420p")
    sink = graph.add("buffersink")
    source.link_to(convert)
    convert.link_to(sink)
    graph.configure()
    frames = 0
    try:
        with av.open(temp, "w") as container:
            stream = container.add_stream(
                "libx264",
                rate=rate,
                options={"preset": preset, "crf": str(crf)},
            )
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            while True:
                try:
                    frame = sink.pull()
                except av.error.EOFError:
                    break
                frames += 1
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return frames


def count_packets(path):
    """Frames in a video file, counted by demuxing (no decoding)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        return sum(1 for p in container.demux(stream) if p.size)


def cached_video(video_dir, seconds, settings):
    """The generated video of `seconds`, made now unless cached.

    Args:
        video_dir: the cache folder.
        seconds: the length.
        settings: {"width", "height", "rate", "preset", "crf"}.

    Returns:
        (path, seconds spent generating it, 0 when cached).
    """
    path = os.path.join(video_dir, video_name(seconds, **settings))
    if os.path.exists(path):
        return path, 0.0
    os.makedirs(video_dir, exist_ok=True)
    print(f"generating {path} ...", flush=True)
    started = time.perf_counter()
    generate_video(path, seconds=seconds, **settings)
    return path, time.perf_counter() - started
