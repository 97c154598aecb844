"""Malformed annotation files: BOMs handled, bad rows named by file and line
(or skipped and listed), no row ever merged into another."""

import json
import pickle
import subprocess
import sys

import pytest

from nonlocal_tf.data import annotations
from nonlocal_tf.data.annotations import AnnotationError
from tests import cli_helpers
from tests.data import helpers

BOM = b"\xef\xbb\xbf"
KINETICS_HEADER = "label,youtube_id,time_start,time_end,split\n"


def _write(path, text, bom=False):
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.write_bytes((BOM if bom else b"") + data)
    return path


def test_bom_list_header_is_not_a_video(tmp_path):
    listing = _write(tmp_path / "list.csv", "path,label\na.mp4,x\n", bom=True)
    entries = annotations.read_annotations(listing, tmp_path)
    assert [(e.video_id, e.labels) for e in entries] == [("a", ("x",))]
    assert annotations.build_label_map(entries) == {"x": 0}


def test_bom_kinetics_rows_keep_their_labels(tmp_path):
    csv_path = _write(
        tmp_path / "k.csv",
        KINETICS_HEADER + "zumba,aaaaaaaaaaa,0,10,train\r\n",
        bom=True,
    )
    (entry,) = annotations.read_annotations(csv_path, tmp_path)
    assert entry.labels == ("zumba",)
    assert entry.video_id == "aaaaaaaaaaa_000000_000010"


def test_unterminated_quote_never_swallows_the_next_rows(tmp_path):
    listing = _write(
        tmp_path / "list.csv", 'a.mp4,x\n"b.mp4,y\nc.mp4,x\nd.mp4,y\n'
    )
    with pytest.raises(AnnotationError) as caught:
        annotations.read_video_list(listing)
    error = caught.value
    assert (error.path, error.line, error.reason) == (
        str(listing),
        2,
        "malformed_csv",
    )
    assert f"{listing}:2" in str(error) and "quote" in str(error)
    assert "--bad_annotation_rows=skip" in str(error)

    entries = annotations.read_video_list(listing, bad_rows="skip")
    assert [e.video_id for e in entries] == ["a", "c", "d"]
    (bad,) = entries.bad_rows
    assert (bad.line, bad.reason, bad.text) == (2, "malformed_csv", '"b.mp4,y')
    assert bad.as_dict()["path"] == str(listing)


@pytest.mark.parametrize(
    "row, reason, fragment",
    [
        ("x,ccccccccccc,0,10,train,0", "column_count", "row has 6 columns"),
        ("x,ccccccccccc,0,10", "column_count", "row has 4 columns"),
        ("x,ccccccccccc,0,ten,train", "bad_time", "'0', 'ten'"),
        ("x,ccccccccccc,nan,10,train", "bad_time", "'nan', '10'"),
        ("x,,0,10,train", "empty_field", "empty youtube_id"),
        ('x,"ccccccccccc,0,10,train', "malformed_csv", "quote"),
        ("y,aaaaaaaaaaa,0,10,train", "duplicate", "also on line 2"),
    ],
)
def test_bad_kinetics_rows(tmp_path, row, reason, fragment):
    csv_path = _write(
        tmp_path / "k.csv",
        KINETICS_HEADER + f"x,aaaaaaaaaaa,0,10,train\n{row}\n"
        "x,bbbbbbbbbbb,0,10,train\n",
    )
    with pytest.raises(AnnotationError, match=fragment) as caught:
        annotations.read_kinetics_csv(csv_path, tmp_path)
    assert (caught.value.line, caught.value.reason) == (3, reason)
    assert f"{csv_path}:3" in str(caught.value)
    entries = annotations.read_kinetics_csv(csv_path, tmp_path, bad_rows="skip")
    assert [e.video_id[:11] for e in entries] == ["aaaaaaaaaaa", "bbbbbbbbbbb"]
    assert [(b.line, b.reason) for b in entries.bad_rows] == [(3, reason)]


