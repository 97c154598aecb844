"""Atomic file writes: a temporary file beside the target, then a rename.

The one place that knows how a file the user keeps (config, report, label
map, weights, shard, JSON result) is written, so that a crash or a kill
leaves the old file or the new one, never a half-written one. Paths go
through `tf.io.gfile`, so `gs://` works; the rename is atomic on local file
systems. TensorFlow is imported on first use.

A write that runs out of space (ENOSPC, EDQUOT) raises `DiskFullError`,
whose one-line message names the file the user asked for (not the temporary
one) and what a rerun does once space is freed; `disk_full_as` does the
same for a write of several files (a checkpoint, an export).

Example:
    >>> from nonlocal_tf import fileio
    >>> fileio.atomic_write_json("/tmp/run/metrics.json", {"top1": 0.7})
    >>> with fileio.atomic_path("/tmp/out/train-00000.tfrecord") as tmp:
    ...     write_records(tmp)  # renamed to the final name on success
"""

import contextlib
import errno
import hashlib
import json
import os
import shutil
import sys
import uuid

TEMP_MARKER = ".tmp-"
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# What the C library says; TensorFlow's file writers (tf.io.gfile, SaveV2,
# TFRecordWriter) raise ResourceExhaustedError with it and no errno, and
# h5py an OSError without errno.
_DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def sha256(path):
    """The hex sha256 of a local file, read in 1 MiB blocks.

    Example:
        >>> sha256("model.weights.h5")[:8]  # doctest: +SKIP
        '3f1c9a2e'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DiskFullError(OSError):
    """A write that failed for want of space; what is kept and what to do.

    Its message is one line: `no space left on device writing <path>
    (<hint>)`, the hint saying what was left as it was and what a rerun
    does once space is freed. `errno` is `ENOSPC`.

    Example:
        >>> str(DiskFullError("/runs/a/m.json", "free space and rerun"))
        'no space left on device writing /runs/a/m.json (free space and rerun)'
    """

    def __init__(self, path, hint):
        self.path, self.hint = os.fspath(path), hint
        super().__init__(
            errno.ENOSPC,
            f"no space left on device writing {self.path} ({hint})",
        )

    def __str__(self):
        return self.strerror

    def __reduce__(self):  # OSError's would call __init__(errno, message)
        return (type(self), (self.path, self.hint))


def is_disk_full(error):
    """Whether `error` is a write that ran out of space (ENOSPC, EDQUOT).

    Knows Python's `OSError`s and TensorFlow's `tf.errors.OpError`s (which
    carry the C library's message but no errno).

    Example:
        >>> is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
        True
    """
    if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
        return True
    tf_errors = sys.modules.get("tensorflow.python.framework.errors_impl")
    if not isinstance(error, OSError) and not (
        tf_errors is not None and isinstance(error, tf_errors.OpError)
    ):
        return False
    return any(text in str(error) for text in _DISK_FULL_TEXTS)


@contextlib.contextmanager
def disk_full_as(path, hint):
    """Turns a disk-full error inside the block into a `DiskFullError`.

    The outermost block names the path: an export that fails while writing
    a file of its temporary directory reports the version it was writing.

    Args:
        path: what the block writes, as the user knows it.
        hint: what was kept and what a rerun does (a string, or a callable
            returning one, called only on the error).

    Example:
        >>> with disk_full_as("models/c2d/2", "version 1 is unchanged"):
        ...     write_version(temp_dir)
    """
    try:
        yield
    except Exception as error:
        if not is_disk_full(error):
            raise
        cause = error.__cause__ if isinstance(error, DiskFullError) else error
        raise DiskFullError(path, hint() if callable(hint) else hint) from (
            cause or error
        )


def _kept_hint(path):
    """The hint of a file written atomically: the old one stays or none."""
    kept = (
        "the previous file is unchanged"
        if _gfile().exists(path)
        else "nothing was written there"
    )
    return f"{kept}; free space and rerun"


def temp_path_for(path):
    """A fresh temporary name beside `path`, keeping its suffixes.

    The name starts with a dot and holds `TEMP_MARKER`, so globs for the
    final files (`train-*.tfrecord`, `*.weights.h5`) never match it.

    Example:
        >>> temp_path_for("/run/final.weights.h5")  # doctest: +SKIP
        '/run/.final.tmp-3f2a....weights.h5'
    """
    directory, name = os.path.split(os.fspath(path))
    stem, dot, suffixes = name.partition(".")
    token = uuid.uuid4().hex
    temp = f".{stem}{TEMP_MARKER}{token}" + (f".{suffixes}" if dot else "")
    return os.path.join(directory, temp)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path; renames it over `path` if the block succeeds.

    The block writes the temporary file by any means (a `TFRecordWriter`,
    `model.save_weights`, `open`); on an exception it is removed and `path`
    is left as it was. A full disk raises `DiskFullError` naming `path`.

    Example:
        >>> with atomic_path("out/report.json") as tmp:
        ...     with open(tmp, "w") as f:
        ...         f.write("{}")
    """
    path = os.fspath(path)
    gfile = _gfile()
    directory = os.path.dirname(path)
    if directory:
        gfile.makedirs(directory)
    temp = temp_path_for(path)
    try:
        with disk_full_as(path, lambda: _kept_hint(path)):
            yield temp
            gfile.rename(temp, path, overwrite=True)
    finally:
        if gfile.exists(temp):
            gfile.remove(temp)


def atomic_write_bytes(path, data):
    """Writes `data` (bytes) to `path` atomically.

    Example:
        >>> atomic_write_bytes("out/frame.png", png_bytes)
    """
    with atomic_path(path) as temp:
        with _gfile().GFile(temp, "wb") as f:
            f.write(data)
    return path


def atomic_write_text(path, text):
    """Writes `text` to `path` so that readers see the old or the new file.

    Args:
        path: Destination path (local or any `tf.io.gfile` file system).
        text: The string to write.

    Example:
        >>> atomic_write_text("/tmp/run/config.json", '{"seed": 0}')
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, value, *, indent=2, sort_keys=False):
    """Writes `value` as JSON (UTF-8, trailing newline) to `path` atomically.

    Example:
        >>> atomic_write_json("/tmp/run/metrics.json", {"top1": 0.71})
    """
    text = json.dumps(value, indent=indent, sort_keys=sort_keys)
    return atomic_write_text(path, text + "\n")


def atomic_save_weights(model, path):
    """Saves `model`'s weights to `path` (`*.weights.h5`) atomically.

    Args:
        model: A built Keras model.
        path: Destination, must end with `.weights.h5`.

    Example:
        >>> atomic_save_weights(model, "/tmp/run/final.weights.h5")
    """
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ValueError(
            f"Weights path must end with `.weights.h5`, got {path!r}."
        )
    with atomic_path(path) as temp:
        _check_room_for_weights(model, temp)
        model.save_weights(temp)
    return path


# What a `.weights.h5` file takes besides its tensors' bytes: HDF5's groups,
# headers and attributes, measured at about 1.9 KB per tensor.
_HDF5_BYTES_PER_TENSOR = 4096
_HDF5_BYTES_PER_FILE = 64 << 10


def _check_room_for_weights(model, temp):
    """Raises ENOSPC before HDF5 writes where the weights cannot fit.

    A write that fails inside HDF5 leaves the library with a file it can
    neither flush nor close ("Can't decrement id ref count"), and a later
    HDF5 call of the same process can crash on it; so a local disk without
    room for the file is refused before the file is opened.
    """
    if "://" in temp:
        return
    needed = _HDF5_BYTES_PER_FILE + sum(
        _variable_bytes(variable) + _HDF5_BYTES_PER_TENSOR
        for variable in model.weights
    )
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(temp))).free
    if free < needed:
        raise OSError(
            errno.ENOSPC,
            f"{needed} bytes needed for the weights, {free} free",
            temp,
        )


def _variable_bytes(variable):
    import numpy as np

    size = 1
    for dim in variable.shape:
        size *= int(dim)
    return size * np.dtype(str(variable.dtype)).itemsize
