"""In-process stand-ins for TF Serving's REST and gRPC front ends.

They speak the real protocols (tensorflow_serving/g3doc/api_rest.md and
`PredictionService.Predict` of tensorflow-serving-api) and run requests on
a SavedModel loaded with `tf.saved_model.load`. Every request is recorded
for the tests to inspect.
"""

import base64
import http.server
import json
import re
import threading
from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

_PREDICT_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?:predict$"
)


class ServingError(Exception):
    """An error answer: HTTP status (REST) and message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class _Model:
    """The served SavedModel: signature lookup and input checks."""

    def __init__(self, loaded, name, version):
        self.loaded = loaded
        self.name = name
        self.version = version

    def signature(self, signature_name):
        signature_name = signature_name or "serving_default"
        if signature_name not in self.loaded.signatures:
            raise ServingError(
                400,
                f'Serving signature name: "{signature_name}" not found in '
                "signature def",
            )
        return self.loaded.signatures[signature_name]

    def run(self, signature, inputs, coerce):
        """Runs the signature; `coerce` parses inputs as the signature's
        dtypes (REST JSON), else tensors keep their own dtype (gRPC)."""
        specs = signature.structured_input_signature[1]
        if set(inputs) != set(specs):
            raise ServingError(
                400,
                f"input size does not match signature: {sorted(inputs)} != "
                f"{sorted(specs)}",
            )
        try:
            tensors = {}
            for key, value in inputs.items():
                if coerce and specs[key].dtype == tf.string:
                    value = np.asarray(value, dtype=object)
                elif coerce:
                    value = np.asarray(value, specs[key].dtype.as_numpy_dtype)
                tensors[key] = tf.constant(value)
            outputs = signature(**tensors)
        except (tf.errors.OpError, TypeError, ValueError) as error:
            message = getattr(error, "message", str(error))
            raise ServingError(400, message) from error
        return {key: value.numpy() for key, value in outputs.items()}


def _decode_b64(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, dict):
        return {key: _decode_b64(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode_b64(item) for item in value]
    return value


def _encode_output(name, value):
    array = np.asarray(value)
    if array.dtype == object:
        if name.endswith("_bytes"):
            convert = lambda item: {"b64": base64.b64encode(item).decode()}  # noqa: E731
        else:
            convert = lambda item: item.decode("utf-8")  # noqa: E731
        return np.vectorize(convert, otypes=[object])(array).tolist()
    return array.tolist()


class LocalHttpServer:
    """An HTTP server with `handler` on a free local port, in a thread.

    A context manager: the server runs inside the `with` block.
    """

    def __init__(self, handler):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class FakeRestServer(LocalHttpServer):
    """`POST /v1/models/NAME[/versions/V]:predict`, row and columnar."""

    def __init__(self, loaded, name, version):
        self.model = _Model(loaded, name, version)
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                del args

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                try:
                    status, answer = 200, server.predict(self.path, body)
                except ServingError as error:
                    status, answer = error.code, {"error": str(error)}
                data = json.dumps(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler)

    def predict(self, path, body):
        match = _PREDICT_PATH.match(path)
        model = self.model
        if not match:
            raise ServingError(404, f"Malformed request: POST {path}")
        version = match["version"]
        if match["name"] != model.name or (
            version is not None and int(version) != model.version
        ):
            raise ServingError(
                404,
                f"Servable not found for request: {match['name']} "
                f"version {version or 'latest'}",
            )
        try:
            request = json.loads(body)
        except json.JSONDecodeError as error:
            raise ServingError(400, f"JSON Parse error: {error}") from error
        self.requests.append(request)
        signature = model.signature(request.get("signature_name"))
        names = list(signature.structured_input_signature[1])
        if "instances" in request:
            rows = [_decode_b64(row) for row in request["instances"]]
            if rows and isinstance(rows[0], dict):
                inputs = {key: [row[key] for row in rows] for key in rows[0]}
            else:
                inputs = {names[0]: rows}
            outputs = model.run(signature, inputs, coerce=True)
            batch = len(rows)
            predictions = [
                {
                    key: _encode_output(key, value[i])
                    for key, value in outputs.items()
                }
                for i in range(batch)
            ]
            return {"predictions": predictions}
        if "inputs" in request:
            payload = _decode_b64(request["inputs"])
            if not isinstance(payload, dict):
                payload = {names[0]: payload}
            outputs = model.run(signature, payload, coerce=True)
            return {
                "outputs": {
                    key: _encode_output(key, value)
                    for key, value in outputs.items()
                }
            }
        raise ServingError(
            400, "Missing 'instances' or 'inputs' key in the request."
        )


class _Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, model, requests):
        self.model = model
        self.requests = requests

    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        self.requests.append(request)
        model = self.model
        spec = request.model_spec
        if spec.name != model.name or (
            spec.HasField("version") and spec.version.value != model.version
        ):
            context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"Servable not found for request: {spec.name}",
            )
        try:
            signature = model.signature(spec.signature_name)
            inputs = {
                key: tf.make_ndarray(proto)
                for key, proto in request.inputs.items()
            }
            outputs = model.run(signature, inputs, coerce=False)
        except ServingError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = model.name
        response.model_spec.signature_name = spec.signature_name
        response.model_spec.version.value = model.version
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response


class FakeGrpcServer:
    """`tensorflow.serving.PredictionService/Predict` on a free port."""

    def __init__(self, loaded, name, version):
        self.requests = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _Servicer(_Model(loaded, name, version), self.requests),
            self.server,
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop(grace=None)
