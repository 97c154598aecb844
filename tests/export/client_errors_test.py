"""The serving client on bad addresses and bad servers: one typed
`ServingError` subclass per way of failing, and one `error:` line from
`serving_client.py`."""

import concurrent.futures
import socket
import time
from concurrent import futures

import numpy as np
import pytest

from nonlocal_tf.export import client
from tests import cli_helpers
from tests.export import bad_serving

TIMEOUT = 1.0

# mode -> (error class, fragments of its message)
BAD_ANSWERS = {
    "garbage": (client.ServingResponseError, ["not JSON", "It works!"]),
    "empty": (client.ServingResponseError, ["empty answer"]),
    "latin1": (client.ServingResponseError, ["not UTF-8", "0xe9"]),
    "list": (client.ServingResponseError, ["JSON list, not an object"]),
    "close": (client.ServingConnectionError, ["closed the connection"]),
    "slow": (client.ServingTimeoutError, ["no answer within 1 s"]),
    "html_error": (
        client.ServingRejectedError,
        ["HTTP 503", "Service Unavailable"],
    ),
}


@pytest.fixture(scope="module")
def bad_server():
    with bad_serving.BadRestServer() as server:
        yield server


def _url(server, mode):
    return client.rest_predict_url(f"127.0.0.1:{server.port}", mode)


def _video():
    return {"video": client.prepare_video_input(np.zeros((2, 8, 8, 3)))}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("mode", sorted(BAD_ANSWERS))
def test_bad_answers_raise_typed_errors(bad_server, mode):
    error_class, fragments = BAD_ANSWERS[mode]
    url = _url(bad_server, mode)
    with pytest.raises(error_class) as caught:
        client.predict_rest(url, _video(), timeout=TIMEOUT)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in [url, *fragments]:
        assert fragment in message, message


def test_answer_without_top_k_outputs(bad_server):
    url = _url(bad_server, "no_top_k")
    outputs = client.predict_rest(url, _video(), timeout=TIMEOUT)
    assert set(outputs) == {"probabilities"}
    with pytest.raises(client.ServingResponseError) as caught:
        client.top_k_rows(outputs, url)
    message = str(caught.value)
    assert "lacks the output(s) ['top_k_labels', 'top_k_scores']" in message
    assert url in message and "['probabilities']" in message


@pytest.mark.parametrize(
    "server, fragment",
    [
        ("localhost:notaport", "bad port"),
        ("localhost:99999", "Port out of range"),
        ("http://", "no host"),
        ("ftp://example.com", "scheme 'ftp'"),
    ],
)
def test_bad_rest_addresses(server, fragment):
    with pytest.raises(client.ServingAddressError, match=fragment) as caught:
        client.rest_predict_url(server, "nl")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "target", ["localhost", "localhost:notaport", "localhost:0", ":8500"]
)
def test_bad_grpc_addresses(target):
    with pytest.raises(client.ServingAddressError, match="bad gRPC server"):
        client.predict_grpc(target, "nl", _video(), timeout=TIMEOUT)


def test_nothing_listening():
    url = client.rest_predict_url(f"127.0.0.1:{_free_port()}", "nl")
    with pytest.raises(client.ServingConnectionError, match="cannot reach"):
        client.predict_rest(url, _video(), timeout=TIMEOUT)
    target = f"127.0.0.1:{_free_port()}"
    with pytest.raises(client.ServingConnectionError, match=target):
        client.predict_grpc(target, "nl", _video(), timeout=TIMEOUT)


def test_grpc_timeout_and_missing_outputs():
    import grpc
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 - gRPC name
            if request.model_spec.name == "slow":
                time.sleep(3 * TIMEOUT)
            return predict_pb2.PredictResponse()  # no outputs at all

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        Servicer(), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        target = f"127.0.0.1:{port}"
        with pytest.raises(client.ServingTimeoutError, match=target):
            client.predict_grpc(target, "slow", _video(), timeout=TIMEOUT)
        outputs = client.predict_grpc(target, "nl", _video(), timeout=10)
        with pytest.raises(client.ServingResponseError, match="lacks"):
            client.top_k_rows(outputs, target)
    finally:
        server.stop(grace=None)


def test_bad_clip_files(tmp_path):
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"hello world")
    with pytest.raises(ValueError, match=r"not a \.npy array of pixels"):
        client.load_clip(junk)
    with pytest.raises(FileNotFoundError):
        client.load_clip(tmp_path / "missing.npy")


def test_program_prints_one_line(bad_server, tmp_path):
    clip = tmp_path / "clip.npy"
    np.save(clip, np.zeros((2, 8, 8, 3), np.uint8))
    cases = {
        "garbage": ["not JSON"],
        "empty": ["empty answer"],
        "latin1": ["not UTF-8"],
        "no_top_k": ["lacks the output(s)", "no_top_k"],
        "close": ["closed the connection"],
        "slow": ["no answer within 1 s"],
    }
    server = f"--server=127.0.0.1:{bad_server.port}"
    runs = {
        mode: ("--clip", clip, server, f"--model_name={mode}") for mode in cases
    }
    runs["bad_server"] = ("--clip", clip, "--server=localhost:notaport")
    cases["bad_server"] = ["bad REST server address", "notaport"]
    runs["bad_clip"] = ("--clip", tmp_path / "missing.npy", server)
    cases["bad_clip"] = ["No such file or directory", "missing.npy"]

    def run(mode):
        flags, clip_path, *rest = runs[mode]
        return cli_helpers.run_program(
            "serving_client.py",
            f"{flags}={clip_path}",
            *rest,
            f"--timeout={TIMEOUT}",
            timeout=120,
        )

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        completed = dict(zip(runs, pool.map(run, runs), strict=True))
    for mode, fragments in cases.items():
        cli_helpers.assert_user_error(completed[mode], *fragments)
