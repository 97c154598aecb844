"""Stage 3a: decode + JPEG-encode one video, in worker processes.

TensorFlow-free (PyAV and NumPy only, through `nonlocal_tf.data.video`), so
the spawned workers stay light. Both engines call `encode_video` with the
same arguments; the local engine runs it in a process pool, the Beam engine in
one child process per DoFn instance (`IsolatedEncoder`), so that a decoder
that crashes (FFmpeg on a hostile file) costs a skipped video, not the
pipeline.

Worker processes die with the process that started them: a watchdog thread
in each one exits as soon as its parent is gone (a `kill -9` of the parent
leaves no decoder running).

Given a `spool_dir` (the local engine), a worker writes the JPEG frames to a
`spool.FrameSpool` file there as it encodes them and sends back only that
file's name: neither process holds a whole video's frames.
"""

import concurrent.futures
import multiprocessing
import os
import sys
import threading
import time

from absl import logging

from nonlocal_tf.data import video
from nonlocal_tf.data.prepare import spool

# How often a worker checks that its parent is alive, seconds.
PARENT_POLL_SECONDS = 0.1
CRASH_DETAIL = "the decoding process died (FFmpeg crashed on this file)"


def encode_args(entry, settings):
    """(args, kwargs) of `video.encode_video_jpeg` for one entry.

    Args:
        entry: an `annotations.VideoEntry`.
        settings: a `plan.Settings`.
    """
    return (entry.path,), {
        "short_side": settings.short_side,
        "start_time": entry.start_time,
        "end_time": entry.end_time,
        "fps": settings.fps,
        "jpeg_qscale": settings.jpeg_qscale,
    }


def encode_file(path, *, spool_dir=None, **kwargs):
    """`video.encode_video_jpeg(path, **kwargs)`, frames spooled or listed.

    Args:
        path: the video file.
        spool_dir: a local folder: the frames go to a new
            `spool.FrameSpool` file there (closed; removed if encoding
            fails); None keeps them in a list.
        **kwargs: the other arguments of `video.encode_video_jpeg`.

    Returns:
        A `video.EncodedVideo`.

    Example:
        >>> encoded = encode_file(
        ...     "clip.mp4", spool_dir="/tmp")  # doctest: +SKIP
        >>> encoded.frames.path  # doctest: +SKIP
        '/tmp/tmpa1b2c3.frames'
    """
    if spool_dir is None:
        return video.encode_video_jpeg(path, **kwargs)
    frames = spool.FrameSpool.create(spool_dir)
    try:
        encoded = video.encode_video_jpeg(path, frames=frames, **kwargs)
    except BaseException:
        frames.discard()
        raise
    frames.close()
    return encoded


def encode_video(entry, settings, spool_dir=None):
    """Decodes and JPEG-encodes `entry`'s video in this process.

    Args:
        entry: an `annotations.VideoEntry`.
        settings: a `plan.Settings`.
        spool_dir: see `encode_file`.

    Returns:
        A `video.EncodedVideo`.

    Raises:
        video.VideoDecodeError: the file cannot be used.

    Example:
        >>> video = encode_video(entry, settings)  # doctest: +SKIP
        >>> video.num_frames  # doctest: +SKIP
        250
    """
    args, kwargs = encode_args(entry, settings)
    return encode_file(*args, spool_dir=spool_dir, **kwargs)


def _watch_parent(parent_pid):
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def die_with_parent(parent_pid):
    """Process-pool initializer: exit when process `parent_pid` is gone.

    A re-parented process (its parent was killed) sees another parent id.
    """
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), daemon=True
    ).start()


def main_is_importable():
    """Spawned workers re-import `__main__` from its file, if it has one."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return path is None or os.path.exists(path)


def new_pool(num_workers):
    """A spawn process pool whose workers die with this process."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=num_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )


def submit(pool, entry, settings, spool_dir=None):
    """Submits `encode_video(entry, settings, spool_dir)` to `pool`.

    Returns:
        A future.
    """
    args, kwargs = encode_args(entry, settings)
    return pool.submit(encode_file, *args, spool_dir=spool_dir, **kwargs)


def crash_error(entry):
    """The `VideoDecodeError` reported for a video whose decoder died."""
    return video.VideoDecodeError(entry.path, video.DECODE_ERROR, CRASH_DETAIL)


class IsolatedEncoder:
    """Encodes one video at a time in a child process (reused until a crash).

    Calling it returns the `EncodedVideo` or the exception the video raised
    (a crashed decoder gives a `decode_error`); it never raises for a bad
    video. Without an importable `__main__` (an interactive session) it
    encodes in this process. `spool_dir`: see `encode_file`.

    Example:
        >>> encoder = IsolatedEncoder()
        >>> video = encoder(entry, settings)  # doctest: +SKIP
        >>> encoder.close()
    """

    def __init__(self, spool_dir=None):
        self._pool = None
        self._inline = not main_is_importable()
        self._spool_dir = spool_dir

    def __call__(self, entry, settings):
        if self._inline:
            try:
                return encode_video(entry, settings, self._spool_dir)
            except Exception as error:  # noqa: BLE001 - reported per video
                return error
        if self._pool is None:
            self._pool = new_pool(1)
        try:
            future = submit(self._pool, entry, settings, self._spool_dir)
            return future.result()
        except concurrent.futures.process.BrokenProcessPool:
            logging.warning("The decoder died on %s", entry.path)
            self.close()
            return crash_error(entry)
        except Exception as error:  # noqa: BLE001 - reported per video
            return error

    def close(self):
        """Stops the child process."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
