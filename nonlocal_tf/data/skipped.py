"""Counting the records a `tf.data` pipeline skips because they fail.

A record that fails to parse or decode raises inside a map; the pipeline
drops it with `Dataset.ignore_errors(log_warning=True)`, which logs
TensorFlow's error message (C++ log, `W ... Error raised with error message
...`). That log is hidden when `TF_CPP_MIN_LOG_LEVEL` >= 2, and it gives no
count, so each element also carries its position in the stream: a gap in the
positions after the map is a skipped record. Finite streams end with a
sentinel element, so records skipped at the very end are counted too. Each
gap is logged with absl (`WARNING`) and added to a `SkippedRecords` counter.

A damaged file (a CRC mismatch, a cut-off end) ends `TFRecordDataset`'s
reading of it, and its remaining records never enter the stream at all.
So, at each file's sentinel (`add_positions(shard_end=...)`), the records
and bytes read are compared with the file's size and its expected record
count (`records_check.shard_damage`); a damaged shard is logged with absl
(file, damage, offset, records read / expected / lost) once per process and
added to the counter (`damaged_shards`, `lost`).
"""

import contextlib
import contextvars
import sys
import threading

import tensorflow as tf
from absl import logging

from nonlocal_tf.data import record_format
from nonlocal_tf.data import records_check

# Placeholders keep tensors up to this many elements at their full shape
# (labels); larger ones (frames, clips) get a zero-sized leading dimension.
_SMALL = 1 << 16


