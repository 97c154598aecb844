"""Counting the records a `tf.data` pipeline skips because they fail.

A record that fails to parse or decode raises inside a map; the pipeline
drops it with `Dataset.ignore_errors(log_warning=True)`, which logs
TensorFlow's error message (C++ log, `W ... Error raised with error message
...`). That log is hidden when `TF_CPP_MIN_LOG_LEVEL` >= 2, and it gives no
count, so each element also carries its position in the stream: a gap in the
positions after the map is a skipped record. Finite streams end with a
sentinel element, so records skipped at the very end are counted too. Each
gap is logged with absl (`WARNING`) and added to a `SkippedRecords` counter.
"""

import contextlib
import contextvars
import sys
import threading

import tensorflow as tf
from absl import logging

# Placeholders keep tensors up to this many elements at their full shape
# (labels); larger ones (frames, clips) get a zero-sized leading dimension.
_SMALL = 1 << 16


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

# Set while building a pipeline that another process runs (a tf.data service
# worker cannot call back into this process's Python, so a py_function
# there fails the whole pipeline).
_LOG_IN_GRAPH = contextvars.ContextVar("log_skips_in_graph", default=False)


@contextlib.contextmanager
def logged_in_graph():
    """Pipelines built in this block log skipped records with `tf.print`.

    For pipelines that run in another process (the tf.data service): the
    gaps are printed to the stderr of the process that runs them and not
    added to any `SkippedRecords` here.

    Example:
        >>> with logged_in_graph():
        ...     dataset = build_dataset("records/train-*")  # doctest: +SKIP
    """
    token = _LOG_IN_GRAPH.set(True)
    try:
        yield
    finally:
        _LOG_IN_GRAPH.reset(token)


def skipped_record_count():
    """Records skipped by pipelines using the default counter, this process.

    Example:
        >>> skipped_record_count()  # doctest: +SKIP
        0
    """
    return SKIPPED_RECORDS.count


def placeholder(spec):
    """A cheap element of the structure `spec` (a dict of `TensorSpec`)."""
    out = {}
    for key, s in spec.items():
        shape = s.shape
        if shape.is_fully_defined() and shape.num_elements() <= _SMALL:
            out[key] = tf.zeros(shape, s.dtype)
            continue
        dims = [0 if d is None else d for d in shape.as_list()]
        if dims:
            dims[0] = 0
        out[key] = tf.zeros(dims, s.dtype)
    return out


def add_positions(elements, *, finite, sentinel_values=None):
    """Numbers the elements; appends a sentinel when the stream is finite.

    Args:
        elements: dataset of dicts with an int64 `index` >= 0.
        finite: whether `elements` ends (then a sentinel, `index` -1,
            follows).
        sentinel_values: optional values for the sentinel's keys (e.g. the
            `filename` that the end-of-file log line names).

    Returns:
        The dicts with `position` (int64) and `sentinel` (bool) added.
    """
    if finite:
        sentinel = placeholder(elements.element_spec)
        sentinel.update(sentinel_values or {})
        sentinel["index"] = tf.constant(-1, tf.int64)
        elements = elements.concatenate(tf.data.Dataset.from_tensors(sentinel))

    def number(position, element):
        element = dict(element)
        element["position"] = position
        element["sentinel"] = element["index"] < 0
        return position + 1, element

    return elements.scan(tf.constant(0, tf.int64), number)


def with_sentinel(fn, spec):
    """Wraps a map function: sentinels skip `fn` and get a placeholder.

    Args:
        fn: function of an element dict to a dict of structure `spec`.
        spec: dict of `TensorSpec` of `fn`'s output.

    Returns:
        A map function keeping `position` and `sentinel`.
    """

    def element(record):
        out = tf.cond(
            record["sentinel"], lambda: placeholder(spec), lambda: fn(record)
        )
        out["position"] = record["position"]
        out["sentinel"] = record["sentinel"]
        if "filename" in out and "filename" in record:
            out["filename"] = record["filename"]  # names the file at its end
        return out

    return element


def count_gaps(elements, counter, name, what, finalize):
    """Counts and logs the positions missing from `elements`, drops sentinels.

    Args:
        elements: dataset of dicts with `position`, `sentinel`, `index`,
            `filename`, `video_id` and payload keys, in position order.
        counter: a `SkippedRecords`.
        name: pipeline name for the log line.
        what: what the skipped records failed at, e.g. "to parse".
        finalize: function of the dict (without `position` and `sentinel`)
            giving the output element.

    Returns:
        The dataset of `finalize(element)`.
    """

    def report(gap, at_end, index, filename, video_id):
        total = counter.add(gap)
        if at_end:
            where = f"at the end of {filename or 'the data'}"
        else:
            where = (
                f"before record {index} of {filename} (video '{video_id}') "
                "in the stream"
            )
        logging.warning(
            "%s: skipped %d record(s) that failed %s, %s; %d skipped so far. "
            "TensorFlow's log line 'Error raised with error message ...' "
            "gives the error.",
            name,
            gap,
            what,
            where,
            total,
        )
        return 0

    def log(gap, at_end, index, filename, video_id):
        def text(t):
            return t.numpy().decode("utf-8", "replace")

        return report(
            int(gap.numpy()),
            bool(at_end.numpy()),
            int(index.numpy()),
            text(filename),
            text(video_id),
        )

    def account(expected, element):
        gap = element["position"] - expected

        def print_gap():
            done = tf.print(
                f"{name}: skipped",
                gap,
                f"record(s) that failed {what}, before record",
                element["index"],
                "of",
                element["filename"],
                "(-1: at its end)",
                output_stream=sys.stderr,
            )
            with tf.control_dependencies([done]):
                return tf.identity(gap)

        def log_gap():
            done = tf.py_function(
                log,
                [
                    gap,
                    element["sentinel"],
                    element["index"],
                    element["filename"],
                    element["video_id"],
                ],
                tf.int64,
            )
            with tf.control_dependencies([done]):
                return tf.identity(gap)

        logged = tf.cond(
            gap > 0, print_gap if in_graph else log_gap, lambda: gap
        )
        with tf.control_dependencies([logged]):
            following = element["position"] + 1
        return following, element

    in_graph = _LOG_IN_GRAPH.get()
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
