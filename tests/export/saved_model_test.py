"""The export as TF Serving sees it: TF1 loader + sess.run in a process that
never imports nonlocal_tf, `saved_model_cli`, and the warm-up file."""

import re
import subprocess
import sys

import numpy as np
import pytest

from tests.export import helpers

OUTPUT_KEYS = {"probabilities", "top_k_scores", "top_k_indices", "top_k_labels"}


def _frames_rows(crop_size):
    """JPEG frames of sizes where the reference resize is exact."""
    rng = np.random.default_rng(7)
    two = 2 * crop_size
    sizes = [
        [(crop_size, crop_size), (two, two + 16), (crop_size, crop_size + 16)],
        [(two + 16, two), (crop_size + 16, crop_size), (two, two)],
    ]
    return [
        [
            helpers.encode_jpeg_pil(rng.integers(0, 256, (h, w, 3)))
            for h, w in row
        ]
        for row in sizes
    ]


@pytest.fixture(scope="module")
def served(exported, tmp_path_factory):
    """Runs every request of this module in one TF1-loader subprocess."""
    rng = np.random.default_rng(3)
    crop = exported.crop_size
    frames = helpers.frames_array(_frames_rows(crop))
    inputs = {
        "video": rng.uniform(0, 255, (2, 4, crop, crop + 8, 3)),
        "video_t6": rng.uniform(0, 255, (1, 6, 24, 24, 3)),
    }
    inputs = {key: value.astype(np.float32) for key, value in inputs.items()}
    calls = [
        {"id": key, "signature": "serving_default", "inputs": {"video": v}}
        for key, v in inputs.items()
    ]
    calls.append(
        {
            "id": "frames",
            "signature": "classify_frames",
            "inputs": {"frames": frames},
        }
    )
    bad = {
        "bad_rank": ("serving_default", "video", np.zeros((2, 8, 8, 3))),
        "bad_channels": (
            "serving_default",
            "video",
            np.zeros((1, 2, 8, 8, 1), np.float32),
        ),
        "bad_dtype": (
            "serving_default",
            "video",
            np.full((1, 2, 8, 8, 3), "x", dtype=object),
        ),
        "frames_bad_rank": ("classify_frames", "frames", frames[0]),
    }
    for key, (signature, name, value) in bad.items():
        calls.append(
            {"id": key, "signature": signature, "inputs": {name: value}}
        )
        if key != "bad_dtype":
            # As TF Serving feeds: no Python-side shape check.
            calls.append(
                {
                    "id": "raw_" + key,
                    "signature": signature,
                    "inputs": {name: value.astype(np.float32)}
                    if name == "video"
                    else {name: value},
                    "raw": True,
                }
            )
    calls.append(dict(calls[0], id="raw_video", raw=True))
    result = helpers.run_tf_serving_runner(
        exported.path,
        {"calls": calls, "warmup": True},
        str(tmp_path_factory.mktemp("runner")),
    )
    expected = {
        key: helpers.reference_probabilities(exported.model, value)
        for key, value in inputs.items()
    }
    expected["raw_video"] = expected["video"]
    expected["frames"] = helpers.reference_probabilities(
        exported.model, helpers.reference_frames_clip(frames, crop)
    )
    return result, expected


def test_runner_never_imports_the_project(served):
    result, _ = served
    assert result["project_modules"] == []


def test_signature_defs_as_tf_serving_reads_them(served):
    signatures = served[0]["signatures"]
    video = signatures["serving_default"]
    frames = signatures["classify_frames"]
    assert video["method"] == "tensorflow/serving/predict"
    assert frames["method"] == "tensorflow/serving/predict"
    assert video["inputs"]["video"][:2] == ("float32", (-1, -1, -1, -1, 3))
    assert frames["inputs"]["frames"][:2] == ("string", (-1, -1))
    for signature in (video, frames):
        outputs = signature["outputs"]
        assert set(outputs) == OUTPUT_KEYS
        assert outputs["probabilities"][:2] == ("float32", (-1, 7))
        assert outputs["top_k_scores"][:2] == ("float32", (-1, 5))
        assert outputs["top_k_indices"][:2] == ("int32", (-1, 5))
        assert outputs["top_k_labels"][:2] == ("string", (-1, 5))


