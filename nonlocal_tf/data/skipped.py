"""Counting the records a `tf.data` pipeline skips because they fail.

A record that fails to parse or decode raises inside the pipeline's map; the
pipeline drops it with `Dataset.ignore_errors(log_warning=True)`, which logs
TensorFlow's error message (C++ log, `W ... Error raised with error message
...`). That log is hidden when `TF_CPP_MIN_LOG_LEVEL` >= 2, and it gives no
count, so each record also carries its position in the stream: a gap in the
positions after the map is a skipped record. Finite streams end with a
sentinel, so records skipped at the very end are counted too. Each gap is
logged with absl (`WARNING`) and added to a `SkippedRecords` counter.
"""

import threading

import tensorflow as tf
from absl import logging


class SkippedRecords:
    """A thread-safe count of records skipped by `build_dataset` pipelines.

    Example:
        >>> counter = SkippedRecords()
        >>> ds = build_dataset("records/val-*", mode="test",
        ...                    skipped_records=counter)  # doctest: +SKIP
        >>> for batch in ds: ...  # doctest: +SKIP
        >>> counter.count  # doctest: +SKIP
        0
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self):
        """Records skipped so far."""
        with self._lock:
            return self._count

    def add(self, number):
        """Adds `number` skipped records; returns the new total."""
        with self._lock:
            self._count += int(number)
            return self._count

    def reset(self):
        """Sets the count back to 0."""
        with self._lock:
            self._count = 0

    def __repr__(self):
        return f"SkippedRecords(count={self.count})"


SKIPPED_RECORDS = SkippedRecords()


def skipped_record_count():
    """Records skipped by pipelines using the default counter, this process.

    Example:
        >>> skipped_record_count()  # doctest: +SKIP
        0
    """
    return SKIPPED_RECORDS.count


def add_positions(records, *, finite):
    """Numbers the elements of `records`; appends a sentinel when finite.

    Args:
        records: dataset of (filename, index_in_file, serialized), indices
            >= 0.
        finite: whether `records` ends (then a sentinel, index -1, follows).

    Returns:
        Dataset of dicts: `position` (int64), `sentinel` (bool), `filename`,
        `index`, `serialized`.
    """
    if finite:
        sentinel = tf.data.Dataset.from_tensors(
            (tf.constant(""), tf.constant(-1, tf.int64), tf.constant(""))
        )
        records = records.concatenate(sentinel)

    def number(position, element):
        filename, index, serialized = element
        return position + 1, {
            "position": position,
            "sentinel": index < 0,
            "filename": filename,
            "index": index,
            "serialized": serialized,
        }

    return records.scan(tf.constant(0, tf.int64), number)


def count_gaps(elements, counter, name, finalize):
    """Counts and logs the positions missing from `elements`, drops sentinels.

    Args:
        elements: dataset of dicts with `position`, `sentinel`, `video_id`
            and payload keys, in position order.
        counter: a `SkippedRecords`.
        name: pipeline name for the log line.
        finalize: function of the payload dict (without `position` and
            `sentinel`) giving the output element.

    Returns:
        The dataset of `finalize(payload)`.
    """

    def report(gap, position, video_id, at_end):
        total = counter.add(gap)
        if bool(at_end):
            where = "at the end of the data"
        else:
            video = video_id.numpy().decode("utf-8", "replace")
            where = (
                f"just before video '{video}' (stream position {int(position)})"
            )
        logging.warning(
            "%s: skipped %d record(s) that failed to parse or decode %s; "
            "%d skipped so far. TensorFlow's log line 'Error raised with "
            "error message ...' gives the error.",
            name,
            int(gap),
            where,
            total,
        )
        return 0

    def account(expected, element):
        gap = element["position"] - expected

        def log_gap():
            done = tf.py_function(
                lambda g, p, v, e: report(g.numpy(), p.numpy(), v, e.numpy()),
                [
                    gap,
                    element["position"],
                    element["video_id"],
                    element["sentinel"],
                ],
                tf.int64,
            )
            with tf.control_dependencies([done]):
                return tf.identity(gap)

        logged = tf.cond(gap > 0, log_gap, lambda: gap)
        with tf.control_dependencies([logged]):
            following = element["position"] + 1
        return following, element

    elements = elements.scan(tf.constant(0, tf.int64), account)
    elements = elements.filter(
        lambda element: tf.logical_not(element["sentinel"])
    )
    return elements.map(
        lambda element: finalize(
            {
                k: v
                for k, v in element.items()
                if k not in ("position", "sentinel")
            }
        )
    )
