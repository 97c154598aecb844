"""Record counting and class names of a data set (atomic writes: `fileio`)."""

import os

import tensorflow as tf

from nonlocal_tf.fileio import atomic_save_weights  # noqa: F401
from nonlocal_tf.fileio import atomic_write_text  # noqa: F401


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


def label_map_beside(file_pattern):
    """The `label_map.json` that `prepare_dataset` wrote beside some records.

    Args:
        file_pattern: a record file pattern, e.g. `records/val-*.tfrecord`.

    Returns:
        The path of `label_map.json` in the folder of the first matching
        file, or None when there is no such file.

    Example:
        >>> label_map_beside("records/val-*.tfrecord")
        'records/label_map.json'
    """
    from nonlocal_tf.data import prepare

    files = sorted(tf.io.gfile.glob(file_pattern)) if file_pattern else []
    if not files:
        return None
    path = os.path.join(os.path.dirname(files[0]), prepare.LABEL_MAP_FILE)
    return path if tf.io.gfile.exists(path) else None


def resolve_class_names(label_map=None, file_pattern=None, num_classes=None):
    """Class names and class count of a data set, checked against each other.

    Args:
        label_map: a label file (`label_map.json` as `prepare_dataset`
            writes it, a JSON list, or one name per line), or None to look
            for `label_map.json` beside `file_pattern`'s records.
        file_pattern: the records the label map belongs to.
        num_classes: the class count if known (e.g. a flag), else None.

    Returns:
        `(names or None, num_classes)`.

    Raises:
        ValueError: the count is neither given nor found, or the label map
            disagrees with `num_classes`.

    Example:
        >>> names, count = resolve_class_names(file_pattern="records/val-*")
    """
    from nonlocal_tf.export import labels

    path = label_map or label_map_beside(file_pattern)
    names = labels.load_label_names(path) if path else None
    if num_classes is None:
        if names is None:
            raise ValueError(
                "The number of classes is unknown: give it (--num_classes) or "
                f"a label map; there is no label_map.json beside "
                f"{file_pattern!r}."
            )
        return names, len(names)
    if names is not None and len(names) != num_classes:
        raise ValueError(
            f"num_classes={num_classes} but the label map {path} has "
            f"{len(names)} classes."
        )
    return names, int(num_classes)
