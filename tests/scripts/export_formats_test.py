"""export.py --format and predict.py --exported, end to end.

The zoo's C2D_NLN_8x8_R50 with the PySlowFast fixture weights (width 8, 10
classes) classifies a generated video with --model; its ONNX export (float
clips) and its OpenVINO export taking uint8 frames (--input_kind=frames),
written by export.py, classify it with --exported (clip spec and class names
read from the export): the same probabilities and the same top-5.
"""

import json

import numpy as np
import pytest

from tests import cli_helpers
from tests.fixtures import PYSLOWFAST
from tests.scripts import helpers

pytestmark = pytest.mark.slow

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


@pytest.fixture(scope="module")
def keras_result(video, tmp_path_factory):
    output = tmp_path_factory.mktemp("keras") / "keras.json"
    stdout = helpers.run_script(
        "predict.py",
        f"--video={video}",
        "--short_side=0",
        *MODEL_FLAGS,
        *CLIP_FLAGS,
        f"--output_json={output}",
    )
    return stdout, json.loads(output.read_text())


@pytest.mark.parametrize(
    "format,input_kind,packages,described",
    [
        (
            "onnx",
            "video",
            ("tf2onnx", "onnxruntime"),
            "input  video: float32 (-1, 4, 32, 32, 3)",
        ),
        (
            "openvino",
            "frames",
            ("openvino",),
            "input  frames: uint8 (-1, 4, -1, -1, 3)",
        ),
    ],
)
def test_predict_exported_gives_the_keras_top5(
    video, keras_result, tmp_path, format, input_kind, packages, described
):
    for package in packages:
        pytest.importorskip(package)
    stdout = helpers.run_script(
        "export.py",
        *MODEL_FLAGS,
        *CLIP_FLAGS,
        f"--format={format}",
        f"--input_kind={input_kind}",
        f"--export_dir={tmp_path / 'models'}",
        "--name=c2d",
    )
    path = tmp_path / "models" / "c2d" / "1"
    assert f"{format}: {path}" in stdout
    assert described in stdout
    assert "output probabilities: float32 (-1, 10)" in stdout

    keras_out, expected = keras_result
    exported_out = helpers.run_script(
        "predict.py",
        f"--video={video}",
        "--short_side=0",
        f"--exported={path}",
        f"--output_json={tmp_path / 'exported.json'}",
    )
    result = json.loads((tmp_path / "exported.json").read_text())
    assert result["num_views"] == expected["num_views"] == 6
    assert result["clip_spec"] == expected["clip_spec"]
    np.testing.assert_allclose(
        result["probabilities"], expected["probabilities"], atol=1e-4
    )
    # The same top-5 lines (names from the export's labels.json).
    assert keras_out.splitlines()[1:] == exported_out.splitlines()[1:]
    assert [row["label"] for row in result["top_k"]] == [
        row["label"] for row in expected["top_k"]
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


def test_input_kind_is_refused_for_the_saved_model(tmp_path):
    completed = cli_helpers.run_program(
        "export.py",
        *MODEL_FLAGS,
        "--input_kind=frames",
        f"--export_dir={tmp_path}",
    )
    cli_helpers.assert_user_error(completed, "--input_kind", "classify_frames")
    assert list(tmp_path.iterdir()) == []
