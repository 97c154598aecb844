"""A bad value of any flag a user sets is named in its own error.

`train.py --epochs=-1` used to answer `epochs must be >= 1, got -1` after
TensorFlow had started and the records were counted (the issue saw
`train_steps must be >= 1, got -12`). Now each program's numeric and choice
flags are checked while the flags are parsed: absl's one line
`flag --<name>=<value>: <what is wrong>`, before TensorFlow is imported.

One interpreter per program parses every bad value (`flags.FLAGS(argv)`,
no TensorFlow, no training); one real run of train.py checks the line the
user sees.
"""

import json
import subprocess
import sys

import pytest

from tests import cli_helpers

# Parses each argument list of argv[2] (JSON) with the flags of program
# argv[1]; prints the error of each, or null where it parsed.
_PROBE = """
import importlib, json, sys
from absl import flags
importlib.import_module("nonlocal_tf.programs." + sys.argv[1])
errors = []
for args in json.loads(sys.argv[2]):
    try:
        flags.FLAGS(["program", *args])
        errors.append(None)
    except flags.Error as error:
        errors.append(str(error))
    flags.FLAGS.unparse_flags()
print(json.dumps(errors))
assert "tensorflow" not in sys.modules
"""

MODEL = ["--model=c2d_r50_8x8"]
CLIP_FLAGS = [
    "--num_frames=0",
    "--sampling_rate=-2",
    "--crop_size=0",
    "--test_crop_size=0",
    "--num_test_clips=0",
    "--num_test_crops=2",
    "--jitter_scales=300,200",
    "--jitter_scales=256",
    "--jitter_scales=a,b",
    "--temporal_sampling=middle",
    "--jpeg_dct_method=FAST",
]
MODEL_FLAGS = ["--width_per_group=0", "--num_classes=0"]
CASES = {
    "train": (
        [*MODEL, "--train_records=r-*", "--model_dir=run", "--train_steps=1"],
        [
            "--epochs=-1",
            "--epochs=0",
            "--train_steps=0",
            "--steps_per_epoch=0",
            "--batch_size_per_replica=0",
            "--num_train_examples=0",
            "--warmup_steps=-1",
            "--warmup_epochs=-0.5",
            "--base_learning_rate=0",
            "--lr_factor=0",
            "--lr_boundaries=5,3",
            "--lr_boundaries=0,3",
            "--lr_boundaries=x",
            "--lr_boundary_epochs=2,1.5",
            "--warmup_start_learning_rate=-1",
            "--end_learning_rate=-1",
            "--momentum=1",
            "--momentum=-0.1",
            "--weight_decay=-1e-4",
            "--head_learning_rate_multiplier=0",
            "--label_smoothing=1",
            "--dropout=1",
            "--seed=-1",
            "--seed=4294967296",
            "--checkpoint_every_steps=0",
            "--max_checkpoints=0",
            "--log_every_steps=0",
            "--schedule=linear",
            "--strategy=tpu",
            "--mixed_precision=fp16",
            *MODEL_FLAGS,
            *CLIP_FLAGS,
        ],
    ),
    "evaluate": (
        [*MODEL, "--test_records=r-*", "--output_dir=out"],
        [
            "--batch_size=0",
            "--view_batch_size=0",
            "--max_videos=0",
            *MODEL_FLAGS,
            *CLIP_FLAGS,
        ],
    ),
    "predict": (
        [*MODEL, "--video=v.mp4"],
        [
            "--short_side=-1",
            "--fps=0",
            "--view_batch_size=0",
            "--top_k=0",
            *MODEL_FLAGS,
        ],
    ),
    "export": (
        [*MODEL, "--export_dir=models"],
        ["--version=0", "--top_k=0", "--format=tflite", *MODEL_FLAGS],
    ),
    "prepare_data": (
        ["--video_dir=v", "--annotations=a.csv", "--output_dir=out"],
        [
            "--short_side=-1",
            "--fps=-30",
            "--num_shards=0",
            "--num_workers=-1",
            "--jpeg_qscale=1",
            "--jpeg_qscale=32",
            "--engine=spark",
        ],
    ),
}


def _parse(program, arg_lists):
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, program, json.dumps(arg_lists)],
        cwd=cli_helpers.REPO_ROOT,
        env=cli_helpers.program_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


@pytest.mark.parametrize("program", sorted(CASES))
def test_each_bad_value_names_its_flag(program):
    required, bad = CASES[program]
    errors = _parse(program, [required] + [[*required, arg] for arg in bad])
    assert errors[0] is None  # the defaults and the required flags parse
    for arg, error in zip(bad, errors[1:], strict=True):
        # absl's `flag --name=value: ...` (a list flag shows its items).
        name = arg.split("=", 1)[0]
        assert error is not None, f"{arg} was accepted"
        assert error.startswith(f"flag {name}="), (arg, error)
        assert "\n" not in error.strip(), error


def test_train_names_epochs_in_one_line_before_tensorflow():
    completed = cli_helpers.run_program(
        "train.py",
        *CASES["train"][0][:-1],
        "--epochs=-1",
        env=cli_helpers.program_env(TF_CPP_MIN_LOG_LEVEL=0),
    )
    line = cli_helpers.assert_user_error(completed, "flag --epochs=-1")
    assert line.startswith("error: flag --epochs=-1: -1 is not a positive")
    assert "train_steps" not in line
    # Refused while parsing: TensorFlow (which logs at level 0) never ran.
    assert "oneDNN" not in completed.stderr
