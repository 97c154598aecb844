"""Default vs MirroredStrategy (2 logical CPUs) vs 2-worker MWMS.

With the same global batch of 4, the runs see the same examples in each step
(one pipeline split over replicas, or two pipelines sharded by
`input_context`) and must follow the same loss trajectory and end with the
same weights, up to float summation order. The multi-worker run is also
killed mid-epoch and restarted, as a preempted cluster job would be.
"""

import signal
import subprocess

import numpy as np
import pytest

from nonlocal_tf import training
from tests.training import subprocesses
from tests.training import tiny

STEPS_PER_EPOCH = 6
# Losses agree to ~1e-7; weights after 6 steps at lr 0.1 to ~2e-6 (the
# all-reduce sums per-replica gradients in a different order). Different
# data in a step would move them by ~1e-2.
RTOL, ATOL = 1e-5, 1e-6
WEIGHTS_RTOL, WEIGHTS_ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """Two epochs on the default strategy; weights after each epoch."""
    model_dir = tmp_path_factory.mktemp("default")
    step_losses, epoch_weights = [], []
    config = training.TrainConfig(
        model_dir=str(model_dir),
        batch_size_per_replica=4,
        epochs=2,
        steps_per_epoch=STEPS_PER_EPOCH,
        base_learning_rate=0.1,
        lr_boundaries=[STEPS_PER_EPOCH],
        log_every_steps=2,
        progress_bar=False,
    )
    models = []

    def record(step, logs):
        step_losses.append(logs["loss"])
        if step % STEPS_PER_EPOCH == 0:
            epoch_weights.append([v.numpy() for v in models[0].variables])

    def model_fn():
        models.append(tiny.tiny_model())
        return models[0]

    training.train(
        config,
        model_fn,
        tiny.make_dataset_fn(4, shuffle=True, augment=True),
        callbacks=[record],
    )
    return {"step_losses": step_losses, "epoch_weights": epoch_weights}


def _assert_close_weights(weights, reference):
    assert len(weights) == len(reference)
    for got, expected in zip(weights, reference, strict=True):
        assert got == pytest.approx(
            expected, rel=WEIGHTS_RTOL, abs=WEIGHTS_ATOL
        )


def test_mirrored_two_logical_cpus_matches_default(tmp_path, default_run):
    result = tmp_path / "mirrored.json"
    subprocesses.run(
        subprocesses.command(
            tmp_path / "run",
            result,
            strategy="mirrored",
            logical_devices=2,
            batch_size_per_replica=2,
            shuffle=True,
            augment=True,
            epochs=1,
            steps_per_epoch=STEPS_PER_EPOCH,
        )
    )
    mirrored = subprocesses.load_result(result)
    assert mirrored["num_replicas"] == 2 and mirrored["step"] == 6
    assert mirrored["step_losses"] == pytest.approx(
        default_run["step_losses"][:6], rel=RTOL, abs=ATOL
    )
    _assert_close_weights(mirrored["weights"], default_run["epoch_weights"][0])


def _start_workers(tmp_path, sleep_per_step):
    ports = [subprocesses.free_port() for _ in range(2)]
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    processes = []
    for index in range(2):
        args = subprocesses.command(
            tmp_path / "run",
            tmp_path / f"worker_{index}.json",
            strategy="multi_worker",
            batch_size_per_replica=2,
            shuffle=True,
            augment=True,
            epochs=2,
            steps_per_epoch=STEPS_PER_EPOCH,
            checkpoint_every_steps=4,
            sleep_per_step=sleep_per_step,
        )
        env = subprocesses.environment(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        processes.append(
            subprocess.Popen(
                args,
                cwd=subprocesses.REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    return processes


def _kill_all(processes):
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
    for process in processes:
        process.wait(timeout=subprocesses.TIMEOUT)


@pytest.mark.slow
def test_two_workers_killed_and_resumed_match_default(tmp_path, default_run):
    processes = _start_workers(tmp_path, sleep_per_step=0.3)
    seen = []
    try:
        for line in processes[0].stdout:
            seen.append(line)
            if line.strip() == "step 7":  # mid-epoch 2; checkpoint at 6
                break
    finally:
        _kill_all(processes)
    assert "step 7\n" in seen, "".join(seen)[-3000:]
    checkpoints = tmp_path / "run" / "checkpoints"
    assert (checkpoints / "state-6.index").exists()

    processes = _start_workers(tmp_path, sleep_per_step=0.0)
    try:
        outputs = [
            process.communicate(timeout=subprocesses.TIMEOUT)[0]
            for process in processes
        ]
    finally:
        _kill_all(processes)
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-5000:]
    workers = [
        subprocesses.load_result(tmp_path / f"worker_{index}.json")
        for index in range(2)
    ]
    for worker in workers:
        assert worker["num_replicas"] == 2
        assert worker["resumed_from"] == 6
        assert worker["step"] == 12 and worker["optimizer_iterations"] == 12
        assert worker["step_losses"] == pytest.approx(
            default_run["step_losses"][6:], rel=RTOL, abs=ATOL
        )
    for got, expected in zip(
        workers[0]["weights"], workers[1]["weights"], strict=True
    ):
        np.testing.assert_array_equal(got, expected)
    _assert_close_weights(
        workers[0]["weights"], default_run["epoch_weights"][1]
    )
    # The chief wrote the state; each worker its own iterator position.
    assert (checkpoints / "state-12.index").exists()
    for index in range(2):
        assert (
            checkpoints / "data" / f"worker_{index}" / "it-12.index"
        ).exists()
    assert not list(checkpoints.glob(".tmp_worker_*"))
    assert (tmp_path / "run" / "final.weights.h5").exists()
