"""Rows of annotation files: one CSV row per physical line, bad rows typed.

Annotation files (Kinetics CSVs, `path,label` lists) have one record per
line, and no field of theirs holds a line break, so each line is parsed on
its own: an unterminated quote is an error on its line and can never swallow
the lines after it. A UTF-8 byte order mark is dropped, `\\r\\n` endings are
accepted, and every line is decoded on its own, so a line that is not UTF-8
is named.

A bad row is an `AnnotationError` (a `ValueError` naming the file and line),
or, with `bad_rows="skip"`, logged, left out and listed as a `BadRow` in the
returned `Annotations` (a list of entries with a `bad_rows` attribute), for
the preparation report.

Example:
    >>> rows = RowReader("list.csv", bad_rows="skip")  # doctest: +SKIP
    >>> for line, fields in rows: ...  # doctest: +SKIP
"""

import csv
import dataclasses
import errno

from absl import logging

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
