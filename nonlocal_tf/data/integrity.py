"""Record integrity: files, TFRecord framing, damaged shards, lost records.

This module imports nothing else of `nonlocal_tf.data`: the pipeline, the
preparation and the programs all build on it.

- `list_files(pattern)`: the sorted files matching a pattern or list of them.
- The TFRecord framing, read without TensorFlow (`walk_headers`,
  `damage_at`). A TFRecord file is a sequence of records, each

      uint64 length | uint32 crc(length) | data | uint32 crc(data)

  (little-endian, crc = masked CRC-32C; tensorflow/core/lib/io/
  record_writer.h). Checking the 8-byte length against its CRC is cheap, so
  the records of a file can be counted by walking the headers, without
  reading the data; after damage, the next intact header is found again by
  searching for 12 bytes whose CRC holds (a random match has a chance of
  2**-32 per position). Data CRCs are TensorFlow's job (`TFRecordDataset`
  checks both CRCs of every record it reads).
- Damaged shards, found, located and counted. A flipped byte (a CRC
  mismatch) or a cut-off file ends `TFRecordDataset`'s reading of that
  file: the records after the damage cannot be read. This module says which
  file, where, and how many records were lost:
  - `expected_records(path)`: how many records a shard should hold, from the
    preparation report beside it (`<split>_report.json`: its
    `shard_records`, or `written` when it lists one shard), else from the
    preparation's state file (`.prepare-<split>/shard-NNNNN.json`), else
    None;
  - `shard_damage(path, records_read, bytes_read)`: after a reader stopped,
    the `ShardDamage` (or None when the shard was read whole): the byte
    offset and kind of the damage and the records lost (the expected count,
    or the shard's own count from its record headers);
  - `check_shard(path)` / `check_records(pattern)`: a full check before a
    long run (both CRCs of every record through TensorFlow, and each record
    parsed as a `SequenceExample` with frames); `scripts/check_records.py`
    prints it;
  - `count_records(pattern)`: how many records some files hold, read
    through TensorFlow (when no report says).
- The records a `tf.data` pipeline loses (`SkippedRecords`). A record that
  fails to parse or decode raises inside a map; the pipeline drops it with
  `Dataset.ignore_errors(log_warning=True)`, which logs TensorFlow's error
  message (C++ log, `W ... Error raised with error message ...`). That log
  is hidden when `TF_CPP_MIN_LOG_LEVEL` >= 2, and it gives no count, so each
  element also carries its position in the stream (`add_positions`): a gap
  in the positions after the map is a skipped record (`count_gaps`). Finite
  streams end with a sentinel element, so records skipped at the very end
  are counted too. Each gap is logged with absl (`WARNING`) and added to a
  `SkippedRecords` counter. A damaged file's remaining records never enter
  the stream at all, so at each file's sentinel
  (`add_positions(shard_end=...)`) the records and bytes read are compared
  with the file's size and its expected record count (`shard_damage`); a
  damaged shard is logged with absl (file, damage, offset, records read /
  expected / lost) once per process and added to the counter
  (`damaged_shards`, `lost`).

Example:
    >>> walk = walk_headers("records/val-00000-of-00004.tfrecord")
    >>> walk.records, walk.damage  # doctest: +SKIP
    (25, None)
    >>> checks = check_records("records/val-*.tfrecord")  # doctest: +SKIP
    >>> [c.path for c in checks if not c.ok]  # doctest: +SKIP
    ['records/val-00003-of-00004.tfrecord']
"""

import contextlib
import contextvars
import dataclasses
import json
import os
import re
import struct
import sys
import threading

import numpy as np
import tensorflow as tf
from absl import logging

# Listing files.


