"""Checkpoint formats, head handling, conversion to .weights.h5."""

import os
import pickle
import subprocess
import sys

import keras
import numpy as np
import pytest

from nonlocal_tf import zoo
from nonlocal_tf.zoo import convert
from tests.fixtures import PYSLOWFAST
from tests.zoo import caffe2_spec

NAME = "c2d_r50_8x8"
WIDTH = 4


@pytest.fixture
def checkpoint(tmp_path):
    """A narrow c2d_baseline_8x8 checkpoint with a 10-class head."""
    shapes = caffe2_spec.blob_shapes(50, "c2d", width=WIDTH, classes=10)
    blobs = caffe2_spec.random_blobs(shapes, seed=11)
    path = caffe2_spec.write_caffe2_pickle(tmp_path / "c2d.pkl", blobs)
    return path, blobs


def _model(**kwargs):
    kwargs.setdefault("input_shape", (None, None, None, 3))
    return zoo.get_model(NAME, width_per_group=WIDTH, **kwargs)


def test_head_with_other_classes_is_skipped_only_when_asked(checkpoint):
    path, blobs = checkpoint
    # classes not given: the entry's 400 != the checkpoint's 10 -> refused.
    with pytest.raises(
        zoo.CheckpointMismatchError,
        match="pred_w: checkpoint"
        r" \(10, 128\), model expects \(400, 128\)",
    ):
        _model(weights=path)
    model = _model(weights=path, num_classes=7)
    report = zoo.load_weights(model, path, skip_mismatched_head=True)
    assert [name for name, _ in report.skipped] == ["pred_w", "pred_b"]
    assert "checkpoint head has 10 classes" in report.skipped[0][1]
    assert "num_classes=7" in report.summary()
    np.testing.assert_array_equal(
        np.asarray(model.get_layer("conv1").kernel),
        blobs["conv1_w"].transpose(2, 3, 4, 1, 0),
    )
    # Same class count: the head is loaded.
    model = _model(weights=path, num_classes=10)
    np.testing.assert_array_equal(
        np.asarray(model.get_layer("pred").bias), blobs["pred_b"]
    )


def test_without_top_the_head_is_skipped(checkpoint):
    path, _ = checkpoint
    model = _model(include_top=False, pooling="avg")
    report = zoo.load_weights(model, path)
    assert report.ok and len(report.skipped) == 2
    assert "include_top=False" in report.skipped[0][1]


def test_convert_then_load_weights_h5(checkpoint, tmp_path):
    path, _ = checkpoint
    out = tmp_path / "sub" / "c2d.weights.h5"
    report = convert.convert_checkpoint(NAME, path, out, width_per_group=WIDTH)
    assert report.ok and out.exists()
    assert os.listdir(out.parent) == ["c2d.weights.h5"]
    x = np.random.default_rng(0).normal(size=(1, 2, 32, 32, 3)).astype("f4")
    from_pkl = _model(weights=path, num_classes=10)
    from_h5 = _model(weights=str(out), num_classes=10)
    np.testing.assert_array_equal(
        np.asarray(from_pkl(x)), np.asarray(from_h5(x))
    )
    other = _model(num_classes=3)
    before = [keras.ops.convert_to_numpy(w.value) for w in other.weights]
    with (
        pytest.warns(UserWarning),
        pytest.raises(
            ValueError, match="does not fit model 'c2d_r50_8x8' .no weight was"
        ),
    ):
        zoo.load_weights(other, out)
    for w, b in zip(other.weights, before, strict=True):
        np.testing.assert_array_equal(np.asarray(w), b)


def test_failed_conversion_writes_nothing(checkpoint, tmp_path):
    path, _ = checkpoint
    out = tmp_path / "x.weights.h5"
    with pytest.raises(zoo.CheckpointMismatchError):
        convert.convert_checkpoint(
            "i3d_r50_8x8", path, out, width_per_group=WIDTH
        )
    assert os.listdir(tmp_path) == ["c2d.pkl"]
    with pytest.raises(ValueError, match="must end with '.weights.h5'"):
        convert.save_weights_atomic(_model(), tmp_path / "x.h5")


def test_convert_weights_script(checkpoint, tmp_path, repo_root):
    path, blobs = checkpoint
    out = tmp_path / "c2d.weights.h5"
    cmd = [
        sys.executable,
        str(repo_root / "scripts" / "convert_weights.py"),
        f"--model={NAME}",
        f"--checkpoint={path}",
        f"--output={out}",
        f"--width_per_group={WIDTH}",
        "--num_classes=10",
    ]
    result = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{len(blobs)} tensors loaded" in result.stdout
    assert out.exists()


def test_pyth_without_torch_names_the_extra(monkeypatch):
    fixture = str(PYSLOWFAST / "c2d_nln_r50_w8.pyth")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"pip install nonlocal-tf\[torch\]"):
        zoo.read_checkpoint(fixture)


def test_unsafe_or_unknown_files_are_refused(tmp_path):
    evil = tmp_path / "evil.pkl"
    with open(evil, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": os.getcwd}}, f, protocol=2)
    with pytest.raises(zoo.CheckpointFormatError, match="refusing to unpickle"):
        zoo.read_checkpoint(evil)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello world")
    with pytest.raises(zoo.CheckpointFormatError, match="unrecognised"):
        zoo.load_weights(_model(), junk)
    listed = tmp_path / "list.pkl"
    with open(listed, "wb") as f:
        pickle.dump([1, 2], f, protocol=2)
    with pytest.raises(zoo.CheckpointFormatError, match="expected a dict"):
        zoo.read_checkpoint(listed)
