"""The generated colour-match videos: the label is in the pixels, and only in
the relation between the two squares."""

import json

import av
import numpy as np
import pytest

from nonlocal_tf.data import read_video_list
from nonlocal_tf.data import synthetic


def _decode(path):
    """All frames of a video as uint8 RGB, straight from PyAV."""
    with av.open(str(path)) as container:
        return np.stack(
            [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        )


def _patch(frame, square, radius=3):
    """Mean RGB of a small patch around the square's centre."""
    row, col = square.center
    patch = frame[row - radius : row + radius, col - radius : col + radius]
    return patch.reshape(-1, 3).mean(axis=0)


def _nearest_colour(rgb):
    names = list(synthetic.PALETTE)
    palette = np.array([synthetic.PALETTE[n] for n in names], np.float64)
    distances = np.linalg.norm(palette - rgb, axis=1)
    return names[int(np.argmin(distances))], float(distances.min())


def _chroma(rgb):
    return float(rgb.max() - rgb.min())


def _check_video_content(frames, video):
    """Asserts what the pixels say about both squares and returns the
    colour names read from the pixels."""
    read = []
    for square in (video.first, video.second):
        start, stop = square.frames
        names = set()
        for t in range(start, stop):
            name, distance = _nearest_colour(_patch(frames[t], square))
            assert distance < 45, (t, square, distance)
            names.add(name)
        assert names == {square.colour}, (names, square)
        read.append(names.pop())
        # Outside its frames the square's place shows no colour at all.
        outside = [t for t in range(len(frames)) if not start <= t < stop]
        for t in outside:
            assert _chroma(_patch(frames[t], square)) < 40, (t, square)
    return read


def test_generate_video_is_seeded():
    a = synthetic.generate_video(1, seed=[3, 4])
    b = synthetic.generate_video(1, seed=[3, 4])
    c = synthetic.generate_video(1, seed=[3, 5])
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.first == b.first and a.second == b.second
    assert not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("seed", range(6))
def test_label_is_the_colour_relation_in_the_decoded_video(tmp_path, seed):
    label = seed % 2
    video = synthetic.generate_video(label, seed=seed)
    path = synthetic.write_video(tmp_path / "v.mp4", video.frames)
    frames = _decode(path)
    config = synthetic.SyntheticConfig()
    assert frames.shape == (config.num_frames, config.height, config.width, 3)
    first, second = _check_video_content(frames, video)
    assert (first == second) == (label == synthetic.LABEL_MAP["same_colour"])
    assert video.class_name == synthetic.CLASS_NAMES[label]


def test_squares_are_far_apart_in_space_and_time():
    config = synthetic.SyntheticConfig()
    for seed in range(40):
        video = synthetic.generate_video(seed % 2, seed=seed)
        first, second = video.first, video.second
        assert first.frames == (0, config.first_frames)
        assert second.frames[0] - first.frames[1] == config.gap_frames > 0
        assert {first.corner, second.corner} in (
            {"top_left", "bottom_right"},
            {"top_right", "bottom_left"},
        )
        rows = abs(first.center[0] - second.center[0])
        cols = abs(first.center[1] - second.center[1])
        assert min(rows, cols) >= config.height // 2, (seed, first, second)


def test_each_square_alone_says_nothing_about_the_label():
    counts = {label: {"first": 0, "second": 0, "top": 0} for label in (0, 1)}
    per_label = 300
    for label in (0, 1):
        for i in range(per_label):
            video = synthetic.generate_video(label, seed=[label, i])
            counts[label]["first"] += video.first.colour == "red"
            counts[label]["second"] += video.second.colour == "red"
            counts[label]["top"] += video.first.corner.startswith("top")
    for key in ("first", "second", "top"):
        rates = [counts[label][key] / per_label for label in (0, 1)]
        # Both near 1/2: three standard errors of a 300-draw rate are 0.09.
        assert abs(rates[0] - rates[1]) < 0.12, (key, rates)


def test_make_dataset_lists_balanced_labels_read_from_the_pixels(tmp_path):
    data = synthetic.make_dataset(tmp_path, {"train": 6, "test": 3}, seed=7)
    assert data.counts() == {
        "train": {"different_colours": 3, "same_colour": 3},
        "test": {"different_colours": 2, "same_colour": 1},
    }
    assert json.loads((tmp_path / "label_map.json").read_text()) == {
        "different_colours": 0,
        "same_colour": 1,
    }
    for split, entries in data.entries.items():
        listed = read_video_list(data.lists[split])
        assert [(e.path, e.labels) for e in listed] == [
            (e.path, e.labels) for e in entries
        ]
        for index, entry in enumerate(listed):
            # Where the squares are comes from the generator; what colour
            # they are, and hence the label, is read from the file.
            truth = synthetic.generate_video(
                synthetic.LABEL_MAP[entry.labels[0]],
                seed=synthetic.video_seed(7, split, index),
            )
            first, second = _check_video_content(_decode(entry.path), truth)
            same = entry.labels == ("same_colour",)
            assert (first == second) == same, entry


def test_make_dataset_is_reproducible(tmp_path):
    a = synthetic.make_dataset(tmp_path / "a", {"train": 2}, seed=1)
    b = synthetic.make_dataset(tmp_path / "b", {"train": 2}, seed=1)
    c = synthetic.make_dataset(tmp_path / "c", {"train": 2}, seed=2)
    for x, y, z in zip(
        a.entries["train"], b.entries["train"], c.entries["train"], strict=True
    ):
        np.testing.assert_array_equal(_decode(x.path), _decode(y.path))
        assert not np.array_equal(_decode(x.path), _decode(z.path))


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="overlap in time"):
        synthetic.SyntheticConfig(first_frames=12, last_frames=13)
    with pytest.raises(ValueError, match="unknown palette colours"):
        synthetic.SyntheticConfig(palette=("red", "mauve"))
    with pytest.raises(ValueError, match="do not fit"):
        synthetic.SyntheticConfig(height=32, width=32)
    with pytest.raises(ValueError, match="label must be"):
        synthetic.generate_video(2, seed=0)
    with pytest.raises(ValueError, match="even height and width"):
        synthetic.write_video(
            tmp_path / "odd.mp4", np.zeros((2, 33, 32, 3), np.uint8)
        )
    with pytest.raises(ValueError, match="at least 1 video"):
        synthetic.make_dataset(tmp_path, {"train": 0})
    assert not list(tmp_path.glob("*.tmp-*"))


def test_a_failed_write_keeps_the_old_video_and_no_temporary(
    tmp_path, monkeypatch
):
    frames = synthetic.generate_video(0, seed=1).frames
    path = synthetic.write_video(tmp_path / "v.mp4", frames)
    before = (tmp_path / "v.mp4").read_bytes()

    class FailingFrames:
        """PyAV whose second frame cannot be encoded."""

        calls = 0

        @classmethod
        def from_ndarray(cls, array, format):
            cls.calls += 1
            if cls.calls == 2:
                raise OSError("disk full")
            return av.VideoFrame.from_ndarray(array, format=format)

    class FailingAv:
        open = staticmethod(av.open)
        VideoFrame = FailingFrames

    monkeypatch.setattr(synthetic, "av", FailingAv)
    with pytest.raises(OSError, match="disk full"):
        synthetic.write_video(path, frames[::-1].copy())
    assert (tmp_path / "v.mp4").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]
