"""One export at a time into a folder: a second export into the same
`<base>/<name>` (SavedModel) or the same folder (ONNX, OpenVINO, LiteRT) is
refused, naming the holder, before the model is touched. (The takeover of a
killed export's lock: `atomic_test.py`.)"""

import os

import pytest

from nonlocal_tf import locks
from nonlocal_tf.export import formats
from nonlocal_tf.export import saved_model
from tests import lock_holder


class Untouchable:
    """A model that fails the test if the export reads more of it than its
    class names (a plain attribute read, as `export_model` does first)."""

    class_names = None

    def __getattr__(self, name):
        pytest.fail(f"the refused export read model.{name}")


def test_a_second_saved_model_export_is_refused(tmp_path):
    model_dir = tmp_path / "m"
    with lock_holder.held_elsewhere(model_dir, "exporting m") as holder:
        with pytest.raises(locks.LockedError) as refused:
            saved_model.export_saved_model(
                Untouchable(), str(tmp_path), "m", version=1
            )
        assert f"pid {holder.pid}" in str(refused.value)
        assert "(exporting m)" in str(refused.value)
        assert os.listdir(model_dir) == [locks.LOCK_FILE]


def test_a_second_export_into_a_folder_is_refused(tmp_path):
    folder = tmp_path / "m"
    with lock_holder.held_elsewhere(folder, "exporting m") as holder:
        with pytest.raises(locks.LockedError, match=f"pid {holder.pid}"):
            formats.export_model(Untouchable(), folder / "2", "litert")
        assert os.listdir(folder) == [locks.LOCK_FILE]
