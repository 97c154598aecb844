"""Atomic writes of text files and Keras weights (temp file, then rename)."""

import os
import uuid

import tensorflow as tf


def _temp_path(path, suffix=""):
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.tmp-{uuid.uuid4().hex}{suffix}")


def atomic_write_text(path, text):
    """Writes `text` to `path` so that readers see the old or the new file.

    The text goes to a temporary file beside `path`, which is then renamed
    over `path` (atomic on local file systems).

    Args:
        path: Destination path (local or any `tf.io.gfile` file system).
        text: The string to write.

    Example:
        >>> atomic_write_text("/tmp/run/config.json", '{"seed": 0}')
    """
    directory = os.path.dirname(path)
    if directory:
        tf.io.gfile.makedirs(directory)
    temp = _temp_path(path)
    try:
        with tf.io.gfile.GFile(temp, "w") as f:
            f.write(text)
        tf.io.gfile.rename(temp, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(temp):
            tf.io.gfile.remove(temp)


def atomic_save_weights(model, path):
    """Saves `model`'s weights to `path` (`*.weights.h5`) atomically.

    Args:
        model: A built Keras model.
        path: Destination, must end with `.weights.h5`.

    Example:
        >>> atomic_save_weights(model, "/tmp/run/final.weights.h5")
    """
    if not path.endswith(".weights.h5"):
        raise ValueError(
            f"Weights path must end with `.weights.h5`, got {path!r}."
        )
    directory = os.path.dirname(path)
    if directory:
        tf.io.gfile.makedirs(directory)
    temp = _temp_path(path[: -len(".weights.h5")], ".weights.h5")
    try:
        model.save_weights(temp)
        tf.io.gfile.rename(temp, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(temp):
            tf.io.gfile.remove(temp)


def count_records(file_pattern):
    """Number of TFRecords in the files matching `file_pattern`.

    Reads every file once (use it when the example count is unknown).

    Example:
        >>> count_records("/data/kinetics/train-*.tfrecord")
    """
    files = tf.io.gfile.glob(file_pattern)
    if not files:
        raise FileNotFoundError(f"No files match {file_pattern!r}")
    dataset = tf.data.TFRecordDataset(
        files, num_parallel_reads=tf.data.AUTOTUNE
    )
    return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
