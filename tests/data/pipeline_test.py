"""`build_dataset` on records of known content.

Index videos have uniform frames whose grey level names the frame, so every
clip tells which frames it holds; coordinate videos (R = 3 x, G = 4 y) tell
which pixels a crop holds.
"""

import logging
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import integrity
from nonlocal_tf.data import pipeline
from tests.data import helpers

# Frame counts of the 12 index videos, 3 per shard; video v has label v.
LENGTHS = [[5, 12, 40], [7, 20, 33], [9, 16, 25], [11, 30, 3]]
SMALL = ClipSpec(
    num_frames=4,
    sampling_rate=3,
    crop_size=32,
    jitter_scales=(40, 48),
    test_crop_size=40,
    num_test_clips=3,
)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    paths = []
    for s, lengths in enumerate(LENGTHS):
        videos = []
        for length in lengths:
            v = sum(len(x) for x in LENGTHS[:s]) + lengths.index(length)
            videos.append((f"v{v:02d}", helpers.index_video(length), [v]))
        paths.append(
            helpers.write_records(root / f"index-{s}.tfrecord", videos)
        )
    return paths


def length_of(video):
    return [n for lengths in LENGTHS for n in lengths][video]


def pattern(shards):
    return str(shards[0].parent / "index-*.tfrecord")


def build(shards, spec=SMALL, **kwargs):
    options = dict(num_classes=12, seed=0)
    options.update(kwargs)
    return pipeline.build_dataset(pattern(shards), spec, **options)


def test_train_clips_hold_the_window_frames(shards):
    dataset = build(shards, mode="train", batch_size=4)
    assert dataset.element_spec[0].shape.as_list() == [4, 4, 32, 32, 3]
    seen = set()
    for clips, labels in dataset.take(15):
        assert clips.dtype == tf.float32 and labels.dtype == tf.int32
        for clip, video in zip(clips.numpy(), labels.numpy(), strict=True):
            count = length_of(video)
            index = helpers.frame_indices(clip)
            start = index[0]
            # Caffe2: start in [0, max(F - 12, 0)], frames (s + 3 i) mod F.
            assert 0 <= start <= max(count - 12, 0)
            assert index.tolist() == [(start + 3 * i) % count for i in range(4)]
            seen.add(int(video))
    assert len(seen) == 12


def test_clips_per_video(shards):
    dataset = build(
        shards,
        mode="train",
        batch_size=3,
        clips_per_video=3,
        shuffle=False,
        repeat=False,
    )
    batches = list(dataset)
    assert len(batches) == 12  # every record once, 3 clips each
    starts = set()
    for clips, labels in batches:
        assert len(set(labels.numpy().tolist())) == 1  # one video per batch
        if length_of(int(labels[0])) > 20:
            starts.add(
                tuple(helpers.frame_indices(c)[0] for c in clips.numpy())
            )
    # The clips of one record have their own windows.
    assert any(len(set(s)) > 1 for s in starts)


def test_short_video_train_window_wraps(tmp_path):
    path = helpers.write_records(
        tmp_path / "short.tfrecord", [("s", helpers.index_video(5), [0])]
    )
    dataset = pipeline.build_dataset(
        str(path), SMALL, mode="train", batch_size=3, seed=1
    )
    clips, _ = next(iter(dataset))
    for clip in clips.numpy():
        assert helpers.frame_indices(clip).tolist() == [0, 3, 1, 4]
    clamped = pipeline.build_dataset(
        str(path),
        replace(SMALL, temporal_sampling="pyslowfast"),
        mode="train",
        batch_size=1,
        seed=1,
    )
    clips, _ = next(iter(clamped))
    # PySlowFast: linspace(0, 11, 4) = 0, 3.67, 7.33, 11 -> 0, 3, 7, 11,
    # clamped to F - 1 = 4.
    assert helpers.frame_indices(clips[0]).tolist() == [0, 3, 4, 4]


def _coordinate_video(num_frames=6, height=60, width=80):
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack([3 * x, 4 * y, np.full_like(x, 128)], -1).astype(np.uint8)
    return np.repeat(frame[None], num_frames, axis=0)


