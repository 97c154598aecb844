"""Annotation files and label maps: the videos to prepare, their classes.

No TensorFlow: the preparation workers import this module. Two inputs are
read:

- a Kinetics CSV, `label,youtube_id,time_start,time_end,split` (extra columns
  named in the header, such as `is_cc`, are ignored; the test CSVs have no
  `label` column);
- a plain list, one video per line: `path,label[,label...]` (several labels
  for multi-label sets such as Charades; no label for unlabelled videos).

Kinetics videos are found on disk the way the ActivityNet crawler and the
CVDF mirror name them: `{youtube_id}_{time_start:06d}_{time_end:06d}.<ext>`,
in any sub-folder of the video folder (e.g. `train/<label>/`). Such a file is
already trimmed and is used whole. A file named only `{youtube_id}.<ext>` is
taken to be the full YouTube video, and the annotation's time range is cut
from it.

Rows: annotation files have one record per line, and no field of theirs
holds a line break, so each line is parsed on its own (`RowReader`): an
unterminated quote is an error on its line and can never swallow the lines
after it. A UTF-8 byte order mark is dropped, `\\r\\n` endings are accepted,
and every line is decoded on its own, so a line that is not UTF-8 is named.
A bad row is an `AnnotationError` (a `ValueError` naming the file and line),
or, with `bad_rows="skip"`, logged, left out and listed as a `BadRow` in the
returned `Annotations` (a list of entries with a `bad_rows` attribute), for
the preparation report; no row is ever merged into another.

Label maps: a data set's classes are a label map `{name: index}`;
`prepare_dataset` writes it beside its records as `label_map.json`. Every
program and package reads class names through this module:

- `build_label_map` / `write_label_map` / `read_label_map`: the
  `{name: index}` map of a preparation;
- `load_label_names`: the names in index order from any label file: a JSON
  object `{"name": index}` (indices 0..N-1, the Kinetics and PySlowFast
  style), a JSON list `["name0", ...]`, or plain text, one name per line;
- `label_map_beside` / `resolve_class_names`: the label map of some records,
  checked against a class count;
- `default_label_names`: `class_0`, `class_1`, ... when there is no file.

Local label files are read without TensorFlow; other file systems (`gs://`,
...) go through `tf.io.gfile`, imported on first use.

Example:
    >>> from nonlocal_tf.data import annotations
    >>> entries = annotations.read_annotations(
    ...     "train.csv", "videos/", bad_rows="skip")  # doctest: +SKIP
    >>> annotations.write_label_map(
    ...     "records/label_map.json",
    ...     annotations.build_label_map(entries))  # doctest: +SKIP
    >>> annotations.load_label_names(
    ...     "records/label_map.json")  # doctest: +SKIP
    ['abseiling', ...]
"""

import csv
import dataclasses
import errno
import json
import math
import os
import re

from absl import logging

from nonlocal_tf import fileio

# Rows: one CSV row per physical line, bad rows typed.

BAD_ROW_POLICIES = ("error", "skip")
BAD_ROWS_FLAG = "--bad_annotation_rows"
_TEXT_LIMIT = 120

# BadRow.reason values.
MALFORMED_CSV = "malformed_csv"
NOT_UTF8 = "not_utf8"
COLUMN_COUNT = "column_count"
EMPTY_FIELD = "empty_field"
BAD_TIME = "bad_time"
DUPLICATE = "duplicate"


