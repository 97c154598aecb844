"""Counting the records a `tf.data` pipeline skips because they fail.

A record that fails to parse or decode raises inside a map; the pipeline
drops it with `Dataset.ignore_errors(log_warning=True)`, which logs
TensorFlow's error message (C++ log, `W ... Error raised with error message
...`). That log is hidden when `TF_CPP_MIN_LOG_LEVEL` >= 2, and it gives no
count, so each element also carries its position in the stream
(`record_positions`): a gap in the positions after the map is a skipped
record (`skip_gaps`). Finite streams end with a sentinel element, so records
skipped at the very end are counted too. Each gap is logged with absl
(`WARNING`) and added to a `SkippedRecords` counter, this module's job.

A damaged file (a CRC mismatch, a cut-off end) ends `TFRecordDataset`'s
reading of it, and its remaining records never enter the stream at all.
So, at each file's sentinel (`record_positions.add_positions(shard_end=...)`),
the records and bytes read are compared with the file's size and its
expected record count (`records_check.shard_damage`); a damaged shard is
logged with absl (file, damage, offset, records read / expected / lost) once
per process and added to the counter (`damaged_shards`, `lost`).
"""

import contextlib
import contextvars
import threading


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


def logs_in_graph():
    """Whether pipelines built now log skips with `tf.print` (no Python)."""
    return _LOG_IN_GRAPH.get()


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