class SkippedRecords:
    """A thread-safe count of the records `build_dataset` pipelines lost.

    Two kinds: records *skipped* because they failed to parse or decode
    (`count`), and records *lost* in damaged shards, after a CRC error or a
    cut-off end (`lost`, `damaged_shards`). Every end of a file read is
    noted too, with the records it gave and should have given, so that a
    caller can say how many records it should have seen (`summary`). Events
    carry the name of the pipeline that saw them (`build_dataset(mode=...,
    pipeline i)`), so that one pipeline's counts can be told apart from
    another's in the same process.

    Example:
        >>> counter = SkippedRecords()
        >>> ds = build_dataset("records/val-*", mode="test",
        ...                    skipped_records=counter)  # doctest: +SKIP
        >>> for batch in ds: ...  # doctest: +SKIP
        >>> counter.count, counter.lost  # doctest: +SKIP
        (0, 0)
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0
        # ("skipped", pipeline, n) or ("end", pipeline, path, expected, damage)
        self._events = []
        self._reported = set()

    @property
    def count(self):
        """Records skipped so far (failed to parse or decode)."""
        with self._lock:
            return self._count

    def add(self, number, pipeline=""):
        """Adds `number` skipped records; returns the new total."""
        with self._lock:
            self._count += int(number)
            self._events.append(("skipped", pipeline, int(number)))
            return self._count

    def shard_end(self, path, records_read, damage, pipeline=""):
        """Notes the end of a file; returns True the first time it is damaged.

        Args:
            path: the file.
            records_read: records read from it.
            damage: its `records_check.ShardDamage`, or None.
            pipeline: the name of the pipeline that read it.
        """
        expected = damage.expected if damage else records_read
        with self._lock:
            self._events.append(("end", pipeline, path, expected, damage))
            if damage is None or path in self._reported:
                return False
            self._reported.add(path)
            return True

    @property
    def damaged_shards(self):
        """`ShardDamage.as_dict()` of each damaged file, by path."""
        return self.summary()["damaged_shards"]

    @property
    def lost(self):
        """Records lost in damaged shards (each file counted once)."""
        return self.summary()["records_lost"]

    def mark(self):
        """A point in the history, for `summary(since=...)`."""
        with self._lock:
            return len(self._events)

    def summary(self, since=0, pipeline=None):
        """Counts since `since` (a `mark()`), of pipelines named `pipeline*`.

        Args:
            since: a `mark()`; 0 counts everything.
            pipeline: keep the events of pipelines whose name contains this
                (e.g. "mode='test'"); None keeps all.

        Returns:
            A dict: `records_skipped`, `records_lost`, `records_expected`
            (what the files read should have given, each file once),
            `files_read`, and `damaged_shards` (a list of
            `ShardDamage.as_dict()`, one per damaged file, by path).
        """
        with self._lock:
            events = self._events[since:]
        skipped, expected, damaged = 0, {}, {}
        for kind, name, *rest in events:
            if pipeline is not None and pipeline not in name:
                continue
            if kind == "skipped":
                skipped += rest[0]
                continue
            path, count, damage = rest
            expected[path] = max(expected.get(path, 0), count)
            if damage is not None:
                damaged[path] = damage
        return {
            "records_skipped": skipped,
            "records_lost": sum(d.lost for d in damaged.values()),
            "records_expected": sum(expected.values()),
            "files_read": len(expected),
            "damaged_shards": [damaged[p].as_dict() for p in sorted(damaged)],
        }

    def reset(self):
        """Sets the counts back to 0 and forgets the files read."""
        with self._lock:
            self._count = 0
            self._events = []
            self._reported = set()

    def __repr__(self):
        return f"SkippedRecords(count={self.count}, lost={self.lost})"


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


def loss_logs(counter=None):
    """Training-log entries for records lost so far (empty while none are).

    Returns:
        `{}` or `{"skipped_records": n, "lost_records": m,
        "damaged_shards": k}` from `counter` (default the process-wide one),
        for the training log and its TensorBoard summaries.

    Example:
        >>> loss_logs()  # doctest: +SKIP
        {}
    """
    counts = (counter or SKIPPED_RECORDS).summary()
    if not (counts["records_skipped"] or counts["damaged_shards"]):
        return {}
    return {
        "skipped_records": counts["records_skipped"],
        "lost_records": counts["records_lost"],
        "damaged_shards": len(counts["damaged_shards"]),
    }


def skipped_record_count():
    """Records skipped by pipelines using the default counter, this process.

    Example:
        >>> skipped_record_count()  # doctest: +SKIP
        0
    """
    return SKIPPED_RECORDS.count


def _note_shard_end(counter, name, filename, records_read, bytes_read):
    path = filename.numpy().decode("utf-8", "replace")
    records_read, bytes_read = (
        int(records_read.numpy()),
        int(bytes_read.numpy()),
    )
    try:
        damage = records_check.shard_damage(path, records_read, bytes_read)
    except (tf.errors.OpError, OSError) as error:
        logging.warning("%s: cannot check the end of %s: %s", name, path, error)
        damage = None
    if counter.shard_end(path, records_read, damage, name):
        logging.warning(
            "%s: damaged shard %s. The records after the damage cannot be "
            "read; check all shards with scripts/check_records.py.",
            name,
            damage.describe(),
        )
    return 0


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


def add_positions(elements, *, finite, sentinel_values=None, shard_end=None):
    """Numbers the elements; appends a sentinel when the stream is finite.

    Args:
        elements: dataset of dicts with an int64 `index` >= 0.
        finite: whether `elements` ends (then a sentinel, `index` -1,
            follows).
        sentinel_values: optional values for the sentinel's keys (e.g. the
            `filename` that the end-of-file log line names).
        shard_end: optional `(counter, name)` when `elements` are the records
            (`serialized`) of one file (`filename`): at the sentinel, the
            records and bytes read are checked against the file
            (`records_check.shard_damage`) and noted in the counter; a
            damaged shard is logged once per process.

    Returns:
        The dicts with `position` (int64) and `sentinel` (bool) added.
    """
    if finite:
        sentinel = placeholder(elements.element_spec)
        sentinel.update(sentinel_values or {})
        sentinel["index"] = tf.constant(-1, tf.int64)
        elements = elements.concatenate(tf.data.Dataset.from_tensors(sentinel))

    in_graph = _LOG_IN_GRAPH.get()

    def number(state, element):
        position, read = state
        element = dict(element)
        element["position"] = position
        element["sentinel"] = element["index"] < 0
        if shard_end is None or in_graph:  # no py_function on a service
            return (position + 1, read), element
        counter, name = shard_end

        def note():
            return tf.py_function(
                lambda f, r, b: _note_shard_end(counter, name, f, r, b),
                [element["filename"], position, read],
                tf.int64,
            )

        done = tf.cond(
            element["sentinel"], note, lambda: tf.constant(0, tf.int64)
        )
        with tf.control_dependencies([done]):
            element["position"] = tf.identity(position)
        size = tf.cast(tf.strings.length(element["serialized"]), tf.int64)
        read += size + record_format.OVERHEAD_BYTES
        return (position + 1, read), element

    zero = tf.constant(0, tf.int64)
    return elements.scan((zero, zero), number)


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


class _GapLogger:
    """Logs and counts the positions a stage lost (a `scan` function)."""

    def __init__(self, counter, name, what, *, in_graph):
        self.counter = counter
        self.name = name
        self.what = what
        self.in_graph = in_graph

    def report(self, gap, at_end, index, filename, video_id):
        total = self.counter.add(gap, self.name)
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
            self.name,
            gap,
            self.what,
            where,
            total,
        )
        return 0

    def _py_log(self, gap, at_end, index, filename, video_id):
        def text(t):
            return t.numpy().decode("utf-8", "replace")

        return self.report(
            int(gap.numpy()),
            bool(at_end.numpy()),
            int(index.numpy()),
            text(filename),
            text(video_id),
        )

    def _print_gap(self, gap, element):
        done = tf.print(
            f"{self.name}: skipped",
            gap,
            f"record(s) that failed {self.what}, before record",
            element["index"],
            "of",
            element["filename"],
            "(-1: at its end)",
            output_stream=sys.stderr,
        )
        with tf.control_dependencies([done]):
            return tf.identity(gap)

    def _log_gap(self, gap, element):
        done = tf.py_function(
            self._py_log,
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

    def account(self, expected, element):
        gap = element["position"] - expected
        log = self._print_gap if self.in_graph else self._log_gap
        logged = tf.cond(gap > 0, lambda: log(gap, element), lambda: gap)
        with tf.control_dependencies([logged]):
            following = element["position"] + 1
        return following, element


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

    logger = _GapLogger(counter, name, what, in_graph=_LOG_IN_GRAPH.get())
    elements = elements.scan(tf.constant(0, tf.int64), logger.account)
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
