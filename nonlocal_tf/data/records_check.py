"""Damaged TFRecord shards: found, located and counted.

A flipped byte (a CRC mismatch) or a cut-off file ends `TFRecordDataset`'s
reading of that file: the records after the damage cannot be read. This
module says which file, where, and how many records were lost:

- `expected_records(path)`: how many records a shard should hold, from the
  preparation report beside it (`<split>_report.json`: its `shard_records`,
  or `written` when it lists one shard), else from the preparation's state
  file (`.prepare-<split>/shard-NNNNN.json`), else None;
- `shard_damage(path, records_read, bytes_read)`: after a reader stopped,
  the `ShardDamage` (or None when the shard was read whole): the byte offset
  and kind of the damage and the records lost (the expected count, or the
  shard's own count from its record headers, see `record_format.py`);
- `check_shard(path)` / `check_records(pattern)`: a full check before a long
  run (both CRCs of every record through TensorFlow, and each record parsed
  as a `SequenceExample` with frames); `scripts/check_records.py` prints it;
- `count_records(pattern)`: how many records some files hold, read through
  TensorFlow (when no report says).

Example:
    >>> checks = check_records("records/val-*.tfrecord")  # doctest: +SKIP
    >>> [c.path for c in checks if not c.ok]  # doctest: +SKIP
    ['records/val-00003-of-00004.tfrecord']
"""

import dataclasses
import json
import os
import re

import tensorflow as tf

from nonlocal_tf.data import features
from nonlocal_tf.data import record_format

_SHARD_NAME = re.compile(r"^(?P<split>.+)-(?P<index>\d+)-of-(?P<count>\d+)\.")
REPORT = "report"
STATE = "preparation state"
HEADERS = "shard headers"


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
        kind: what is wrong there (`record_format` damage kinds).
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
        kind, found = record_format.MISSING_RECORDS, 0
    else:
        kind, after = record_format.damage_at(
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
    frames = example.feature_lists.feature_list.get(features.IMAGE_KEY)
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
            bytes_read += len(data) + record_format.OVERHEAD_BYTES
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
        file_pattern: glob pattern or list (`pipeline.list_files`).
        parse: also parse each record.
        progress: optional callable `progress(check)` after each shard.

    Returns:
        A list of `ShardCheck`, in file order.

    Raises:
        ValueError: nothing matches.
    """
    from nonlocal_tf.data import pipeline

    checks = []
    for path in pipeline.list_files(file_pattern):
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