class AnnotationError(ValueError):
    """A malformed annotation file or row.

    Attributes:
        path: the annotation file.
        line: the 1-based line number, or None for the whole file.
        reason: a `BadRow.reason` code, or None for a whole-file problem.
        problem: what is wrong, in words.
    """

    def __init__(self, path, line, problem, hint=None, reason=None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.hint = hint
        self.reason = reason
        where = f"{path}:{line}" if line else str(path)
        message = f"{problem}, {where}"
        super().__init__(message + (f" ({hint})" if hint else ""))

    def __reduce__(self):
        return (
            type(self),
            (self.path, self.line, self.problem, self.hint, self.reason),
        )


@dataclasses.dataclass(frozen=True)
class BadRow:
    """A row left out with `bad_rows="skip"`.

    Attributes:
        path: the annotation file.
        line: its 1-based line number.
        reason: `malformed_csv`, `not_utf8`, `column_count`, `empty_field`,
            `bad_time` or `duplicate`.
        detail: what is wrong, in words.
        text: the line as written (cut to 120 characters).
    """

    path: str
    line: int
    reason: str
    detail: str
    text: str

    def as_dict(self):
        """A JSON-ready dict (for the preparation report)."""
        return dataclasses.asdict(self)


class Annotations(list):
    """The `VideoEntry`s read from a file, plus the rows left out.

    A plain list of entries (in file order) with one more attribute,
    `bad_rows`: the `BadRow`s skipped (empty unless `bad_rows="skip"`).
    """

    def __init__(self, entries=(), bad_rows=()):
        super().__init__(entries)
        self.bad_rows = list(bad_rows)


def read_lines(path):
    """`(line_number, bytes)` of every line of `path`, BOM and `\\r` removed.

    Raises:
        FileNotFoundError: `path` does not exist.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            errno.ENOENT, "annotations file not found", str(path)
        ) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        yield number, raw[:-1] if raw.endswith(b"\r") else raw


def first_line(path):
    """The first line of `path` as text (BOM removed; '' if empty)."""
    for _, raw in read_lines(path):
        return raw.decode("utf-8", "replace")
    return ""


class RowReader:
    """Iterates `(line, fields)` over the non-blank lines of a CSV file.

    Lines that are blank are passed over; lines that are not UTF-8 or not
    valid CSV (an unterminated quote, text after a closing quote) go to
    `bad(...)`. Callers send their own bad rows (a wrong column count, an
    empty field) to `bad` too, and each video id to `is_repeat`.

    Args:
        path: the file.
        bad_rows: "error" (raise `AnnotationError`) or "skip" (log, keep in
            `skipped`).
        comments: pass over lines whose first character (after spaces) is
            `#`.
    """

    def __init__(self, path, bad_rows="error", *, comments=False):
        if bad_rows not in BAD_ROW_POLICIES:
            raise ValueError(
                f"bad_rows must be one of {BAD_ROW_POLICIES}, got {bad_rows!r}"
            )
        self.path = str(path)
        self.policy = bad_rows
        self.comments = comments
        self.skipped = []
        self._lines = {}
        self._first_lines = {}

    def __iter__(self):
        for line, raw in read_lines(self.path):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                self._lines[line] = raw.decode("utf-8", "replace")
                self.bad(
                    line,
                    NOT_UTF8,
                    f"line is not UTF-8 text (byte {raw[error.start]:#04x} "
                    f"at column {error.start + 1})",
                    hint="save the file as UTF-8",
                )
                continue
            if not text.strip():
                continue
            if self.comments and text.lstrip().startswith("#"):
                continue
            self._lines[line] = text
            try:
                fields = next(csv.reader([text], strict=True))
            except csv.Error as error:
                self.bad(
                    line,
                    MALFORMED_CSV,
                    f"malformed CSV row ({error}: an unterminated or stray "
                    "quote?)",
                )
                continue
            yield line, [field.strip() for field in fields]

    def bad(self, line, reason, problem, hint=None):
        """Raises for a bad row, or (skip) logs it and lists it."""
        if self.policy == "error":
            skip = f"or skip such rows with {BAD_ROWS_FLAG}=skip"
            raise AnnotationError(
                self.path,
                line,
                problem,
                f"{hint}, {skip}" if hint else f"fix the row, {skip}",
                reason=reason,
            )
        text = self._lines.get(line, "")
        row = BadRow(self.path, line, reason, problem, text[:_TEXT_LIMIT])
        self.skipped.append(row)
        logging.warning("Skipped %s:%d: %s", self.path, line, problem)

    def is_repeat(self, line, video_id):
        """Whether an earlier line had `video_id` (then a bad row)."""
        first = self._first_lines.setdefault(video_id, line)
        if first == line:
            return False
        self.bad(line, DUPLICATE, f"video {video_id!r} is also on line {first}")
        return True

    def result(self, entries):
        """`Annotations` of `entries` and the skipped rows."""
        if self.skipped:
            logging.warning(
                "%s: skipped %d bad row(s) of %d entries read",
                self.path,
                len(self.skipped),
                len(self.skipped) + len(entries),
            )
        return Annotations(entries, self.skipped)


# The videos of an annotation file.

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".flv")
KINETICS_COLUMNS = ("youtube_id", "time_start", "time_end")


@dataclasses.dataclass(frozen=True)
class VideoEntry:
    """One video to prepare.

    Attributes:
        path: the video file (it may not exist; preparation reports it).
        video_id: unique name written as `video/id`.
        labels: class names (empty for unlabelled videos).
        start_time: start of the time range in the file, seconds, or None.
        end_time: end of the time range (exclusive), seconds, or None.
    """

    path: str
    video_id: str
    labels: tuple = ()
    start_time: float | None = None
    end_time: float | None = None


def kinetics_video_id(youtube_id, time_start, time_end):
    """`{youtube_id}_{time_start:06d}_{time_end:06d}`, the Kinetics file stem.

    Example:
        >>> kinetics_video_id("abc", 14, 24)
        'abc_000014_000024'
    """
    return (
        f"{youtube_id}_{int(float(time_start)):06d}_{int(float(time_end)):06d}"
    )


def _index_videos(video_dir):
    """Maps file stem -> path for every video file under `video_dir`."""
    index = {}
    for root, dirs, files in os.walk(video_dir):
        dirs.sort()
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext.lower() in VIDEO_EXTENSIONS:
                index.setdefault(stem, os.path.join(root, name))
    return index


def _kinetics_header(path, lines):
    for line, fields in lines:
        columns = [c.strip() for c in fields]
        missing = [c for c in KINETICS_COLUMNS if c not in columns]
        if missing:
            raise AnnotationError(
                path,
                line,
                f"not a Kinetics CSV, missing column(s) {missing}",
                f"found {columns}",
            )
        return columns
    raise AnnotationError(path, None, "empty Kinetics CSV, no header")


def _kinetics_rows(rows, split):
    """`(line, row dict, start, end)` of the well-formed rows of `split`."""
    lines = iter(rows)
    columns = _kinetics_header(rows.path, lines)
    for line, fields in lines:
        if len(fields) != len(columns):
            rows.bad(
                line,
                COLUMN_COUNT,
                f"row has {len(fields)} columns, the header has "
                f"{len(columns)} ({', '.join(columns)})",
            )
            continue
        row = dict(zip(columns, fields, strict=True))
        if split is not None and row.get("split") != split:
            continue
        if not row["youtube_id"]:
            rows.bad(line, EMPTY_FIELD, "empty youtube_id")
            continue
        try:
            start = float(row["time_start"])
            end = float(row["time_end"])
        except ValueError:
            start = end = math.nan
        if not (math.isfinite(start) and math.isfinite(end)):
            rows.bad(
                line,
                BAD_TIME,
                "time_start/time_end must be numbers, got "
                f"{row['time_start']!r}, {row['time_end']!r}",
            )
            continue
        yield line, row, start, end


def read_kinetics_csv(csv_path, video_dir, *, split=None, bad_rows="error"):
    """Reads a Kinetics annotation CSV and finds its videos on disk.

    Args:
        csv_path: the CSV (`label,youtube_id,time_start,time_end,split`).
        video_dir: folder searched recursively for the video files.
        split: keep only rows whose `split` column equals this (e.g.
            "train", "validate"); None keeps all rows.
        bad_rows: "error": a malformed row (bad CSV quoting, a column count
            other than the header's, an empty `youtube_id`, non-numeric
            times, a video already on an earlier line) raises; "skip": it is
            logged, left out and listed in the result's `bad_rows`.

    Returns:
        An `Annotations` list of `VideoEntry`, in CSV order. A video not
        found on disk gets the path `video_dir/<video_id>.mp4`, which
        preparation reports as missing.

    Raises:
        FileNotFoundError: the CSV does not exist.
        AnnotationError: the CSV lacks a required column, or a bad row with
            `bad_rows="error"` (file and line named in the message).

    Example:
        >>> entries = read_kinetics_csv("kinetics400/validate.csv",
        ...                             "videos/")  # doctest: +SKIP
        >>> entries[0].video_id  # doctest: +SKIP
        '---QUuC4vJs_000084_000094'
    """
    rows = RowReader(csv_path, bad_rows)
    kept = list(_kinetics_rows(rows, split))
    index = _index_videos(video_dir)
    entries = []
    for line, row, start, end in kept:
        video_id = kinetics_video_id(row["youtube_id"], start, end)
        if rows.is_repeat(line, video_id):
            continue
        labels = (row["label"],) if row.get("label") else ()
        if video_id in index:
            entry = VideoEntry(index[video_id], video_id, labels)
        elif row["youtube_id"] in index:
            entry = VideoEntry(
                index[row["youtube_id"]], video_id, labels, start, end
            )
        else:
            path = os.path.join(video_dir, video_id + ".mp4")
            entry = VideoEntry(path, video_id, labels)
        entries.append(entry)
    return rows.result(entries)


def read_video_list(list_path, video_dir=None, *, bad_rows="error"):
    """Reads a `path,label[,label...]` list.

    Blank lines and lines starting with `#` are skipped, and so is a first
    line whose first field is `path` (a header). Relative paths are taken
    from `video_dir`, or from the list's folder when `video_dir` is None. The
    video id is the path relative to that folder, without extension.

    Args:
        list_path: the list file.
        video_dir: optional base folder of relative paths.
        bad_rows: "error": a malformed row (bad CSV quoting, an empty path,
            a video already on an earlier line) raises; "skip": it is logged,
            left out and listed in the result's `bad_rows`.

    Returns:
        An `Annotations` list of `VideoEntry`, in file order.

    Raises:
        FileNotFoundError: the list does not exist.
        AnnotationError: a bad row with `bad_rows="error"` (file and line
            named in the message).

    Example:
        >>> entries = read_video_list("charades_train.txt",
        ...                           "Charades_v1/")  # doctest: +SKIP
        >>> entries[0].labels  # doctest: +SKIP
        ('c092', 'c147')
    """
    base = video_dir if video_dir is not None else os.path.dirname(list_path)
    rows = RowReader(list_path, bad_rows, comments=True)
    entries = []
    for line, fields in rows:
        if line == 1 and fields[0].lower() == "path":
            continue
        if not fields[0]:
            rows.bad(line, EMPTY_FIELD, "empty video path")
            continue
        path = fields[0]
        full = path if os.path.isabs(path) else os.path.join(base, path)
        video_id = os.path.splitext(os.path.relpath(full, base))[0]
        if os.path.isabs(path):
            video_id = os.path.splitext(os.path.basename(path))[0]
        if rows.is_repeat(line, video_id):
            continue
        labels = tuple(x for x in fields[1:] if x)
        entries.append(VideoEntry(full, video_id, labels))
    return rows.result(entries)


def read_annotations(
    path,
    video_dir,
    *,
    split=None,
    format="auto",  # noqa: A002
    bad_rows="error",
):
    """Reads a Kinetics CSV or a `path,label` list.

    Args:
        path: the annotation file.
        video_dir: the video folder.
        split: Kinetics only: keep rows of this split.
        format: "kinetics", "list", or "auto" (Kinetics when the first line
            has the `youtube_id` column).
        bad_rows: "error" (a malformed row raises `AnnotationError`) or
            "skip" (logged, left out, listed in the result's `bad_rows`).

    Returns:
        An `Annotations` list of `VideoEntry` (`.bad_rows`: the `BadRow`s
        skipped).

    Raises:
        FileNotFoundError: `path` does not exist.
        AnnotationError: see `read_kinetics_csv` / `read_video_list`.

    Example:
        >>> entries = read_annotations("train.csv", "videos/",
        ...                            bad_rows="skip")  # doctest: +SKIP
        >>> [(r.line, r.reason) for r in entries.bad_rows]  # doctest: +SKIP
        [(7, 'malformed_csv')]
    """
    if format == "auto":
        fields = [x.strip() for x in first_line(path).split(",")]
        format = "kinetics" if "youtube_id" in fields else "list"  # noqa: A001
    if format == "kinetics":
        return read_kinetics_csv(
            path, video_dir, split=split, bad_rows=bad_rows
        )
    if format == "list":
        if split is not None:
            raise ValueError(
                f"split={split!r} applies to Kinetics CSVs only, {path} is a "
                "list"
            )
        return read_video_list(path, video_dir, bad_rows=bad_rows)
    raise ValueError(
        f"format must be 'auto', 'kinetics' or 'list', got {format!r}"
    )


# Label maps: the one reader and writer of class-name files.

LABEL_MAP_FILE = "label_map.json"


def _natural_key(text):
    return [int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", text)]


def build_label_map(entries):
    """Class name -> index for the labels used by `entries`.

    Names are sorted (the Kinetics convention: index = alphabetical rank,
    numbers in names compared as numbers).
    When every name is a non-negative integer written without leading zeros
    ("0", "7", "12"), the integer is the index (so "7" and "07" never share
    one).

    Args:
        entries: iterable of `VideoEntry` (anything with `labels`).

    Returns:
        A dict `{name: index}`.

    Example:
        >>> build_label_map([VideoEntry("a.mp4", "a", ("zumba",)),
        ...                  VideoEntry("b.mp4", "b", ("abseiling",))])
        {'abseiling': 0, 'zumba': 1}
    """
    names = {label for entry in entries for label in entry.labels}
    if names and all(n.isdecimal() and str(int(n)) == n for n in names):
        return {n: int(n) for n in sorted(names, key=int)}
    # Ties ("a1", "a01") are broken by the name: never by set order, which
    # changes with PYTHONHASHSEED from one process to the next.
    ranked = sorted(names, key=lambda n: (_natural_key(n), n))
    return {n: i for i, n in enumerate(ranked)}


def _checked_indices(label_map, path):
    """`{index: name}` of a label map; refuses non-integer or shared ones."""
    if not isinstance(label_map, dict):
        raise ValueError(
            f"a label map must be a JSON object name -> int, {path} (got a "
            f"{type(label_map).__name__})"
        )
    names = {}
    for name, index in label_map.items():
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(
                f"a label map must map names to int indices, {path} (the "
                f"index of label {name!r} must be an integer, got {index!r})"
            )
        if index in names:
            raise ValueError(
                f"two labels share an index, {path} (labels "
                f"{names[index]!r} and {name!r} share index {index})"
            )
        names[index] = name
    return names


def write_label_map(path, label_map):
    """Writes `{name: index}` as JSON, atomically (`fileio`).

    Raises:
        ValueError: an index is not an integer or two names share one.

    Example:
        >>> write_label_map("records/label_map.json",
        ...                 {"abseiling": 0})  # doctest: +SKIP
    """
    _checked_indices(label_map, path)
    text = json.dumps(label_map, indent=1, ensure_ascii=False)
    fileio.atomic_write_text(path, text + "\n")


def _read_text(path):
    """The text of a label file (UTF-8, a BOM dropped)."""
    path = os.fspath(path)
    if "://" in path:
        # Imported here: workers read local label files without TensorFlow.
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(errno.ENOENT, "label file not found", path)
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    else:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(
                errno.ENOENT, "label file not found", path
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"label file is not UTF-8, {path} ({error})") from None


def _parse_json(text, path):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        # RecursionError: arrays or objects nested too deep to parse.
        raise ValueError(
            f"label file looks like JSON but does not parse, {path} ({error})"
        ) from None


def read_label_map(path):
    """Reads a label map JSON (`{name: index}`, as `write_label_map` writes).

    Returns:
        A dict `{name: index}`.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: the file is not a JSON object of name -> integer, or two
            names share an index.

    Example:
        >>> label_map = read_label_map(
        ...     "records/label_map.json")  # doctest: +SKIP
    """
    label_map = _parse_json(_read_text(path), path)
    _checked_indices(label_map, path)
    return label_map


def _names_in_index_order(label_map, path):
    names = _checked_indices(label_map, path)
    expected = list(range(len(names)))
    if sorted(names) != expected:
        missing = sorted(set(expected) - set(names))
        raise ValueError(
            f"label map indices must be 0..{len(names) - 1} with no gaps, "
            f"{path} (got {sorted(names)[:10]}..., missing {missing[:10]})"
        )
    return [names[index] for index in expected]


def load_label_names(path):
    """Reads class names from a label file, in index order.

    Three formats are accepted:
    - a JSON object `{"name": index, ...}` (indices 0..N-1, the Kinetics and
      PySlowFast label-map style, and `label_map.json`);
    - a JSON list `["name0", "name1", ...]`;
    - any other file: plain text, one name per line (blank lines ignored).

    Args:
        path: file path (local, or any `tf.io.gfile` path).

    Returns:
        A list of N strings, the name of class i at position i.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: the file is empty, or a JSON map has gaps, duplicate or
            non-integer indices.

    Example:

    ```python
    names = load_label_names("kinetics_400_labels.json")
    names[0]  # 'abseiling'
    ```
    """
    text = _read_text(path)
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        content = _parse_json(stripped, path)
        if isinstance(content, dict):
            names = _names_in_index_order(content, path)
        else:
            names = [str(name) for name in content]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ValueError(f"label file holds no class names, {path}")
    return names


def default_label_names(num_classes):
    """Returns `["class_0", ..., "class_<num_classes - 1>"]`.

    Example:

    >>> default_label_names(3)
    ['class_0', 'class_1', 'class_2']
    """
    return [f"class_{index}" for index in range(num_classes)]


def label_map_beside(file_pattern):
    """The `label_map.json` that `prepare_dataset` wrote beside some records.

    Args:
        file_pattern: a record file pattern, e.g. `records/val-*.tfrecord`.

    Returns:
        The path of `label_map.json` in the folder of the first matching
        file, or None when there is no such file.

    Example:
        >>> label_map_beside("records/val-*.tfrecord")  # doctest: +SKIP
        'records/label_map.json'
    """
    if not file_pattern:
        return None
    # Imported here: workers read local label files without TensorFlow.
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        return None
    path = os.path.join(os.path.dirname(files[0]), LABEL_MAP_FILE)
    return path if tf.io.gfile.exists(path) else None


def resolve_class_names(label_map=None, file_pattern=None, num_classes=None):
    """Class names and class count of a data set, checked against each other.

    Args:
        label_map: a label file (any format `load_label_names` reads), or
            None to look for `label_map.json` beside `file_pattern`'s
            records.
        file_pattern: the records the label map belongs to.
        num_classes: the class count if known (e.g. a flag), else None.

    Returns:
        `(names or None, num_classes)`.

    Raises:
        ValueError: the count is neither given nor found, or the label map
            disagrees with `num_classes`.

    Example:
        >>> names, count = resolve_class_names(
        ...     file_pattern="records/val-*")  # doctest: +SKIP
    """
    path = label_map or label_map_beside(file_pattern)
    names = load_label_names(path) if path else None
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