def list_files(file_pattern):
    """Sorted files matching a pattern or list of patterns (`tf.io.gfile`).

    Raises:
        ValueError: nothing matches (the patterns are named).

    Example:
        >>> list_files("records/train-*.tfrecord")  # doctest: +SKIP
        ['records/train-00000-of-00002.tfrecord', ...]
    """
    patterns = (
        [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    )
    if not patterns:
        raise ValueError("file_pattern is empty")
    files = set()
    for pattern in patterns:
        files.update(tf.io.gfile.glob(pattern))
    if not files:
        raise ValueError(
            f"no files match, {file_pattern!r} (check the path; quote a "
            "glob so that the shell passes it on unexpanded)"
        )
    return sorted(files)


# The TFRecord framing, read without TensorFlow.

HEADER_BYTES = 12
FOOTER_BYTES = 4
OVERHEAD_BYTES = HEADER_BYTES + FOOTER_BYTES
_CHUNK = 1 << 24
_MASK_DELTA = 0xA282EAD8

# Damage kinds.
TRUNCATED_HEADER = "truncated record header"
TRUNCATED_RECORD = "truncated record"
BAD_LENGTH_CRC = "corrupted record length (length CRC mismatch)"
BAD_DATA_CRC = "corrupted record data (data CRC mismatch)"
MISSING_RECORDS = "file ends early (fewer records than expected)"


def _crc_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc32c(data):
    """CRC-32C (Castagnoli) of `data`; pure Python, for short inputs.

    Example:
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
    """
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    """The masked CRC TFRecord stores: rotate right by 15, add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def header_length(header):
    """The data length in a 12-byte header, or None if its CRC fails."""
    if len(header) < HEADER_BYTES:
        return None
    length, stored = struct.unpack("<QI", header[:HEADER_BYTES])
    return length if masked_crc32c(header[:8]) == stored else None


@dataclasses.dataclass
class HeaderWalk:
    """What walking the headers of a file from some offset found.

    Attributes:
        records: intact-looking records found (header CRC holds, the record
            fits in the file), the damaged one not included.
        damage: the kind of the first damage, or None.
        damage_offset: its byte offset, or None.
        resumed: records found after the first damage (by resyncing).
        size: the file size.
    """

    records: int = 0
    damage: str | None = None
    damage_offset: int | None = None
    resumed: int = 0
    size: int = 0


def _next_header(f, start, size):
    """Offset of the next intact header at or after `start`, or None."""
    position = start
    while position + HEADER_BYTES <= size:
        f.seek(position)
        block = f.read(min(_CHUNK, size - position))
        data = np.frombuffer(block, np.uint8)
        if data.size < HEADER_BYTES:
            return None
        # Record lengths fit in 32 bits: the high 4 length bytes are 0.
        zeros = data[4:] == 0
        n = data.size - HEADER_BYTES + 1
        candidates = np.flatnonzero(
            zeros[0:n] & zeros[1 : n + 1] & zeros[2 : n + 2] & zeros[3 : n + 3]
        )
        for index in candidates:
            header = block[index : index + HEADER_BYTES]
            length = header_length(header)
            end = position + int(index) + OVERHEAD_BYTES + (length or 0)
            if length is not None and end <= size:
                return position + int(index)
        if position + len(block) >= size:
            return None
        position += len(block) - HEADER_BYTES + 1
    return None


def _walk(f, offset, size):
    """Counts records from `offset` while headers are intact.

    Returns `(records, end_offset, damage_kind)`.
    """
    records = 0
    while offset < size:
        f.seek(offset)
        header = f.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES:
            return records, offset, TRUNCATED_HEADER
        length = header_length(header)
        if length is None:
            return records, offset, BAD_LENGTH_CRC
        if offset + OVERHEAD_BYTES + length > size:
            return records, offset, TRUNCATED_RECORD
        records += 1
        offset += OVERHEAD_BYTES + length
    return records, offset, None


def walk_headers(path, start=0, *, size=None, open_fn=open):
    """Counts the records of a file by their headers, resyncing after damage.

    Args:
        path: the TFRecord file.
        start: byte offset of a record header to start from.
        size: the file size, if known.
        open_fn: `open` or `tf.io.gfile.GFile` (for `gs://` and the like).

    Returns:
        A `HeaderWalk`.

    Example:
        >>> walk_headers("val-00000-of-00001.tfrecord").records
        ... # doctest: +SKIP
        12
    """
    with open_fn(path, "rb") as f:
        if size is None:
            f.seek(0, 2)
            size = f.tell()
        records, offset, damage = _walk(f, start, size)
        walk = HeaderWalk(records=records, size=size)
        if damage is None:
            return walk
        walk.damage, walk.damage_offset = damage, offset
        position = offset + 1
        while True:
            found = _next_header(f, position, size)
            if found is None:
                return walk
            more, offset, damage = _walk(f, found, size)
            walk.resumed += more
            if damage is None:
                return walk
            position = offset + 1


def damage_at(path, offset, *, size, open_fn=open):
    """What is wrong with the record at `offset` that a reader stopped at.

    Returns:
        `(kind, records_after)`: the damage kind and the records that follow
        the damaged one (found by their headers, resyncing if needed).
    """
    with open_fn(path, "rb") as f:
        f.seek(offset)
        header = f.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES:
            return TRUNCATED_HEADER, 0
        length = header_length(header)
    if length is None:
        walk = walk_headers(path, offset, size=size, open_fn=open_fn)
        return BAD_LENGTH_CRC, walk.resumed
    following = offset + OVERHEAD_BYTES + length
    if following > size:
        return TRUNCATED_RECORD, 0
    walk = walk_headers(path, following, size=size, open_fn=open_fn)
    return BAD_DATA_CRC, walk.records + walk.resumed


# Damaged shards: found, located and counted.

_SHARD_NAME = re.compile(r"^(?P<split>.+)-(?P<index>\d+)-of-(?P<count>\d+)\.")
REPORT = "report"
STATE = "preparation state"
HEADERS = "shard headers"
# The feature list of a record's JPEG frames (the DMVR / Model Garden key;
# `features` writes and parses records with it).
IMAGE_KEY = "image/encoded"


def _read_json(path):
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            return json.load(f)
    except (tf.errors.OpError, OSError, ValueError):
        return None


def expected_records(path):
    """`(count, source)`: the records `path` should hold, or `(None, None)`.

    The source is "report" (`<split>_report.json` beside the shard) or
    "preparation state" (`.prepare-<split>/shard-NNNNN.json`).

    Example:
        >>> expected_records("records/val-00000-of-00004.tfrecord")
        ... # doctest: +SKIP
        (25, 'report')
    """
    directory, name = os.path.split(os.fspath(path))
    match = _SHARD_NAME.match(name)
    if not match:
        return None, None
    report = _read_json(
        os.path.join(directory, f"{match['split']}_report.json")
    )
    if isinstance(report, dict):
        per_shard = report.get("shard_records")
        if isinstance(per_shard, dict) and isinstance(per_shard.get(name), int):
            return per_shard[name], REPORT
        if report.get("shards") == [name] and isinstance(
            report.get("written"), int
        ):
            return report["written"], REPORT
    state = _read_json(
        os.path.join(
            directory,
            f".prepare-{match['split']}",
            f"shard-{int(match['index']):05d}.json",
        )
    )
    if isinstance(state, dict) and isinstance(state.get("written"), list):
        return len(state["written"]), STATE
    return None, None


@dataclasses.dataclass(frozen=True)
class ShardDamage:
    """A shard that could not be read to its end.

    Attributes:
        path: the shard.
        records_read: records read before the damage.
        expected: records the shard should hold.
        expected_source: "report", "preparation state" or "shard headers"
            (the shard's own intact record headers, a lower bound).
        offset: byte offset of the first damaged record (the file size when
            records are missing at the end).
        kind: what is wrong there (the damage kinds above).
    """

    path: str
    records_read: int
    expected: int
    expected_source: str
    offset: int
    kind: str

    @property
    def lost(self):
        """Records that could not be read (expected - read)."""
        return max(self.expected - self.records_read, 0)

    def as_dict(self):
        """A JSON-ready dict (with `lost`)."""
        return {**dataclasses.asdict(self), "lost": self.lost}

    def describe(self):
        """One line: file, damage, offset, records read / expected / lost.

        Example:
            >>> damage.describe()  # doctest: +SKIP
            'val-00001.tfrecord: truncated record at byte 12798 (record 3);
            3 of 5 records read (expected from the report), 2 lost'
        """
        if self.expected_source == HEADERS:
            source = "at least, from the shard's own record headers"
        else:
            source = f"expected from the {self.expected_source}"
        return (
            f"{self.path}: {self.kind} at byte {self.offset} (record "
            f"{self.records_read}); {self.records_read} of {self.expected} "
            f"records read ({source}), {self.lost} lost"
        )


def _file_size(path):
    return tf.io.gfile.stat(os.fspath(path)).length


def shard_damage(path, records_read, bytes_read, *, size=None):
    """The damage that stopped a reader of `path`, or None if it read all.

    Args:
        path: the shard.
        records_read: records the reader got.
        bytes_read: their bytes with framing (sum of `len(record) + 16`).
        size: the file size, if known.

    Returns:
        A `ShardDamage`, or None when the whole file was read and no report
        or state expects more records.
    """
    path = os.fspath(path)
    size = _file_size(path) if size is None else size
    expected, source = expected_records(path)
    if bytes_read >= size:
        if expected is None or records_read >= expected:
            return None
        kind, found = MISSING_RECORDS, 0
    else:
        kind, after = damage_at(
            path, bytes_read, size=size, open_fn=tf.io.gfile.GFile
        )
        found = records_read + 1 + after
    if expected is None or expected < records_read:
        expected, source = found, HEADERS
    return ShardDamage(path, records_read, expected, source, bytes_read, kind)


@dataclasses.dataclass
class ShardCheck:
    """The result of `check_shard`.

    Attributes:
        path: the shard.
        records_ok: records read with both CRCs intact (before any damage).
        unparsable: of those, records that are not a `SequenceExample` with
            frames (the pipeline skips and counts them).
        damage: the `ShardDamage`, or None.
        expected: records expected (report, state or headers).
        size: the file size in bytes.
    """

    path: str
    records_ok: int
    unparsable: int
    damage: ShardDamage | None
    expected: int
    size: int

    @property
    def lost(self):
        return self.damage.lost if self.damage else 0

    @property
    def ok(self):
        return self.damage is None and self.unparsable == 0


def _has_frames(serialized):
    try:
        example = tf.train.SequenceExample.FromString(serialized)
    except Exception:  # protobuf's DecodeError
        return False
    frames = example.feature_lists.feature_list.get(IMAGE_KEY)
    return frames is not None and len(frames.feature) > 0


def check_shard(path, *, parse=True):
    """Reads a whole shard: both CRCs of each record, and (parse) its frames.

    Example:
        >>> check = check_shard("records/val-00000-of-00004.tfrecord")
        ... # doctest: +SKIP
        >>> check.ok, check.records_ok, check.lost  # doctest: +SKIP
        (True, 25, 0)
    """
    path = os.fspath(path)
    size = _file_size(path)
    records = bytes_read = unparsable = 0
    try:
        for serialized in tf.data.TFRecordDataset(path):
            data = serialized.numpy()
            records += 1
            bytes_read += len(data) + OVERHEAD_BYTES
            if parse and not _has_frames(data):
                unparsable += 1
    except tf.errors.DataLossError:
        pass  # located by shard_damage below
    damage = shard_damage(path, records, bytes_read, size=size)
    expected = damage.expected if damage else records
    return ShardCheck(path, records, unparsable, damage, expected, size)


class DamagedRecordsError(ValueError):
    """`require_intact`: some shards are damaged or hold unparsable records.

    Attributes:
        checks: the `ShardCheck`s that are not ok.
    """

    def __init__(self, checks, total):
        self.checks = list(checks)
        lost = sum(c.lost for c in self.checks)
        unparsable = sum(c.unparsable for c in self.checks)
        first = self.checks[0]
        where = first.damage.describe() if first.damage else first.path
        super().__init__(
            f"{len(self.checks)} of {total} shards damaged, {lost} records "
            f"lost and {unparsable} unparsable, first {where} (prepare "
            "those shards again, or read around them knowing the loss)"
        )


def require_intact(checks):
    """Raises `DamagedRecordsError` if any of `checks` is not ok.

    Example:
        >>> require_intact(check_records("records/val-*"))  # doctest: +SKIP
    """
    bad = [check for check in checks if not check.ok]
    if bad:
        raise DamagedRecordsError(bad, len(checks))


def format_table(checks):
    """The checks as a text table, one shard per line, and a total line.

    Example:
        >>> print(format_table(checks))  # doctest: +SKIP
        shard                          ok  unparsable  expected  lost  damage
        val-00000-of-00002.tfrecord     5           0  5 report     0  -
    """
    rows = [("shard", "ok", "unparsable", "expected", "lost", "damage")]
    for c in checks:
        source = c.damage.expected_source if c.damage else ""
        damage = (
            f"{c.damage.kind} at byte {c.damage.offset} (record "
            f"{c.damage.records_read})"
            if c.damage
            else "-"
        )
        expected = f"{c.expected} ({source})" if source else str(c.expected)
        rows.append(
            (c.path, c.records_ok, c.unparsable, expected, c.lost, damage)
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = [
        "  ".join(str(v).ljust(w) for v, w in zip(row[:5], widths, strict=True))
        + "  "
        + str(row[5])
        for row in rows
    ]
    damaged = sum(1 for c in checks if not c.ok)
    lines.append(
        f"{len(checks)} shards, {sum(c.records_ok for c in checks)} records "
        f"read, {sum(c.expected for c in checks)} expected, "
        f"{sum(c.lost for c in checks)} lost, "
        f"{sum(c.unparsable for c in checks)} unparsable; {damaged} "
        "damaged shard(s)"
    )
    return "\n".join(lines)


def check_records(file_pattern, *, parse=True, progress=None):
    """`check_shard` for every file matching a pattern (or list of them).

    Args:
        file_pattern: glob pattern or list (`list_files`).
        parse: also parse each record.
        progress: optional callable `progress(check)` after each shard.

    Returns:
        A list of `ShardCheck`, in file order.

    Raises:
        ValueError: nothing matches.
    """
    checks = []
    for path in list_files(file_pattern):
        checks.append(check_shard(path, parse=parse))
        if progress is not None:
            progress(checks[-1])
    return checks


def count_records(file_pattern):
    """Number of TFRecords in the files matching `file_pattern`.

    Reads every file once (use it when the example count is unknown).

    Raises:
        FileNotFoundError: no file matches.

    Example:
        >>> count_records("/data/kinetics/train-*.tfrecord")  # doctest: +SKIP
        234619
    """
    files = tf.io.gfile.glob(file_pattern)
    if not files:
        raise FileNotFoundError(f"No files match {file_pattern!r}")
    dataset = tf.data.TFRecordDataset(
        files, num_parallel_reads=tf.data.AUTOTUNE
    )
    return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


# Counting the records a pipeline skips or loses.


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
            damage: its `ShardDamage`, or None.
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


# Numbering the elements of a stream, with an end sentinel: a gap in the
# positions after a map that drops failing records is a skipped record.

# Placeholders keep tensors up to this many elements at their full shape
# (labels); larger ones (frames, clips) get a zero-sized leading dimension.
_SMALL = 1 << 16


def _note_shard_end(counter, name, filename, records_read, bytes_read):
    path = filename.numpy().decode("utf-8", "replace")
    records_read, bytes_read = (
        int(records_read.numpy()),
        int(bytes_read.numpy()),
    )
    try:
        damage = shard_damage(path, records_read, bytes_read)
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
            (`shard_damage`) and noted in the counter; a
            damaged shard is logged once per process.

    Returns:
        The dicts with `position` (int64) and `sentinel` (bool) added.
    """
    if finite:
        sentinel = placeholder(elements.element_spec)
        sentinel.update(sentinel_values or {})
        sentinel["index"] = tf.constant(-1, tf.int64)
        elements = elements.concatenate(tf.data.Dataset.from_tensors(sentinel))

    in_graph = logs_in_graph()

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
        read += size + OVERHEAD_BYTES
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


# Counting and logging the positions missing from a stream.


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

    logger = _GapLogger(counter, name, what, in_graph=logs_in_graph())
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
