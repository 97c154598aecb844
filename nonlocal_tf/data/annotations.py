"""Annotation files: the videos to prepare and their labels (no TensorFlow).

Two inputs are read:

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

Rows are read one line at a time (`annotation_rows.py`): UTF-8 BOMs are
dropped, and a malformed row is an `AnnotationError` naming the file and
line, or, with `bad_rows="skip"`, left out and listed in the result's
`bad_rows`; no row is ever merged into another.
"""

import dataclasses
import math
import os

from nonlocal_tf.data import annotation_rows
from nonlocal_tf.data.annotation_rows import BAD_TIME
from nonlocal_tf.data.annotation_rows import COLUMN_COUNT
from nonlocal_tf.data.annotation_rows import EMPTY_FIELD
from nonlocal_tf.data.annotation_rows import AnnotationError

# The label maps of the annotations live in `label_maps.py`; the names stay
# importable from here for the preparation programs.
from nonlocal_tf.data.label_maps import build_label_map  # noqa: F401
from nonlocal_tf.data.label_maps import read_label_map  # noqa: F401
from nonlocal_tf.data.label_maps import write_label_map  # noqa: F401

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
    rows = annotation_rows.RowReader(csv_path, bad_rows)
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
    rows = annotation_rows.RowReader(list_path, bad_rows, comments=True)
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
        fields = [
            x.strip() for x in annotation_rows.first_line(path).split(",")
        ]
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
