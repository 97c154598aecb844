"""One training run per model_dir: a second is refused before anything is
built; a run killed with `kill -9` leaves a lock the next run takes over;
only the chief of a multi-worker job takes it."""

import os
import socket

import pytest

from nonlocal_tf import locks
from nonlocal_tf import training
from nonlocal_tf.training import trainer
from tests import lock_holder
from tests.training import tiny


def _config(model_dir):
    return training.TrainConfig(
        model_dir=str(model_dir),
        batch_size_per_replica=4,
        train_steps=1,
        progress_bar=False,
    )


def _never_built():
    pytest.fail("the model was built although the run was refused")


def test_a_second_run_is_refused_before_building(tmp_path):
    with lock_holder.held_elsewhere(tmp_path, "training") as holder:
        with pytest.raises(locks.LockedError) as refused:
            training.train(
                _config(tmp_path), _never_built, tiny.make_dataset_fn(4)
            )
        assert f"pid {holder.pid} on host {socket.gethostname()}" in str(
            refused.value
        )
        assert os.listdir(tmp_path) == [locks.LOCK_FILE]  # the holder's


def test_the_run_after_a_killed_one_takes_its_lock_over(tmp_path, caplog):
    with lock_holder.held_elsewhere(tmp_path, "training") as holder:
        lock_holder.kill(holder)
    assert (tmp_path / locks.LOCK_FILE).exists()
    with caplog.at_level("WARNING"):
        result = training.train(
            _config(tmp_path), tiny.tiny_model, tiny.make_dataset_fn(4)
        )
    assert result.step == 1
    assert f"pid {holder.pid}" in caplog.text and "Took over" in caplog.text
    assert not (tmp_path / locks.LOCK_FILE).exists()


def _info(is_chief):
    return training.WorkerInfo(
        num_workers=2,
        worker_index=0 if is_chief else 1,
        is_chief=is_chief,
        num_local_replicas=1,
        num_replicas=2,
    )


def test_only_the_chief_locks_the_shared_model_dir(tmp_path):
    with lock_holder.held_elsewhere(tmp_path, "training"):
        with trainer.model_dir_lock(str(tmp_path), _info(False)) as held:
            assert held is False  # a worker beside the holder's chief
        with pytest.raises(locks.LockedError):
            with trainer.model_dir_lock(str(tmp_path), _info(True)):
                pass
