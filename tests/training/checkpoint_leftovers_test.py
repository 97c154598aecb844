"""A run killed in the middle of a checkpoint save leaves TensorFlow's
temporary shards (`it-N_temp/`, `state-N_temp/`); the next run removes them
and still restores the last complete checkpoint."""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from nonlocal_tf.training import checkpointing
from tests.training import subprocesses

# Saves a run's checkpoint again and again. The iterator holds a shuffle
# buffer of 64 MB, so each save spends a while writing its `_temp` shards.
SAVER = textwrap.dedent(
    """
    import sys
    import keras
    import tensorflow as tf
    from nonlocal_tf.training import checkpointing, strategy

    model_dir, steps = sys.argv[1], int(sys.argv[2])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    optimizer = keras.optimizers.SGD()
    optimizer.build(model.trainable_variables)
    blocks = tf.data.Dataset.range(1000).map(
        lambda i: tf.fill([1 << 20], tf.cast(i, tf.float32))
    )
    iterator = iter(blocks.shuffle(16, seed=0))
    next(iterator)
    info = strategy.worker_info(tf.distribute.get_strategy())
    run = checkpointing.RunCheckpoint(
        model_dir, model, optimizer, iterator, info, max_to_keep=2
    )
    print("restored", run.restore(), flush=True)
    for step in range(1, steps + 1):
        run.save(step)
        print("saved", step, flush=True)
    """
)


def _leftovers(model_dir):
    root = pathlib.Path(model_dir) / "checkpoints"
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.name.endswith("_temp") or p.name.startswith("checkpoint.tmp")
    )


def _kill_during_a_save(script, model_dir):
    """Starts the saver; SIGKILLs it in a save after the first one."""
    process = subprocess.Popen(
        [sys.executable, str(script), str(model_dir), "1000"],
        cwd=subprocesses.REPO_ROOT,
        env=subprocesses.environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + subprocesses.TIMEOUT
    try:
        while time.monotonic() < deadline and process.poll() is None:
            # After a first complete save, so that there is one to restore.
            done = list((model_dir / "checkpoints").glob("state-*.index"))
            if done and _leftovers(model_dir):
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
    return process.returncode


@pytest.mark.slow
def test_rerun_removes_what_a_killed_save_left(tmp_path):
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    model_dir = tmp_path / "run"
    for _ in range(5):  # the kill may land just after a save finished
        assert _kill_during_a_save(script, model_dir) == -signal.SIGKILL
        if _leftovers(model_dir):
            break
    left = _leftovers(model_dir)
    assert any(name.endswith("_temp") for name in left), left

    completed = subprocesses.run([sys.executable, str(script), model_dir, "0"])
    assert _leftovers(model_dir) == []
    restored = completed.stdout.split("restored ", 1)[1].split()[0]
    assert restored != "None"  # the last complete checkpoint still loads


def test_remove_stale_temporaries_keeps_the_checkpoints(tmp_path):
    (tmp_path / "it-8_temp").mkdir()
    (tmp_path / "it-8_temp" / "part-00000-of-00001.index").write_bytes(b"x")
    (tmp_path / "checkpoint.tmp1234").write_text("partial")
    kept = [tmp_path / "it-4.index", tmp_path / "checkpoint"]
    for path in kept:
        path.write_text("kept")
    removed = checkpointing.remove_stale_temporaries(str(tmp_path), "it")
    assert sorted(os.path.basename(p) for p in removed) == [
        "checkpoint.tmp1234",
        "it-8_temp",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint",
        "it-4.index",
    ]