def test_train_crop_scale_and_flip_on_coordinate_frames(tmp_path):
    path = helpers.write_records(
        tmp_path / "coord.tfrecord", [("c", _coordinate_video(), [0])]
    )
    dataset = pipeline.build_dataset(
        str(path),
        ClipSpec(
            num_frames=2, sampling_rate=1, crop_size=32, jitter_scales=(40, 60)
        ),
        mode="train",
        batch_size=8,
        seed=3,
    )
    slopes_x = []
    for clips, _ in dataset.take(4):
        pixels = clips.numpy() * 57.375 + 114.75
        for clip in pixels:
            np.testing.assert_allclose(clip[0], clip[1], atol=1e-4)  # same crop
            j = np.arange(32) + 0.5
            sx, ix = np.polyfit(j, clip[0, 16, :, 0] / 3, 1)
            sy, iy = np.polyfit(j, clip[0, :, 16, 1] / 4, 1)
            # Window side = 32 * 60 / s for s in [40, 60]: 32 to 48 pixels,
            # i.e. 1 to 1.5 source pixels per output pixel; square.
            assert 1 - 0.03 <= abs(sx) <= 1.5 + 0.03
            assert sy == pytest.approx(abs(sx), abs=0.03)
            # The window lies inside the 60 x 80 frame.
            left = ix if sx > 0 else ix + 32 * sx
            assert -1 <= left and left + 32 * abs(sx) <= 80 + 1
            assert -1 <= iy and iy + 32 * sy <= 60 + 1
            slopes_x.append(sx)
    assert min(slopes_x) < 0 < max(slopes_x)  # both flipped and not
    sizes = 32 * np.abs(slopes_x)
    assert sizes.max() - sizes.min() > 5  # the scale jitter varies


