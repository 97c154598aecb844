"""Version directories appear whole or not at all."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf import locks
from nonlocal_tf.export import saved_model
from nonlocal_tf.export import signatures
from nonlocal_tf.export import versions
from tests.export import helpers

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

# Exports a tiny model but stops for good once the SavedModel and the warm-up
# file are in the temp dir, just before the rename: the parent kills it there.
_CHILD = textwrap.dedent(
    """
    import sys, time
    from nonlocal_tf.export import saved_model, signatures
    from tests.export import helpers

    base_dir, marker = sys.argv[1:]
    write = signatures.write_warmup_file

    def write_then_hang(path, records):
        write(path, records)
        with open(marker, "w") as f:
            f.write(path)
        time.sleep(600)

    saved_model.signatures.write_warmup_file = write_then_hang
    saved_model.export_saved_model(
        helpers.tiny_classifier(), base_dir, "m", crop_size=8,
        from_logits=True,
    )
    """
)


def _entries(model_dir):
    return sorted(os.listdir(model_dir)) if os.path.isdir(model_dir) else []


def _export(base_dir, **kwargs):
    kwargs.setdefault("from_logits", True)
    kwargs.setdefault("crop_size", 8)
    kwargs.setdefault("warmup", False)
    return saved_model.export_saved_model(
        helpers.tiny_classifier(), str(base_dir), "m", **kwargs
    )


def test_killed_export_leaves_no_version_and_next_export_succeeds(tmp_path):
    marker = tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path), str(marker)],
        cwd=REPO_ROOT,
        env=helpers.clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the child never got there"
            time.sleep(0.1)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stderr.close()

    model_dir = tmp_path / "m"
    # Nothing but the temp dir and the killed export's lock file.
    lock_file, temp_name = _entries(model_dir)
    assert lock_file == locks.LOCK_FILE
    assert temp_name.startswith(saved_model.TMP_PREFIX)
    temp_dir = model_dir / temp_name
    # It was killed mid-export: a complete-looking SavedModel, not renamed.
    assert (temp_dir / "saved_model.pb").exists()
    assert (temp_dir / signatures.WARMUP_DIR / signatures.WARMUP_FILE).exists()

    path = _export(tmp_path)
    assert path == str(model_dir / "1")
    # The stale temp dir is gone, the lock was taken over and released.
    assert _entries(model_dir) == ["1"]
    clip = np.full((1, 3, 8, 8, 3), 100.0, np.float32)
    outputs = tf.saved_model.load(path).signatures["serving_default"](
        video=tf.constant(clip)
    )
    assert outputs["probabilities"].shape == (1, 7)


def test_failed_export_cleans_up(tmp_path, monkeypatch):
    def broken(path, records):
        raise OSError("disk full")

    monkeypatch.setattr(saved_model.signatures, "write_warmup_file", broken)
    with pytest.raises(OSError, match="disk full"):
        _export(tmp_path, warmup=True)
    assert _entries(tmp_path / "m") == []


def test_versions_increment_and_are_never_overwritten_silently(tmp_path):
    assert _export(tmp_path).endswith(os.sep + "1")
    assert _export(tmp_path).endswith(os.sep + "2")
    assert _export(tmp_path, version=7).endswith(os.sep + "7")
    assert _export(tmp_path).endswith(os.sep + "8")
    before = os.path.getmtime(tmp_path / "m" / "7" / "saved_model.pb")
    with pytest.raises(FileExistsError, match="Version 7 already exists"):
        _export(tmp_path, version=7)
    assert os.path.getmtime(tmp_path / "m" / "7" / "saved_model.pb") == before
    assert _entries(tmp_path / "m") == ["1", "2", "7", "8"]


def test_overwrite_replaces_a_version(tmp_path):
    _export(tmp_path, version=3, label_names=list("abcdefg"))
    path = _export(
        tmp_path, version=3, label_names=list("ABCDEFG"), overwrite=True
    )
    assert _entries(tmp_path / "m") == ["3"]
    outputs = tf.saved_model.load(path).signatures["serving_default"](
        video=tf.zeros([1, 3, 8, 8, 3])
    )
    assert all(label.isupper() for label in outputs["top_k_labels"][0].numpy())


def test_only_stale_temp_dirs_are_removed(tmp_path):
    model_dir = tmp_path / "m"
    host = versions._host_tag()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = model_dir / f"{saved_model.TMP_PREFIX}{host}-{dead.pid}-aa"
    alive = model_dir / f"{saved_model.TMP_PREFIX}{host}-{os.getpid()}-bb"
    other_host = model_dir / f"{saved_model.TMP_PREFIX}elsewhere-1-cc"
    for path in (stale, alive, other_host):
        path.mkdir(parents=True)
    removed = saved_model.remove_stale_temp_dirs(str(model_dir))
    assert removed == [str(stale)]
    assert sorted(_entries(model_dir)) == sorted([alive.name, other_host.name])
