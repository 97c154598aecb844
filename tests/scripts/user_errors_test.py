"""Ordinary mistakes through the programs as a user runs them: one line.

The cases of the reliability issue not covered by the data, client and
checkpoint tests: a records glob that matches nothing (train, evaluate), a
missing video (predict, before any model is built) and an export onto an
existing version.
"""

import time

import pytest

from tests import cli_helpers

NOTHING = "/nonexistent/records/train-*"


@pytest.mark.parametrize(
    "program, flags",
    [
        ("train.py", [f"--train_records={NOTHING}", "--model_dir={tmp}/run"]),
        (
            "evaluate.py",
            [f"--test_records={NOTHING}", "--output_dir={tmp}/test"],
        ),
    ],
)
def test_a_glob_that_matches_nothing(program, flags, tmp_path):
    completed = cli_helpers.run_program(
        program,
        "--model=c2d_r50_8x8",
        "--width_per_group=2",
        *[flag.format(tmp=tmp_path) for flag in flags],
    )
    line = cli_helpers.assert_user_error(completed, "no files match", NOTHING)
    assert "label" not in line  # not blamed on a missing label map


def test_predict_names_the_missing_video_before_building(tmp_path):
    start = time.monotonic()
    completed = cli_helpers.run_program(
        "predict.py", f"--video={tmp_path / 'nope.mp4'}", "--model=c3d_nonsense"
    )
    cli_helpers.assert_user_error(completed, "--video", "nope.mp4")
    assert time.monotonic() - start < 120


@pytest.mark.slow
def test_export_onto_an_existing_version(tmp_path):
    existing = tmp_path / "models" / "m" / "3"
    existing.mkdir(parents=True)
    (existing / "saved_model.pb").write_bytes(b"")
    completed = cli_helpers.run_program(
        "export.py",
        "--model=c2d_r50_8x8",
        "--width_per_group=2",
        "--num_classes=2",
        f"--export_dir={tmp_path / 'models'}",
        "--name=m",
        "--version=3",
    )
    cli_helpers.assert_user_error(
        completed, "Version 3 already exists", str(existing), "--overwrite"
    )
    assert (existing / "saved_model.pb").read_bytes() == b""
