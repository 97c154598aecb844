"""Annotation files and label maps (no TensorFlow).

Two inputs are read:

- a Kinetics CSV, `label,youtube_id,time_start,time_end,split` (extra columns
  such as `is_cc` are ignored; the test CSVs have no `label` column);
- a plain list, one video per line: `path,label[,label...]` (several labels
  for multi-label sets such as Charades; no label for unlabelled videos).

Kinetics videos are found on disk the way the ActivityNet crawler and the
CVDF mirror name them: `{youtube_id}_{time_start:06d}_{time_end:06d}.<ext>`,
in any sub-folder of the video folder (e.g. `train/<label>/`). Such a file is
already trimmed and is used whole. A file named only `{youtube_id}.<ext>` is
taken to be the full YouTube video, and the annotation's time range is cut
from it.
"""

import csv
import dataclasses
import json
import os
import re

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


def read_kinetics_csv(csv_path, video_dir, *, split=None):
    """Reads a Kinetics annotation CSV and finds its videos on disk.

    Args:
        csv_path: the CSV (`label,youtube_id,time_start,time_end,split`).
        video_dir: folder searched recursively for the video files.
        split: keep only rows whose `split` column equals this (e.g.
            "train", "validate"); None keeps all rows.

    Returns:
        A list of `VideoEntry`, in CSV order. A video not found on disk gets
        the path `video_dir/<video_id>.mp4`, which preparation reports as
        missing.

    Raises:
        ValueError: the CSV lacks a required column (named in the message).

    Example:
        >>> entries = read_kinetics_csv("kinetics400/validate.csv",
        ...                             "videos/")  # doctest: +SKIP
        >>> entries[0].video_id  # doctest: +SKIP
        '---QUuC4vJs_000084_000094'
    """
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in KINETICS_COLUMNS if c not in columns]
        if missing:
            raise ValueError(
                f"{csv_path}: not a Kinetics CSV, missing column(s) "
                f"{missing}; found {columns}"
            )
        rows = [
            {k.strip(): (v or "").strip() for k, v in r.items()} for r in reader
        ]
    index = _index_videos(video_dir)
    entries = []
    for line, row in enumerate(rows, start=2):
        if split is not None and row.get("split") != split:
            continue
        try:
            start = float(row["time_start"])
            end = float(row["time_end"])
        except ValueError:
            raise ValueError(
                f"{csv_path}:{line}: time_start/time_end must be numbers, "
                f"got {row['time_start']!r}, {row['time_end']!r}"
            ) from None
        video_id = kinetics_video_id(row["youtube_id"], start, end)
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
    return entries


def read_video_list(list_path, video_dir=None):
    """Reads a `path,label[,label...]` list.

    Blank lines and lines starting with `#` are skipped, and so is a first
    line whose first field is `path` (a header). Relative paths are taken
    from `video_dir`, or from the list's folder when `video_dir` is None. The
    video id is the path relative to that folder, without extension.

    Args:
        list_path: the list file.
        video_dir: optional base folder of relative paths.

    Returns:
        A list of `VideoEntry`, in file order.

    Raises:
        ValueError: a line has an empty path, or two lines name one video.

    Example:
        >>> entries = read_video_list("charades_train.txt",
        ...                           "Charades_v1/")  # doctest: +SKIP
        >>> entries[0].labels  # doctest: +SKIP
        ('c092', 'c147')
    """
    base = video_dir if video_dir is not None else os.path.dirname(list_path)
    entries = []
    seen = {}
    with open(list_path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            fields = [x.strip() for x in row]
            if not fields or not any(fields) or fields[0].startswith("#"):
                continue
            if line == 1 and fields[0].lower() == "path":
                continue
            if not fields[0]:
                raise ValueError(f"{list_path}:{line}: empty video path")
            path = fields[0]
            full = path if os.path.isabs(path) else os.path.join(base, path)
            video_id = os.path.splitext(os.path.relpath(full, base))[0]
            if os.path.isabs(path):
                video_id = os.path.splitext(os.path.basename(path))[0]
            if video_id in seen:
                raise ValueError(
                    f"{list_path}:{line}: video {video_id!r} is also on "
                    f"line {seen[video_id]}"
                )
            seen[video_id] = line
            labels = tuple(x for x in fields[1:] if x)
            entries.append(VideoEntry(full, video_id, labels))
    return entries


def read_annotations(path, video_dir, *, split=None, format="auto"):  # noqa: A002
    """Reads a Kinetics CSV or a `path,label` list.

    Args:
        path: the annotation file.
        video_dir: the video folder.
        split: Kinetics only: keep rows of this split.
        format: "kinetics", "list", or "auto" (Kinetics when the first line
            has the `youtube_id` column).

    Returns:
        A list of `VideoEntry`.

    Example:
        >>> entries = read_annotations("train.csv", "videos/")  # doctest: +SKIP
    """
    if format == "auto":
        with open(path, encoding="utf-8") as f:
            header = f.readline()
        fields = [x.strip() for x in header.split(",")]
        format = "kinetics" if "youtube_id" in fields else "list"  # noqa: A001
    if format == "kinetics":
        return read_kinetics_csv(path, video_dir, split=split)
    if format == "list":
        if split is not None:
            raise ValueError(
                f"{path}: split={split!r} applies to Kinetics CSVs only"
            )
        return read_video_list(path, video_dir)
    raise ValueError(
        f"format must be 'auto', 'kinetics' or 'list', got {format!r}"
    )


def _natural_key(text):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def build_label_map(entries):
    """Class name -> index for the labels used by `entries`.

    Names are sorted (the Kinetics convention: index = alphabetical rank).
    When every name is a non-negative integer, the integer is the index.

    Args:
        entries: iterable of `VideoEntry`.

    Returns:
        A dict `{name: index}`.

    Example:
        >>> build_label_map([VideoEntry("a.mp4", "a", ("zumba",)),
        ...                  VideoEntry("b.mp4", "b", ("abseiling",))])
        {'abseiling': 0, 'zumba': 1}
    """
    names = {label for entry in entries for label in entry.labels}
    if names and all(n.isdigit() for n in names):
        return {n: int(n) for n in sorted(names, key=int)}
    return {n: i for i, n in enumerate(sorted(names, key=_natural_key))}


def write_label_map(path, label_map):
    """Writes `{name: index}` as JSON, atomically (temp file, then rename).

    Example:
        >>> write_label_map("records/label_map.json",
        ...                 {"abseiling": 0})  # doctest: +SKIP
    """
    indices = list(label_map.values())
    if len(set(indices)) != len(indices):
        raise ValueError(f"label map for {path} gives one index to two names")
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(label_map, f, indent=1, ensure_ascii=False, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def read_label_map(path):
    """Reads a label map JSON written by `write_label_map`.

    Returns:
        A dict `{name: index}`.

    Raises:
        ValueError: the file is not a JSON object of name -> integer.

    Example:
        >>> label_map = read_label_map(
        ...     "records/label_map.json")  # doctest: +SKIP
    """
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in data.values()
    ):
        raise ValueError(
            f"{path}: a label map must be a JSON object name -> int"
        )
    return data
