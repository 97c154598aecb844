"""Bad checkpoint files: typed errors naming the file, and no code ever runs
(pickles, `.pyth`, `.npz` built to run a command on load)."""

import os
import pickle

import numpy as np
import pytest

from nonlocal_tf import zoo
from tests.zoo import caffe2_spec


class _Hostile:
    """Unpickling this runs `touch <marker>`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def good_pickle(tmp_path):
    shapes = caffe2_spec.blob_shapes(50, "c2d", width=4, classes=10)
    blobs = caffe2_spec.random_blobs(shapes, seed=3)
    return caffe2_spec.write_caffe2_pickle(tmp_path / "good.pkl", blobs)


def test_missing_file_is_file_not_found(tmp_path):
    path = tmp_path / "nope.pkl"
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        zoo.read_checkpoint(path)
    with pytest.raises(FileNotFoundError) as caught:
        zoo.read_checkpoint(path)
    assert caught.value.filename == str(path)


def test_empty_and_truncated_files(tmp_path, good_pickle):
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    with pytest.raises(zoo.CheckpointFormatError, match="empty checkpoint"):
        zoo.read_checkpoint(empty)
    data = good_pickle.read_bytes()
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        zoo.CheckpointFormatError, match=r"truncated or damaged pickle, .*cut"
    ):
        zoo.read_checkpoint(cut)
    # A zip (torch / npz) cut short loses its central directory.
    archive = tmp_path / "state.npz"
    np.savez(archive, conv1_w=np.zeros((4, 3, 1, 7, 7), np.float32))
    zipped = archive.read_bytes()
    cut_zip = tmp_path / "cut.npz"
    cut_zip.write_bytes(zipped[: len(zipped) - 30])
    with pytest.raises(zoo.CheckpointFormatError, match="damaged zip archive"):
        zoo.read_checkpoint(cut_zip)


def test_object_arrays_are_refused(tmp_path):
    in_pickle = tmp_path / "objects.pkl"
    with open(in_pickle, "wb") as f:
        blobs = {"conv1_w": np.array([1, "x"], dtype=object)}
        pickle.dump({"blobs": blobs}, f, protocol=2)
    with pytest.raises(
        zoo.CheckpointFormatError, match="'conv1_w' holds object values"
    ):
        zoo.read_checkpoint(in_pickle)
    in_npz = tmp_path / "objects.npz"
    np.savez(in_npz, conv1_w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(
        zoo.CheckpointFormatError, match="refusing to load object array"
    ):
        zoo.read_checkpoint(in_npz)


@pytest.mark.parametrize("kind", ["pkl", "npz", "pyth"])
def test_hostile_files_never_run_code(tmp_path, kind):
    marker = tmp_path / "code_ran"
    path = tmp_path / f"hostile.{kind}"
    hostile = _Hostile(marker)
    if kind == "pkl":
        with open(path, "wb") as f:
            pickle.dump({"blobs": {"conv1_w": hostile}}, f, protocol=2)
        expected = "refusing to unpickle posix.system"
    elif kind == "npz":
        with open(path, "wb") as f:
            np.savez(f, conv1_w=np.array([hostile], dtype=object))
        expected = "refusing to load object array 'conv1_w'"
    else:
        torch = pytest.importorskip("torch")
        torch.save({"model_state": {"conv1": hostile}}, path)
        expected = "refusing to load a torch file that holds more than tensors"
    with pytest.raises(zoo.CheckpointFormatError, match=expected) as caught:
        zoo.read_checkpoint(path)
    assert str(path) in str(caught.value)
    assert not marker.exists()


def test_mismatch_names_the_first_problem_on_the_first_line(good_pickle):
    model = zoo.get_model(
        "c2d_r50_8x8",
        weights=None,
        input_shape=(None, None, None, 3),
        width_per_group=8,
        num_classes=10,
    )
    with pytest.raises(zoo.CheckpointMismatchError) as caught:
        zoo.load_weights(model, good_pickle)
    first = str(caught.value).splitlines()[0]
    assert f"checkpoint {good_pickle} does not match the model" in first
    assert "shape mismatch(es) (first: conv1_w: checkpoint (4, 3, 1, 7, 7)" in (
        first
    )
