"""Atomic file writes: a temporary file beside the target, then a rename.

The one place that knows how a file the user keeps (config, report, label
map, weights, shard, JSON result) is written, so that a crash or a kill
leaves the old file or the new one, never a half-written one. Paths go
through `tf.io.gfile`, so `gs://` works; the rename is atomic on local file
systems. TensorFlow is imported on first use.

Example:
    >>> from nonlocal_tf import fileio
    >>> fileio.atomic_write_json("/tmp/run/metrics.json", {"top1": 0.7})
    >>> with fileio.atomic_path("/tmp/out/train-00000.tfrecord") as tmp:
    ...     write_records(tmp)  # renamed to the final name on success
"""

import contextlib
import hashlib
import json
import os
import uuid

TEMP_MARKER = ".tmp-"


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
    is left as it was.

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
        model.save_weights(temp)
    return path