def test_duplicates_in_a_list_are_skipped_after_the_first(tmp_path):
    listing = _write(tmp_path / "list.csv", "a.mp4,x\nb.mp4,y\na.mp4,z\n")
    entries = annotations.read_video_list(listing, bad_rows="skip")
    assert [(e.video_id, e.labels) for e in entries] == [
        ("a", ("x",)),
        ("b", ("y",)),
    ]
    assert entries.bad_rows[0].detail == "video 'a' is also on line 1"


def test_a_line_that_is_not_utf8(tmp_path):
    listing = _write(tmp_path / "list.csv", b"a.mp4,x\nb\xe9.mp4,y\nc.mp4,x\n")
    with pytest.raises(AnnotationError, match="not UTF-8") as caught:
        annotations.read_annotations(listing, tmp_path)
    assert caught.value.line == 2
    entries = annotations.read_annotations(listing, tmp_path, bad_rows="skip")
    assert [e.video_id for e in entries] == ["a", "c"]


def test_missing_files_are_file_not_found(tmp_path):
    missing = tmp_path / "nope.csv"
    for read in (
        lambda: annotations.read_annotations(missing, tmp_path),
        lambda: annotations.read_kinetics_csv(missing, tmp_path),
        lambda: annotations.read_video_list(missing),
        lambda: annotations.read_label_map(missing),
    ):
        with pytest.raises(FileNotFoundError) as caught:
            read()
        assert caught.value.filename == str(missing)


def test_bad_policy_and_pickling(tmp_path):
    listing = _write(tmp_path / "list.csv", "a.mp4,x\n")
    with pytest.raises(ValueError, match="bad_rows must be one of"):
        annotations.read_video_list(listing, bad_rows="ignore")
    error = AnnotationError("f.csv", 3, "bad row", "a hint", "bad_time")
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.line, again.reason) == (
        str(error),
        3,
        "bad_time",
    )


def test_prepare_data_names_the_bad_row(tmp_path):
    listing = _write(tmp_path / "list.csv", 'a.mp4,x\n"b.mp4,y\nc.mp4,x\n')
    completed = cli_helpers.run_program(
        "prepare_data.py",
        f"--annotations={listing}",
        f"--video_dir={tmp_path}",
        f"--output_dir={tmp_path / 'records'}",
        "--num_workers=0",
        "--noprogress",
    )
    cli_helpers.assert_user_error(completed, f"{listing}:2", "quote")


def test_prepare_data_can_skip_bad_rows_and_report_them(tmp_path):
    for name in ("a.mp4", "c.mp4"):
        helpers.write_video(tmp_path / name, helpers.textured_frames(6, 32, 32))
    listing = _write(tmp_path / "list.csv", 'a.mp4,x\n"b.mp4,y\nc.mp4,x\n')
    completed = cli_helpers.run_program(
        "prepare_data.py",
        f"--annotations={listing}",
        f"--video_dir={tmp_path}",
        f"--output_dir={tmp_path / 'records'}",
        "--bad_annotation_rows=skip",
        "--num_workers=0",
        "--noprogress",
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert f"left out {listing}:2: malformed_csv" in completed.stdout
    report = json.loads(
        (tmp_path / "records" / "train_report.json").read_text()
    )
    assert report["written"] == 2  # a.mp4 and c.mp4: no row swallowed
    ((row),) = report["bad_annotation_rows"]
    assert (row["path"], row["line"], row["reason"]) == (
        str(listing),
        2,
        "malformed_csv",
    )


def test_cli_prints_the_annotation_error_as_one_line(tmp_path):
    """What prepare_data.py prints once it runs under cli.run."""
    listing = _write(tmp_path / "list.csv", 'a.mp4,x\n"b.mp4,y\nc.mp4,x\n')
    code = (
        "from nonlocal_tf import cli\n"
        "from nonlocal_tf.data import annotations\n"
        f"cli.run(lambda argv: annotations.read_annotations({str(listing)!r},"
        " '.'))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env=cli_helpers.program_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    cli_helpers.assert_user_error(
        completed, f"{listing}:2", "unterminated or stray quote"
    )
