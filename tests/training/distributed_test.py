"""Default vs MirroredStrategy (2 logical CPUs) vs 2-worker MWMS.

With the same global batch of 4, the three runs see the same examples in
each step (one pipeline split over replicas, or two pipelines sharded by
`input_context`) and must follow the same loss trajectory and end with the
same weights, up to float summation order.
"""

import pytest

from nonlocal_tf import training
from tests.training import subprocesses
from tests.training import tiny

EPOCH = dict(epochs=1, steps_per_epoch=6)
# Losses agree to ~1e-7; weights after 6 steps at lr 0.1 to ~2e-6 (the
# all-reduce sums per-replica gradients in a different order). Different
# data in a step would move them by ~1e-2.
RTOL, ATOL = 1e-5, 1e-6
WEIGHTS_RTOL, WEIGHTS_ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("default")
    step_losses = []
    config = training.TrainConfig(
        model_dir=str(model_dir),
        batch_size_per_replica=4,
        base_learning_rate=0.1,
        lr_boundaries=[6],
        log_every_steps=2,
        progress_bar=False,
        **EPOCH,
    )
    result = training.train(
        config,
        tiny.tiny_model,
        tiny.make_dataset_fn(4, shuffle=True, augment=True),
        callbacks=[lambda step, logs: step_losses.append(logs["loss"])],
    )
    weights = [v.numpy() for v in result.model.variables]
    return {"step_losses": step_losses, "weights": weights, "step": result.step}


def _assert_same_run(run, reference):
    assert run["step"] == reference["step"] == 6
    assert run["step_losses"] == pytest.approx(
        reference["step_losses"], rel=RTOL, abs=ATOL
    )
    assert len(run["weights"]) == len(reference["weights"])
    for got, expected in zip(run["weights"], reference["weights"], strict=True):
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
            **EPOCH,
        )
    )
    mirrored = subprocesses.load_result(result)
    assert mirrored["num_replicas"] == 2
    _assert_same_run(mirrored, default_run)


def test_two_workers_match_each_other_and_default(tmp_path, default_run):
    ports = [subprocesses.free_port() for _ in range(2)]
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    processes, results = [], []
    for index in range(2):
        result = tmp_path / f"worker_{index}.json"
        results.append(result)
        args = subprocesses.command(
            tmp_path / "run",
            result,
            strategy="multi_worker",
            batch_size_per_replica=2,
            shuffle=True,
            augment=True,
            **EPOCH,
        )
        env = subprocesses.environment(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        processes.append(
            subprocesses.subprocess.Popen(
                args,
                cwd=subprocesses.REPO_ROOT,
                env=env,
                stdout=subprocesses.subprocess.PIPE,
                stderr=subprocesses.subprocess.STDOUT,
                text=True,
            )
        )
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=subprocesses.TIMEOUT)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-5000:]
    workers = [subprocesses.load_result(result) for result in results]
    assert [w["num_replicas"] for w in workers] == [2, 2]
    for got, expected in zip(
        workers[0]["weights"], workers[1]["weights"], strict=True
    ):
        assert got == pytest.approx(expected, rel=0, abs=0)
    _assert_same_run(workers[0], default_run)
    # Only the chief (worker 0) wrote the state; each worker its iterator.
    checkpoints = tmp_path / "run" / "checkpoints"
    assert (checkpoints / "state-6.index").exists()
    assert (checkpoints / "data" / "worker_0" / "it-6.index").exists()
    assert (checkpoints / "data" / "worker_1" / "it-6.index").exists()
    assert not list(checkpoints.glob(".tmp_worker_*"))
    assert (tmp_path / "run" / "final.weights.h5").exists()
