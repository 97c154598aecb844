"""Kinetics CSVs and `path,label` lists (label maps: label_maps_test.py)."""

import pytest

from nonlocal_tf.data import annotations

KINETICS_CSV = """label,youtube_id,time_start,time_end,split,is_cc
abseiling,aaaaaaaaaaa,14,24,train,0
"zumba, dancing",bbbbbbbbbbb,0,10,train,0
abseiling,ccccccccccc,30,40,validate,0
abseiling,ddddddddddd,5,15,train,0
"""


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_kinetics_csv_finds_files_as_downloaders_name_them(tmp_path):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text(KINETICS_CSV)
    videos = tmp_path / "videos"
    # ActivityNet crawler layout: <split>/<label>/<id>_<start>_<end>.mp4.
    trimmed = _touch(
        videos / "train" / "abseiling" / "aaaaaaaaaaa_000014_000024.mp4"
    )
    # CVDF mirror layout: flat folder, same stem.
    flat = _touch(videos / "bbbbbbbbbbb_000000_000010.webm")
    # A full, untrimmed YouTube download: the time range is cut from it.
    full = _touch(videos / "full" / "ddddddddddd.mkv")
    entries = annotations.read_kinetics_csv(csv_path, videos, split="train")
    assert [e.video_id for e in entries] == [
        "aaaaaaaaaaa_000014_000024",
        "bbbbbbbbbbb_000000_000010",
        "ddddddddddd_000005_000015",
    ]
    assert entries[0] == annotations.VideoEntry(
        str(trimmed), "aaaaaaaaaaa_000014_000024", ("abseiling",)
    )
    assert entries[1].path == str(flat)
    assert entries[1].labels == ("zumba, dancing",)
    assert entries[1].start_time is None
    assert (entries[2].path, entries[2].start_time, entries[2].end_time) == (
        str(full),
        5.0,
        15.0,
    )
    everything = annotations.read_kinetics_csv(csv_path, videos)
    assert len(everything) == 4
    # Not on disk: a path that preparation reports as missing.
    assert everything[2].path == str(videos / "ccccccccccc_000030_000040.mp4")


def test_kinetics_test_csv_without_labels(tmp_path):
    csv_path = tmp_path / "test.csv"
    csv_path.write_text("youtube_id,time_start,time_end,split\nxyz,1,11,test\n")
    (entry,) = annotations.read_annotations(csv_path, tmp_path)
    assert entry.labels == ()
    assert entry.video_id == "xyz_000001_000011"


def test_not_a_kinetics_csv(tmp_path):
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("label,video,start\n")
    with pytest.raises(ValueError, match="youtube_id"):
        annotations.read_kinetics_csv(csv_path, tmp_path)


def test_video_list_multi_label(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(
        "path,labels\n"
        "# a comment\n"
        "a/one.mp4,c001,c005\n"
        "\n"
        "two.mp4\n"
        f"{tmp_path / 'abs' / 'three.mp4'},c002\n"
    )
    entries = annotations.read_annotations(listing, tmp_path / "videos")
    assert [e.video_id for e in entries] == ["a/one", "two", "three"]
    assert entries[0].path == str(tmp_path / "videos" / "a" / "one.mp4")
    assert entries[0].labels == ("c001", "c005")
    assert entries[1].labels == ()
    assert entries[2].path == str(tmp_path / "abs" / "three.mp4")
    # Without video_dir, relative paths are taken from the list's folder.
    again = annotations.read_video_list(listing)
    assert again[0].path == str(tmp_path / "a" / "one.mp4")


def test_video_list_duplicates_are_refused(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("a.mp4,x\nb.mp4,y\na.mp4,z\n")
    with pytest.raises(ValueError, match="line 1"):
        annotations.read_video_list(listing)
