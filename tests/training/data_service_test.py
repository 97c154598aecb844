"""Training input on the tf.data service: localhost dispatcher and workers."""

import json
import os
import subprocess
import sys

import pytest

from nonlocal_tf import data
from nonlocal_tf import training
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.training import data_service
from tests import cli_helpers
from tests.conftest import REPO_ROOT
from tests.data import helpers
from tests.training import subprocesses
from tests.training import tiny

SCRIPT = str(REPO_ROOT / "scripts" / "data_service.py")
NUM_SHARDS = 4


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("service_records")
    for s in range(NUM_SHARDS):
        videos = [
            (f"v{s}{i}", helpers.index_video(12), [(s + i) % tiny.NUM_CLASSES])
            for i in range(3)
        ]
        if s == 0:  # a record the workers must skip, not fail on
            videos.append(("bad", [b"not a jpeg"] * 12, [0]))
        helpers.write_records(folder / f"train-{s}.tfrecord", videos)
    return str(folder / "train-*.tfrecord")


def _start(*flags):
    process = subprocess.Popen(
        [sys.executable, SCRIPT, *flags],
        env=subprocesses.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline()  # printed once the server runs
    assert line, f"{flags} did not start"
    return process


@pytest.fixture(scope="module")
def service():
    port = subprocesses.free_port()
    processes = [
        _start(
            "--role=dispatcher", f"--port={port}", "--worker_timeout_ms=2000"
        )
    ]
    try:
        for _ in range(2):
            processes.append(
                _start(
                    "--role=worker",
                    f"--port={subprocesses.free_port()}",
                    f"--dispatcher=localhost:{port}",
                )
            )
        yield {"address": f"grpc://localhost:{port}", "workers": processes[1:]}
    finally:
        for process in processes:
            process.kill()
            process.wait()


def _dataset_fn(pattern, global_batch_size):
    def dataset_fn(context):
        return data.build_dataset(
            pattern,
            ClipSpec(
                num_frames=tiny.CLIP_SHAPE[0],
                sampling_rate=2,
                crop_size=tiny.CLIP_SHAPE[1],
                jitter_scales=(8, 10),
            ),
            mode="train",
            num_classes=tiny.NUM_CLASSES,
            batch_size=context.get_per_replica_batch_size(global_batch_size),
            input_context=context,
            seed=0,
        )

    return dataset_fn


def _train(model_dir, pattern, address, steps, callbacks=()):
    config = training.TrainConfig(
        model_dir=str(model_dir),
        batch_size_per_replica=2,
        train_steps=steps,
        checkpoint_every_steps=4,
        log_every_steps=4,
        progress_bar=False,
    )
    dataset_fn = data_service.service_dataset_fn(
        _dataset_fn(pattern, 2), address
    )
    return training.train(
        config, tiny.tiny_model, dataset_fn, callbacks=callbacks
    )


@pytest.mark.slow
def test_short_run_to_the_end_and_resume(records, service, tmp_path):
    result = _train(tmp_path, records, service["address"], 8)
    assert result.step == 8
    assert os.path.exists(result.weights_path)
    checkpoints = tmp_path / "checkpoints"
    assert (checkpoints / "state-8.index").exists()
    # No data checkpoint pretends to hold the service's position.
    assert not (checkpoints / "data").exists()
    resumed = _train(tmp_path, records, service["address"], 12)
    assert resumed.resumed_from == 8
    assert resumed.step == 12


@pytest.mark.slow
def test_training_goes_on_when_a_worker_dies(records, service, tmp_path):
    victim = service["workers"][0]

    def kill_a_worker(step, logs):
        if step == 3:
            victim.kill()
            victim.wait()

    result = _train(
        tmp_path, records, service["address"], 30, callbacks=[kill_a_worker]
    )
    assert victim.poll() is not None
    assert service["workers"][1].poll() is None
    assert result.step == 30


def test_unreachable_dispatcher_is_a_typed_error():
    address = f"grpc://localhost:{subprocesses.free_port()}"
    with pytest.raises(data_service.DispatcherUnreachableError) as info:
        data_service.service_dataset_fn(lambda c: None, address, timeout=0.5)
    assert address in str(info.value)
    assert "--role=dispatcher" in str(info.value)


@pytest.mark.slow
def test_train_program_names_the_unreachable_dispatcher(records, tmp_path):
    folder = os.path.dirname(records)
    with open(os.path.join(folder, "label_map.json"), "w") as f:
        json.dump({f"c{i}": i for i in range(tiny.NUM_CLASSES)}, f)
    address = f"grpc://localhost:{subprocesses.free_port()}"
    run = cli_helpers.run_program(
        "train.py",
        "--model=c2d_nl5_r50_8x8",
        f"--train_records={records}",
        f"--model_dir={tmp_path / 'run'}",
        f"--data_service={address}",
        "--train_steps=1",
        timeout=subprocesses.TIMEOUT,
    )
    cli_helpers.assert_user_error(run, f"{address} cannot be reached")
    assert not (tmp_path / "run" / "checkpoints").exists()