def test_test_views_and_order(shards):
    dataset = build(shards, mode="test", batch_size=5)
    spec = dataset.element_spec
    assert spec["views"].shape.as_list() == [None, 9, 4, 40, 40, 3]
    ids, labels = [], []
    for batch in dataset:
        for views, label, video_id in zip(
            batch["views"].numpy(),
            batch["labels"].numpy(),
            batch["video_id"].numpy(),
            strict=True,
        ):
            video = int(video_id[1:])
            assert label == video
            count = length_of(video)
            for view in range(9):
                k = view // 3
                expected = [(k * count // 3 + 3 * i) % count for i in range(4)]
                assert helpers.frame_indices(views[view]).tolist() == expected
            ids.append(video_id.decode())
            labels.append(label)
    # Files are read round-robin, each in order, once.
    assert ids == [f"v{v:02d}" for v in (0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11)]


def test_test_crops_on_coordinate_frames(tmp_path):
    path = helpers.write_records(
        tmp_path / "coord.tfrecord", [("c", _coordinate_video(), [0])]
    )
    (element,) = pipeline.build_dataset(
        str(path),
        ClipSpec(
            num_frames=2, sampling_rate=1, num_test_clips=1, test_crop_size=40
        ),
        mode="test",
        batch_size=1,
    )
    pixels = element["views"].numpy()[0] * 57.375 + 114.75
    # 60 x 80 -> 40 x 53; crops at x = 0, 6, 12 ((53 - 40) // 2 = 6).
    j = np.arange(40)
    for crop, offset in enumerate([0, 6, 12]):
        source_x = (offset + j + 0.5) * 80 / 53 - 0.5
        source_y = (j + 0.5) * 60 / 40 - 0.5
        np.testing.assert_allclose(
            pixels[crop, 0, 20, :, 0], 3 * source_x, atol=3
        )
        np.testing.assert_allclose(
            pixels[crop, 1, :, 20, 1], 4 * source_y, atol=3
        )


def test_deterministic_given_a_seed(shards):
    def first(seed):
        batches = build(shards, mode="train", batch_size=3, seed=seed).take(3)
        return [(clips.numpy(), labels.numpy()) for clips, labels in batches]

    a, b, c = first(5), first(5), first(6)
    for (clips_a, labels_a), (clips_b, labels_b) in zip(a, b, strict=True):
        np.testing.assert_array_equal(clips_a, clips_b)
        np.testing.assert_array_equal(labels_a, labels_b)
    assert any(
        not np.array_equal(x[0], y[0]) or not np.array_equal(x[1], y[1])
        for x, y in zip(a, c, strict=True)
    )


def test_input_context_shards_by_file(shards):
    def ids(pipeline_id):
        context = tf.distribute.InputContext(
            num_input_pipelines=2,
            input_pipeline_id=pipeline_id,
            num_replicas_in_sync=2,
        )
        dataset = build(
            shards, mode="test", batch_size=2, input_context=context
        )
        return [v.decode() for b in dataset for v in b["video_id"].numpy()]

    first, second = ids(0), ids(1)
    assert not set(first) & set(second)
    assert sorted(first + second) == [f"v{v:02d}" for v in range(12)]
    # Pipeline 0 reads files 0 and 2, pipeline 1 files 1 and 3.
    assert sorted(first) == [f"v{v:02d}" for v in (0, 1, 2, 6, 7, 8)]
    context = tf.distribute.InputContext(
        num_input_pipelines=5, input_pipeline_id=0
    )
    with pytest.raises(ValueError, match="at least 5 shards"):
        build(shards, mode="train", input_context=context)


def test_multi_label_multi_hot(tmp_path):
    video = helpers.index_video(6)
    path = helpers.write_records(
        tmp_path / "multi.tfrecord",
        [("a", video, [0, 2]), ("b", video, []), ("c", video, [1])],
    )
    dataset = pipeline.build_dataset(
        str(path),
        SMALL,
        mode="test",
        multi_label=True,
        num_classes=3,
        batch_size=3,
    )
    (batch,) = list(dataset)
    np.testing.assert_array_equal(
        batch["labels"].numpy(), [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    )
    train = pipeline.build_dataset(
        str(path),
        SMALL,
        mode="train",
        multi_label=True,
        num_classes=3,
        batch_size=3,
        shuffle=False,
        seed=0,
    )
    _, labels = next(iter(train))
    assert labels.dtype == tf.float32 and labels.shape == (3, 3)


def _corrupt_file(path):
    """Good and bad records: {'good': ids in order, 'bad': count}."""
    good = helpers.index_video(8)
    with tf.io.TFRecordWriter(str(path)) as writer:

        def write(video_id, frames, labels=(0,)):
            from nonlocal_tf.data import features

            example = features.make_sequence_example(
                [
                    helpers.jpeg(f) if isinstance(f, np.ndarray) else f
                    for f in frames
                ],
                video_id=video_id,
                label_indices=labels,
            )
            writer.write(example.SerializeToString())

        write("good_a", good)
        writer.write(b"this is not a SequenceExample \x00\xff\x17")
        write("good_b", good)
        write("not_jpeg", [b"garbage, not a JPEG"] * 8)
        write("broken_jpeg", [b"\xff\xd8\xff\xe0" + b"\x13" * 64] * 8)
        write("good_c", good)
        write("bad_label", good, labels=(99,))
        write("negative_label", good, labels=(-3,))
        write("two_labels", good, labels=(0, 1))
        write("no_frames", [])
    return ["good_a", "good_b", "good_c"], 7


@pytest.mark.parametrize("mode", ["test", "train"])
def test_corrupt_records_are_skipped_counted_and_logged(tmp_path, caplog, mode):
    path = tmp_path / "corrupt.tfrecord"
    good, bad = _corrupt_file(path)
    counter = integrity.SkippedRecords()
    dataset = pipeline.build_dataset(
        str(path),
        SMALL,
        mode=mode,
        batch_size=1,
        num_classes=3,
        skipped_records=counter,
        shuffle=False,
        repeat=False,
        seed=0,
    )
    with caplog.at_level(logging.WARNING, logger="absl"):
        elements = list(dataset)
    if mode == "test":
        assert [e["video_id"].numpy()[0].decode() for e in elements] == good
    else:
        assert len(elements) == len(good)
    assert counter.count == bad
    messages = " ".join(r.getMessage() for r in caplog.records)
    # A garbage record (parse) before good_b, two bad JPEG records (decode)
    # before good_c, four bad records (parse) at the end of the file.
    assert "failed to parse, before record 2 of" in messages
    assert "(video 'good_b')" in messages
    assert "failed to decode" in messages
    assert f"failed to parse, at the end of {path}" in messages
    assert f"{bad} skipped so far" in messages


def test_crc_corruption_ends_that_file_only(tmp_path, shards):
    path = helpers.write_records(
        tmp_path / "crc.tfrecord",
        [(f"r{i}", helpers.index_video(6), [0]) for i in range(3)],
    )
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the second record
    path.write_bytes(bytes(data))
    dataset = pipeline.build_dataset(
        [str(path), str(shards[0])],
        SMALL,
        mode="test",
        batch_size=1,
        num_classes=12,
    )
    ids = [e["video_id"].numpy()[0].decode() for e in dataset]
    assert sorted(ids) == ["r0", "v00", "v01", "v02"]


def test_bad_arguments(shards, tmp_path):
    with pytest.raises(ValueError, match="no files match"):
        pipeline.build_dataset(str(tmp_path / "nothing-*"))
    with pytest.raises(ValueError, match="num_classes"):
        pipeline.build_dataset(pattern(shards), multi_label=True)
    with pytest.raises(ValueError, match="jitter_scales"):
        pipeline.build_dataset(
            pattern(shards), ClipSpec(crop_size=224, jitter_scales=(200, 320))
        )
    with pytest.raises(ValueError, match="mode"):
        pipeline.build_dataset(pattern(shards), mode="eval")
    with pytest.raises(ValueError, match="num_test_crops"):
        pipeline.build_dataset(pattern(shards), ClipSpec(num_test_crops=2))


def test_with_a_distribution_strategy(shards):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    distributed = strategy.distribute_datasets_from_function(
        lambda context: build(
            shards, mode="train", batch_size=2, input_context=context
        )
    )
    clips, labels = next(iter(distributed))
    assert clips.shape == (2, 4, 32, 32, 3)
    plain = strategy.experimental_distribute_dataset(
        build(shards, mode="test", batch_size=2)
    )
    batch = next(iter(plain))
    assert batch["views"].shape == (2, 9, 4, 40, 40, 3)
