"""A second train.py on a model_dir or export.py into a served model's
folder, while another process writes there: one `error:` line naming the
holder (program, purpose, pid, host), before any work (the inputs given
would fail later otherwise). Preparation takes its lock in
`prepare_dataset` (tests/data/prepare_lock_test.py); each program run here
costs a TensorFlow start-up."""

import os
import socket

import pytest

from nonlocal_tf import locks
from tests import cli_helpers
from tests import lock_holder

MODEL = ["--model=c2d_r50_8x8", "--width_per_group=2", "--num_classes=2"]


def _train(tmp_path):
    folder = tmp_path / "run"
    # Records that do not exist: refused before they are looked for.
    args = [
        *MODEL,
        f"--train_records={tmp_path / 'none-*'}",
        f"--model_dir={folder}",
        "--train_steps=1",
    ]
    return "train.py", folder, "training", args


def _export(tmp_path):
    folder = tmp_path / "models" / "m"
    args = [
        *MODEL,
        f"--export_dir={tmp_path / 'models'}",
        "--name=m",
        "--version=1",
    ]
    return "export.py", folder, "exporting m", args


@pytest.mark.parametrize("case", [_train, _export])
def test_a_second_writer_is_refused_naming_the_holder(case, tmp_path):
    program, folder, purpose, args = case(tmp_path)
    with lock_holder.held_elsewhere(folder, purpose) as holder:
        completed = cli_helpers.run_program(program, *args)
        cli_helpers.assert_user_error(
            completed,
            f"{folder} is in use by another writer",
            f"{lock_holder.PROGRAM} ({purpose})",
            f"pid {holder.pid} on host {socket.gethostname()}",
        )
        assert os.listdir(folder) == [locks.LOCK_FILE]  # nothing written
