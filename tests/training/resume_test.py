"""A run killed with SIGKILL mid-epoch and started again with the same
command ends with the weights and step count of an uninterrupted run."""

import signal
import subprocess

import numpy as np

from tests.training import subprocesses

FLAGS = dict(
    epochs=2,
    steps_per_epoch=6,
    checkpoint_every_steps=4,
    batch_norm=True,
    dropout=0.5,
    shuffle=True,
    augment=True,
    deterministic=True,
)


def _kill_after_step(args, step):
    process = subprocess.Popen(
        args,
        cwd=subprocesses.REPO_ROOT,
        env=subprocesses.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.strip() == f"step {step}":
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.wait(timeout=subprocesses.TIMEOUT)
    assert process.returncode == -signal.SIGKILL, "".join(seen)[-3000:]


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    reference_result = tmp_path / "reference.json"
    reference_process = subprocess.Popen(
        subprocesses.command(tmp_path / "reference", reference_result, **FLAGS),
        cwd=subprocesses.REPO_ROOT,
        env=subprocesses.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    result = tmp_path / "resumed.json"
    # Sleeping after each step keeps the run alive until the kill arrives.
    args = subprocesses.command(
        tmp_path / "run", result, sleep_per_step=0.15, **FLAGS
    )
    _kill_after_step(args, 7)  # mid-epoch 2; last checkpoint at step 6
    assert not result.exists()
    assert (tmp_path / "run" / "checkpoints" / "state-6.index").exists()
    assert not (tmp_path / "run" / "final.weights.h5").exists()

    subprocesses.run(args)
    resumed = subprocesses.load_result(result)
    output = reference_process.communicate(timeout=subprocesses.TIMEOUT)[0]
    assert reference_process.returncode == 0, output[-5000:]
    reference = subprocesses.load_result(reference_result)
    assert resumed["resumed_from"] == 6
    assert resumed["step"] == reference["step"] == 12
    assert resumed["optimizer_iterations"] == 12
    # The resumed process ran steps 7..12 only; they match the reference.
    assert resumed["step_losses"] == reference["step_losses"][6:]
    for got, expected in zip(
        resumed["weights"], reference["weights"], strict=True
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
