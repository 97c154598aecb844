"""export.py --format=onnx and predict.py --exported, end to end.

The zoo's C2D_NLN_8x8_R50 with the PySlowFast fixture weights (width 8, 10
classes) classifies a generated video with --model; its ONNX export,
written by export.py, classifies it with --exported (clip spec and class
names read from the export): the same probabilities and the same top-5.
"""

import json

import numpy as np
import pytest

from tests import cli_helpers
from tests.fixtures import PYSLOWFAST
from tests.scripts import helpers

MODEL_FLAGS = (
    "--model=C2D_NLN_8x8_R50",
    f"--weights={PYSLOWFAST / 'c2d_nln_r50_w8_caffe2.pkl'}",
    "--width_per_group=8",
    "--num_classes=10",
)
CLIP_FLAGS = (
    "--num_frames=4",
    "--sampling_rate=2",
    "--test_crop_size=32",
    "--num_test_clips=2",
    "--num_test_crops=3",
)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    return helpers.colour_video(root / "green.mp4", 1, seed=4)


def test_predict_exported_onnx_gives_the_keras_top5(video, tmp_path):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    stdout = helpers.run_script(
        "export.py",
        *MODEL_FLAGS,
        *CLIP_FLAGS,
        "--format=onnx",
        f"--export_dir={tmp_path / 'models'}",
        "--name=c2d",
    )
    path = tmp_path / "models" / "c2d" / "1"
    assert f"onnx: {path}" in stdout
    assert "input  video: float32 (-1, 4, 32, 32, 3)" in stdout
    assert "output probabilities: float32 (-1, 10)" in stdout
    assert (path / "model.onnx").is_file()

    common = (f"--video={video}", "--short_side=0")
    keras_out = helpers.run_script(
        "predict.py",
        *common,
        *MODEL_FLAGS,
        *CLIP_FLAGS,
        f"--output_json={tmp_path / 'keras.json'}",
    )
    onnx_out = helpers.run_script(
        "predict.py",
        *common,
        f"--exported={path}",
        f"--output_json={tmp_path / 'onnx.json'}",
    )
    keras_result = json.loads((tmp_path / "keras.json").read_text())
    onnx_result = json.loads((tmp_path / "onnx.json").read_text())
    assert onnx_result["num_views"] == keras_result["num_views"] == 6
    assert onnx_result["clip_spec"] == keras_result["clip_spec"]
    np.testing.assert_allclose(
        onnx_result["probabilities"], keras_result["probabilities"], atol=1e-4
    )
    # The same top-5 lines (names from the export's labels.json).
    assert keras_out.splitlines()[1:] == onnx_out.splitlines()[1:]
    assert [row["label"] for row in onnx_result["top_k"]] == [
        row["label"] for row in keras_result["top_k"]
    ]


def test_saved_model_only_flags_are_refused_for_other_formats(tmp_path):
    completed = cli_helpers.run_program(
        "export.py",
        *MODEL_FLAGS,
        "--format=litert",
        "--top_k=3",
        f"--export_dir={tmp_path}",
    )
    cli_helpers.assert_user_error(completed, "--top_k", "saved_model")
    assert list(tmp_path.iterdir()) == []
