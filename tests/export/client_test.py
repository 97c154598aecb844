"""REST and gRPC clients against in-process fakes of TF Serving."""

import base64
import os
import re
import subprocess
import sys

import av
import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.export import client
from tests import cli_helpers
from tests.export import fake_serving
from tests.export import helpers

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SCRIPT = os.path.join(REPO_ROOT, "scripts", "serving_client.py")
VIDEO_FRAMES = 10
VIDEO_HEIGHT, VIDEO_WIDTH = 32, 40
LINE = re.compile(r"^\s+(\d+)\. (.+)  (-?[0-9.]+)$")


@pytest.fixture(scope="module")
def rest_server(exported, loaded):
    with fake_serving.FakeRestServer(loaded, exported.name, 1) as server:
        yield server


@pytest.fixture(scope="module")
def grpc_server(exported, loaded):
    with fake_serving.FakeGrpcServer(loaded, exported.name, 1) as server:
        yield server


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    """A 10-frame 32x40 MPEG-4 video whose frames differ in brightness."""
    path = str(tmp_path_factory.mktemp("video") / "clip.mp4")
    rows = np.linspace(0, 30, VIDEO_HEIGHT)[:, None, None]
    cols = np.linspace(0, 30, VIDEO_WIDTH)[None, :, None]
    tint = np.array([1.0, 0.6, 0.3])[None, None, :]
    with av.open(path, "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height = VIDEO_WIDTH, VIDEO_HEIGHT
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "2"}
        for index in range(VIDEO_FRAMES):
            image = np.clip((rows + cols) * tint + 18 * index, 0, 255)
            frame = av.VideoFrame.from_ndarray(
                image.astype(np.uint8), format="rgb24"
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _decoded_video(path):
    """Every frame, decoded by PyAV here (not through the client)."""
    with av.open(path) as container:
        return np.stack(
            [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        )


def _run_script(*args):
    completed = subprocess.run(
        [sys.executable, SCRIPT, *args],
        cwd=REPO_ROOT,
        env=helpers.clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return completed


def _printed_top_k(stdout):
    rows = []
    for line in stdout.splitlines():
        if line.startswith("clip "):
            rows.append([])
        elif match := LINE.match(line):
            rows[-1].append((match[2], float(match[3])))
    return rows


def _assert_top_k_equal(actual, expected, atol=1e-5):
    assert len(actual) == len(expected)
    for actual_row, expected_row in zip(actual, expected, strict=True):
        assert [label for label, _ in actual_row] == [
            label for label, _ in expected_row
        ]
        np.testing.assert_allclose(
            [score for _, score in actual_row],
            [score for _, score in expected_row],
            atol=atol,
        )


def _clip(seed, shape):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.uint8)


def _frames_inputs(crop_size):
    rng = np.random.default_rng(11)
    rows = [
        [
            helpers.encode_jpeg_pil(rng.integers(0, 256, (h, w, 3)))
            for h, w in [
                (crop_size, crop_size + 6),
                (2 * crop_size,) * 2,
                (crop_size + 4, crop_size),
            ]
        ]
        for _ in range(2)
    ]
    return helpers.frames_array(rows)


# ------------------------------------------------------------ library


@pytest.mark.parametrize("request_format", ["columnar", "row"])
@pytest.mark.parametrize("signature", ["serving_default", "classify_frames"])
def test_rest_predict_matches_model(
    exported, rest_server, request_format, signature
):
    if signature == "serving_default":
        clip = _clip(0, (2, 3, 32, 36, 3)).astype(np.float32)
        inputs = {"video": client.prepare_video_input(clip)}
        expected = helpers.reference_probabilities(exported.model, clip)
    else:
        frames = _frames_inputs(exported.crop_size)
        inputs = {"frames": frames}
        expected = helpers.reference_probabilities(
            exported.model,
            helpers.reference_frames_clip(frames, exported.crop_size),
        )
    url = client.rest_predict_url(
        f"127.0.0.1:{rest_server.port}", exported.name, version=1
    )
    outputs = client.predict_rest(url, inputs, signature, request_format)

    body = rest_server.requests[-1]
    assert body["signature_name"] == signature
    assert ("inputs" if request_format == "columnar" else "instances") in body
    if signature == "classify_frames":
        if request_format == "columnar":
            sent = body["inputs"]["frames"]
        else:
            sent = [row["frames"] for row in body["instances"]]
        assert base64.b64decode(sent[0][0]["b64"]) == frames[0, 0]
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    _assert_top_k_equal(
        client.top_k_rows(outputs), helpers.reference_top_k(expected, 5)
    )


@pytest.mark.parametrize("signature", ["serving_default", "classify_frames"])
def test_grpc_predict_matches_model(exported, grpc_server, signature):
    if signature == "serving_default":
        clip = _clip(1, (1, 4, 32, 32, 3)).astype(np.float32)
        inputs = {"video": clip}
        expected = helpers.reference_probabilities(exported.model, clip)
    else:
        frames = _frames_inputs(exported.crop_size)
        inputs = {"frames": frames}
        expected = helpers.reference_probabilities(
            exported.model,
            helpers.reference_frames_clip(frames, exported.crop_size),
        )
    outputs = client.predict_grpc(
        f"127.0.0.1:{grpc_server.port}",
        exported.name,
        inputs,
        signature_name=signature,
        version=1,
    )
    assert grpc_server.requests[-1].model_spec.signature_name == signature
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    _assert_top_k_equal(
        client.top_k_rows(outputs), helpers.reference_top_k(expected, 5)
    )


def test_errors_come_back_clearly(exported, rest_server, grpc_server):
    rest = f"127.0.0.1:{rest_server.port}"
    clip = np.zeros((1, 2, 8, 8, 3), np.float32)
    with pytest.raises(client.ServingError, match="HTTP 404.*nope"):
        client.predict_rest(
            client.rest_predict_url(rest, "nope"), {"video": clip}
        )
    # A rank-4 clip reaches the graph, whose shape check names it.
    with pytest.raises(
        client.ServingError, match="(?s)HTTP 400.*video.*not compatible"
    ):
        client.predict_rest(
            client.rest_predict_url(rest, exported.name),
            {"video": clip[0]},
        )
    with pytest.raises(
        client.ServingError, match="(?s)INVALID_ARGUMENT.*string"
    ):
        client.predict_grpc(
            f"127.0.0.1:{grpc_server.port}",
            exported.name,
            {"frames": np.zeros((1, 2), np.float32)},
            signature_name="classify_frames",
        )


# ------------------------------------------------------------- script


def test_script_rest_clip_file(exported, rest_server, tmp_path):
    clip = _clip(2, (2, 4, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / "clip.npy", clip)
    completed = _run_script(
        f"--clip={tmp_path / 'clip.npy'}",
        f"--server=127.0.0.1:{rest_server.port}",
        f"--model_name={exported.name}",
        "--rest_format=row",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    expected = helpers.reference_top_k(
        helpers.reference_probabilities(exported.model, clip), 5
    )
    _assert_top_k_equal(_printed_top_k(completed.stdout), expected)


def test_script_rest_video_frames_signature(exported, rest_server, video_file):
    completed = _run_script(
        f"--video={video_file}",
        "--num_frames=4",
        "--signature=classify_frames",
        f"--server=http://127.0.0.1:{rest_server.port}",
        f"--model_name={exported.name}",
        "--model_version=1",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    sent = rest_server.requests[-1]["inputs"]["frames"]
    jpegs = helpers.frames_array(
        [[base64.b64decode(item["b64"]) for item in row] for row in sent]
    )
    # The client sent 4 frames evenly spaced over the 10 (0, 3, 6, 9), as
    # JPEGs of the video's own size.
    sent_frames = np.stack([helpers.decode_jpeg_pil(j) for j in jpegs[0]])
    video = _decoded_video(video_file)[[0, 3, 6, 9]]
    assert sent_frames.shape == video.shape
    errors = np.abs(sent_frames.astype(float) - video).mean(axis=(1, 2, 3))
    assert errors.max() < 3  # a neighbouring frame is 18 levels away
    expected = helpers.reference_probabilities(
        exported.model, helpers.reference_frames_clip(jpegs, 32)
    )
    _assert_top_k_equal(
        _printed_top_k(completed.stdout), helpers.reference_top_k(expected, 5)
    )


def test_script_grpc_video_goes_to_classify_frames(
    exported, grpc_server, video_file
):
    completed = _run_script(
        f"--video={video_file}",
        "--num_frames=4",
        "--protocol=grpc",
        f"--server=127.0.0.1:{grpc_server.port}",
        f"--model_name={exported.name}",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    request = grpc_server.requests[-1]
    assert request.model_spec.signature_name == "classify_frames"
    # The client resizes and crops nothing: whole 32x40 frames, as JPEG.
    jpegs = tf.make_ndarray(request.inputs["frames"])
    sent_frames = np.stack([helpers.decode_jpeg_pil(j) for j in jpegs[0]])
    video = _decoded_video(video_file)[[0, 3, 6, 9]]
    assert sent_frames.shape == video.shape == (4, 32, 40, 3)
    assert np.abs(sent_frames.astype(float) - video).mean() < 3
    # The server's crop: short side 32 = crop, centre columns 4..35.
    expected = helpers.reference_probabilities(
        exported.model, helpers.reference_frames_clip(jpegs, 32)
    )
    _assert_top_k_equal(
        _printed_top_k(completed.stdout), helpers.reference_top_k(expected, 5)
    )


def test_script_refuses_a_video_for_serving_default(video_file):
    completed = _run_script(
        f"--video={video_file}",
        "--signature=serving_default",
        "--server=127.0.0.1:1",
    )
    cli_helpers.assert_user_error(
        completed, "--video is sent to classify_frames", "--clip"
    )


def test_script_grpc_clip_as_jpeg_frames(exported, grpc_server, tmp_path):
    rows = np.linspace(0, 200, 32)[None, :, None, None]
    cols = np.linspace(0, 50, 48)[None, None, :, None]
    steps = np.array([0, 20, 40])[:, None, None, None]
    clip = np.broadcast_to(rows + cols + steps, (3, 32, 48, 3))
    clip = np.minimum(clip, 255).astype(np.uint8)
    np.save(tmp_path / "clip.npy", clip)
    completed = _run_script(
        f"--clip={tmp_path / 'clip.npy'}",
        "--signature=classify_frames",
        "--protocol=grpc",
        f"--server=127.0.0.1:{grpc_server.port}",
        f"--model_name={exported.name}",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    jpegs = tf.make_ndarray(grpc_server.requests[-1].inputs["frames"])
    assert jpegs.shape == (1, 3)
    decoded = np.stack([helpers.decode_jpeg_pil(j) for j in jpegs[0]])
    errors = np.abs(decoded.astype(float) - clip).mean(axis=(1, 2, 3))
    assert errors.max() < 3  # the frames differ by 20 levels
    expected = helpers.reference_probabilities(
        exported.model, helpers.reference_frames_clip(jpegs, 32)
    )
    _assert_top_k_equal(
        _printed_top_k(completed.stdout), helpers.reference_top_k(expected, 5)
    )


def test_script_reports_server_errors(exported, rest_server, tmp_path):
    np.save(tmp_path / "clip.npy", _clip(4, (2, 8, 8, 3)))
    completed = _run_script(
        f"--clip={tmp_path / 'clip.npy'}",
        f"--server=127.0.0.1:{rest_server.port}",
        "--model_name=missing",
    )
    cli_helpers.assert_user_error(completed, "HTTP 404", "missing")


def test_client_clip_is_whole_frames_evenly_spaced(video_file):
    # 4 of the 10 frames (0, 3, 6, 9), at the video's own size.
    clip = client.read_video_clip(video_file, 4)
    assert clip.shape == (4, 32, 40, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(
        clip, _decoded_video(video_file)[[0, 3, 6, 9]]
    )
    np.testing.assert_array_equal(
        client.evenly_spaced_indices(10, 4), [0, 3, 6, 9]
    )
    # More frames than the video has: neighbours repeat, in order.
    long = client.read_video_clip(video_file, 19)
    np.testing.assert_array_equal(long[::2], _decoded_video(video_file))
