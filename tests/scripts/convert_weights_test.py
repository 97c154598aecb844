"""`convert_weights.py` on bad files, as a user runs it: one `error:` line,
exit 1, no traceback, nothing written, no code run. A head of other classes
(`--classes`, the old name of `--num_classes`) is refused the same way."""

import concurrent.futures
import os
import pickle

import pytest

from tests import cli_helpers
from tests.zoo import caffe2_spec


class _Hostile:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _cases(tmp_path):
    marker = tmp_path / "code_ran"
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    cut = tmp_path / "cut.pkl"
    with open(cut, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": list(range(1000))}}, f, protocol=2)
    cut.write_bytes(cut.read_bytes()[:100])
    hostile = tmp_path / "hostile.pkl"
    with open(hostile, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": _Hostile(marker)}}, f, protocol=2)
    ten_classes = caffe2_spec.write_caffe2_pickle(
        tmp_path / "ten_classes.pkl",
        caffe2_spec.random_blobs(
            caffe2_spec.blob_shapes(50, "c2d", width=4, classes=10), seed=1
        ),
    )
    return marker, {
        "missing": (tmp_path / "missing.pkl", "checkpoint file not found"),
        "empty": (empty, "empty checkpoint file (0 bytes)"),
        "truncated": (cut, "truncated or damaged pickle"),
        "hostile": (hostile, "refusing to unpickle posix.system"),
        "other head": (
            ten_classes,
            "pred_w: checkpoint (10, 128), model expects (7, 128)",
            "--classes=7",
        ),
    }


@pytest.mark.slow
def test_bad_checkpoints_give_one_line(tmp_path):
    marker, cases = _cases(tmp_path)
    output = tmp_path / "out.weights.h5"

    def run(case):
        path, _, *extra = cases[case]
        return cli_helpers.run_program(
            "convert_weights.py",
            "--model=c2d_r50_8x8",
            "--width_per_group=4",
            f"--checkpoint={path}",
            f"--output={output}",
            *extra,
        )

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        completed = dict(zip(cases, pool.map(run, cases), strict=True))
    for case, (path, fragment, *_) in cases.items():
        line = cli_helpers.assert_user_error(completed[case], fragment)
        assert str(path) in line, line
    assert not marker.exists()
    assert not output.exists()


@pytest.mark.slow
def test_to_preset_writes_a_preset_with_the_reference_outputs(tmp_path):
    import numpy as np

    from nonlocal_tf.models import VideoClassifier
    from tests.fixtures import PYSLOWFAST
    from tests.scripts import helpers
    from tests.testing import to_numpy

    preset = tmp_path / "presets" / "c2d_nl5_w8"
    helpers.run_script(
        "convert_weights.py",
        "--model=C2D_NLN_8x8_R50",
        "--width_per_group=8",
        f"--checkpoint={PYSLOWFAST / 'c2d_nln_r50_w8_caffe2.pkl'}",
        f"--to_preset={preset}",
    )
    assert not [p for p in os.listdir(preset.parent) if p.startswith(".")]
    card = (preset / "README.md").read_text()
    assert "c2d_nln_r50_w8_caffe2.pkl (caffe2)" in card
    model = VideoClassifier.from_preset(str(preset))
    with np.load(PYSLOWFAST / "c2d_nln_r50_w8_io64.npz") as data:
        clip, probs = data["input_nthwc"], data["probs"]
    # PySlowFast's own probabilities for the fixture input.
    np.testing.assert_allclose(to_numpy(model(clip)), probs, atol=1e-5)
    again = cli_helpers.run_program(
        "convert_weights.py",
        "--model=C2D_NLN_8x8_R50",
        "--width_per_group=8",
        f"--checkpoint={PYSLOWFAST / 'c2d_nln_r50_w8_caffe2.pkl'}",
        f"--to_preset={preset}",
    )
    cli_helpers.assert_user_error(again, str(preset), "exists")
