"""Smoke run of `python -m benchmarks.long_video_memory` on tiny videos."""

import json

import av
import pytest

from benchmarks import long_videos
from tests.benchmarks import run_benchmark

SETTINGS = {"width": 64, "height": 48, "rate": 30, "preset": "ultrafast"}


@pytest.mark.slow
def test_benchmark_tiny(tmp_path):
    output = tmp_path / "bench.json"
    videos = tmp_path / "videos"
    run = run_benchmark(
        [
            "long_video_memory",
            "--lengths=4,2",
            "--width=160",
            "--height=120",
            f"--video_dir={videos}",
            f"--output={output}",
        ],
    )
    assert run.returncode == 0, run.stderr
    assert "sum growth MiB" in run.stdout
    report = json.loads(output.read_text())
    rows = report["results"]
    assert [r["length_s"] for r in rows] == [2, 4]
    for row, frames in zip(rows, (60, 120), strict=True):
        assert row["frames_in_video"] == frames
        assert row["frames_written"] == frames
        assert row["writer_peak_mib"] > 0
        assert row["decoder_peak_mib"] > 0
        assert row["tree_peak_mib"] >= row["writer_peak_mib"]
    assert rows[0]["tree_growth_mib"] == 0
    assert len(list(videos.iterdir())) == 2


def test_videos_are_generated_once(tmp_path):
    path, seconds = long_videos.cached_video(
        str(tmp_path), 1, {**SETTINGS, "crf": 28}
    )
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (64, 48)
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in container.decode(stream)) == 30
    assert seconds > 0
    mtime = tmp_path.joinpath(path).stat().st_mtime_ns
    again, seconds = long_videos.cached_video(
        str(tmp_path), 1, {**SETTINGS, "crf": 28}
    )
    assert (again, seconds) == (path, 0.0)
    assert tmp_path.joinpath(path).stat().st_mtime_ns == mtime
    # Other settings are another video; no partial file is left.
    other, _ = long_videos.cached_video(
        str(tmp_path), 1, {**SETTINGS, "crf": 30}
    )
    assert other != path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.rsplit("/", 1)[1], other.rsplit("/", 1)[1]]
    )