@pytest.mark.parametrize("call", ["video", "video_t6", "frames", "raw_video"])
def test_probabilities_match_keras_model(served, call):
    result, expected = served
    outputs = result["calls"][call]["outputs"]
    np.testing.assert_allclose(
        outputs["probabilities"], expected[call], rtol=0, atol=1e-5
    )
    # The top-k outputs agree with the served probabilities.
    reference = helpers.reference_top_k(outputs["probabilities"], 5)
    for b, row in enumerate(reference):
        indices = [helpers.LABELS.index(label) for label, _ in row]
        np.testing.assert_array_equal(outputs["top_k_indices"][b], indices)
        np.testing.assert_allclose(
            outputs["top_k_scores"][b], [score for _, score in row], atol=0
        )
        labels = [label.decode("utf-8") for label in outputs["top_k_labels"][b]]
        assert labels == [label for label, _ in row]


def test_frames_signature_decodes_like_pil(served):
    # Same frames through the float signature would give the same answer;
    # here the reference is PIL decode + exact NumPy resize/crop.
    result, expected = served
    probabilities = result["calls"]["frames"]["outputs"]["probabilities"]
    assert probabilities.shape == (2, 7)
    np.testing.assert_allclose(probabilities, expected["frames"], atol=1e-5)


@pytest.mark.parametrize(
    "call, message",
    [
        ("bad_rank", r"Cannot feed value of shape \(2, 8, 8, 3\).*video"),
        ("bad_channels", r"Cannot feed value of shape \(1, 2, 8, 8, 1\)"),
        ("bad_dtype", r"could not convert string to float"),
        ("frames_bad_rank", r"Cannot feed value of shape \(3,\).*frames"),
    ],
)
def test_session_rejects_wrong_rank_and_dtype(served, call, message):
    outcome = served[0]["calls"][call]
    assert "error" in outcome, outcome
    assert re.search(message, outcome["error"], re.DOTALL), outcome["error"]


@pytest.mark.parametrize(
    "call, message",
    [
        (
            "raw_bad_rank",
            r"\[2,8,8,3\] is not compatible with.*\[\?,\?,\?,\?,3\]",
        ),
        ("raw_bad_channels", r"\[1,2,8,8,1\] is not compatible"),
        (
            "raw_frames_bad_rank",
            r"frames.*\[3\] is not compatible with.*\[\?,\?\]",
        ),
    ],
)
def test_graph_rejects_wrong_shapes_without_feed_checks(served, call, message):
    # TF Serving's C++ Session::Run does not compare fed shapes with the
    # signature; the graph's own check must catch them.
    outcome = served[0]["calls"][call]
    assert "error" in outcome, outcome
    assert re.search(message, outcome["error"], re.DOTALL), outcome["error"]


def test_warmup_requests_run_through_both_signatures(served, exported):
    warmup = served[0]["warmup"]
    assert len(warmup) >= 3
    assert {entry["signature"] for entry in warmup} == {
        "serving_default",
        "classify_frames",
    }
    for entry in warmup:
        assert "error" not in entry, entry
        assert entry["model_name"] == exported.name
        (batch,) = {shape[0] for shape in entry["input_shapes"].values()}
        assert entry["outputs"]["probabilities"].shape == (batch, 7)
        np.testing.assert_allclose(
            entry["outputs"]["probabilities"].sum(-1), 1.0, rtol=1e-5
        )


def test_saved_model_cli_lists_both_signatures(exported):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tensorflow.python.tools.saved_model_cli",
            "show",
            "--all",
            "--dir",
            exported.path,
        ],
        env=helpers.clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    text = completed.stdout

    def block(signature):
        start = text.index(f"signature_def['{signature}']")
        end = text.find("signature_def[", start + 1)
        return text[start : end if end > 0 else len(text)]

    video = block("serving_default")
    frames = block("classify_frames")
    assert re.search(
        r"inputs\['video'\] tensor_info:\s+dtype: DT_FLOAT\s+"
        r"shape: \(-1, -1, -1, -1, 3\)",
        video,
    ), video
    assert re.search(
        r"inputs\['frames'\] tensor_info:\s+dtype: DT_STRING\s+"
        r"shape: \(-1, -1\)",
        frames,
    ), frames
    for signature in (video, frames):
        for key, dtype, width in [
            ("probabilities", "DT_FLOAT", 7),
            ("top_k_scores", "DT_FLOAT", 5),
            ("top_k_indices", "DT_INT32", 5),
            ("top_k_labels", "DT_STRING", 5),
        ]:
            pattern = (
                rf"outputs\['{key}'\] tensor_info:\s+dtype: {dtype}\s+"
                rf"shape: \(-1, {width}\)"
            )
            assert re.search(pattern, signature), (key, signature)
        assert "Method name is: tensorflow/serving/predict" in signature
