"""Request building and response parsing for TF Serving, REST and gRPC.

The REST helpers need only NumPy and the standard library; the gRPC helpers
import `tensorflow-serving-api` (and through it TensorFlow) when called.

REST (`POST http://host:8501/v1/models/NAME[/versions/V]:predict`):
- columnar format `{"signature_name": ..., "inputs": {"video": [...]}}`,
  answered with `{"outputs": {"probabilities": [...], ...}}`;
- row format `{"signature_name": ..., "instances": [{"video": ...}, ...]}`,
  answered with `{"predictions": [{"probabilities": ..., ...}, ...]}`;
- byte strings travel as `{"b64": "<base64>"}`; errors as `{"error": ...}`.

gRPC (port 8500): `PredictionService.Predict` with a `PredictRequest` whose
`inputs` are `TensorProto`s.
"""

import base64
import json
import urllib.error
import urllib.request

import numpy as np

DEFAULT_REST_PORT = 8501
DEFAULT_GRPC_PORT = 8500
VIDEO_SIGNATURE = "serving_default"
FRAMES_SIGNATURE = "classify_frames"
_GRPC_MESSAGE_LIMIT = 1 << 30


class ServingError(RuntimeError):
    """The server answered a request with an error."""


def prepare_video_input(clip):
    """Checks a clip and returns it as a float32 (B, T, H, W, 3) batch.

    Args:
        clip: array-like RGB values in [0, 255], shape (T, H, W, 3) for one
            clip or (B, T, H, W, 3) for a batch.

    Returns:
        A float32 NumPy array (B, T, H, W, 3).

    Raises:
        ValueError: for another rank, a last axis other than 3, or a
            non-numeric dtype.

    Example:

    >>> prepare_video_input(np.zeros((8, 32, 32, 3), np.uint8)).shape
    (1, 8, 32, 32, 3)
    """
    clip = np.asarray(clip)
    if clip.dtype.kind not in "biuf":
        raise ValueError(
            "The video clip must hold numbers (RGB in [0, 255]). Received "
            f"dtype {clip.dtype} with shape {clip.shape}."
        )
    if clip.ndim == 4:
        clip = clip[None]
    if clip.ndim != 5 or clip.shape[-1] != 3:
        raise ValueError(
            "The video clip must have shape (T, H, W, 3) or (B, T, H, W, 3) "
            f"(RGB, channels last). Received shape {clip.shape}."
        )
    return clip.astype(np.float32)


def prepare_frames_input(frames):
    """Checks encoded frames and returns them as a (B, T) object array.

    Args:
        frames: a sequence of T `bytes` (one clip) or of B such sequences.

    Returns:
        A NumPy object array (B, T) of `bytes`.

    Raises:
        ValueError: if an element is not `bytes` or the nesting is not
            one or two levels.

    Example:

    >>> prepare_frames_input([b"jpeg0", b"jpeg1"]).shape
    (1, 2)
    """
    if len(frames) and isinstance(frames[0], bytes):
        frames = [frames]
    rows = [list(row) for row in frames]
    lengths = {len(row) for row in rows}
    if len(lengths) > 1:
        raise ValueError(
            "Every clip must have the same number of frames. Received "
            f"lengths {sorted(lengths)}."
        )
    array = np.empty((len(rows), lengths.pop() if rows else 0), dtype=object)
    for b, row in enumerate(rows):
        for t, item in enumerate(row):
            if not isinstance(item, bytes):
                raise ValueError(
                    "Frames must be encoded images as `bytes`. Received "
                    f"{type(item).__name__} at clip {b}, frame {t}."
                )
            array[b, t] = item
    return array


# ---------------------------------------------------------------- REST


def rest_predict_url(server, model_name, version=None):
    """The REST predict URL of a model (optionally a given version).

    Example:

    >>> rest_predict_url("localhost:8501", "nonlocal", 3)
    'http://localhost:8501/v1/models/nonlocal/versions/3:predict'
    """
    if "://" not in server:
        server = "http://" + server
    url = f"{server.rstrip('/')}/v1/models/{model_name}"
    if version is not None:
        url += f"/versions/{int(version)}"
    return url + ":predict"


def _to_json(value):
    """NumPy value -> JSON-ready nested lists, bytes as {"b64": ...}."""
    array = np.asarray(value)
    if array.dtype.kind in "OS":
        if array.ndim == 0:
            item = array.item()
            if not isinstance(item, bytes):
                raise ValueError(
                    f"Expected bytes in a string tensor, got {type(item)}."
                )
            return {"b64": base64.b64encode(item).decode("ascii")}
        return [_to_json(element) for element in array]
    return array.tolist()


def _from_json(value):
    """JSON value -> nested Python lists, {"b64": ...} decoded to bytes."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_from_json(element) for element in value]
    return value


def _as_array(value):
    value = _from_json(value)
    array = np.asarray(value)
    if array.dtype.kind in "SU":
        array = np.asarray(value, dtype=object)
    return array


def build_rest_request(
    inputs, signature_name=VIDEO_SIGNATURE, request_format="columnar"
):
    """The JSON body of a REST predict request.

    Args:
        inputs: dict input name -> NumPy array with the batch first
            (float arrays for `video`, object arrays of bytes for `frames`).
        signature_name: the SignatureDef to run.
        request_format: `"columnar"` (`"inputs"`) or `"row"` (`"instances"`).

    Returns:
        A dict ready for `json.dumps`.

    Example:

    >>> body = build_rest_request({"frames": np.array([[b"x"]], object)})
    >>> body["inputs"]["frames"]
    [[{'b64': 'eA=='}]]
    """
    if request_format == "columnar":
        payload = {name: _to_json(value) for name, value in inputs.items()}
        return {"signature_name": signature_name, "inputs": payload}
    if request_format == "row":
        sizes = {len(value) for value in inputs.values()}
        if len(sizes) != 1:
            raise ValueError(
                "The row format needs every input to share the batch size. "
                f"Received sizes {sorted(sizes)}."
            )
        instances = [
            {name: _to_json(value[i]) for name, value in inputs.items()}
            for i in range(sizes.pop())
        ]
        return {"signature_name": signature_name, "instances": instances}
    raise ValueError(
        "request_format must be 'columnar' or 'row'. Received: "
        f"{request_format!r}"
    )


def parse_rest_response(body):
    """Turns a REST predict answer into a dict of NumPy arrays.

    Args:
        body: the decoded JSON answer.

    Returns:
        dict output name -> array with the batch first (strings as an object
        array of `str`, `{"b64": ...}` values as `bytes`). A signature with
        one unnamed output gives the key `"output"`.

    Raises:
        ServingError: if the answer is `{"error": ...}`.
    """
    if "error" in body:
        raise ServingError(body["error"])
    if "outputs" in body:
        outputs = body["outputs"]
        if not isinstance(outputs, dict):
            return {"output": _as_array(outputs)}
        return {name: _as_array(value) for name, value in outputs.items()}
    if "predictions" in body:
        rows = body["predictions"]
        if rows and isinstance(rows[0], dict):
            return {
                name: _as_array([row[name] for row in rows]) for name in rows[0]
            }
        return {"output": _as_array(rows)}
    raise ServingError(
        "The answer has none of 'outputs', 'predictions', 'error': "
        f"keys {sorted(body)}."
    )


def predict_rest(
    url,
    inputs,
    signature_name=VIDEO_SIGNATURE,
    request_format="columnar",
    timeout=60.0,
):
    """Sends a REST predict request and returns the outputs.

    Args:
        url: the predict URL (see `rest_predict_url`).
        inputs: dict input name -> NumPy array with the batch first.
        signature_name: the SignatureDef to run.
        request_format: `"columnar"` or `"row"`.
        timeout: seconds.

    Returns:
        dict output name -> NumPy array (see `parse_rest_response`).

    Raises:
        ServingError: the server answered with an error status or could
            not be reached.

    Example:

    ```python
    url = rest_predict_url("localhost:8501", "nonlocal")
    outputs = predict_rest(url, {"video": prepare_video_input(clip)})
    print(top_k_rows(outputs)[0])
    ```
    """
    body = build_rest_request(inputs, signature_name, request_format)
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8", "replace")
        try:
            message = json.loads(text).get("error", text)
        except json.JSONDecodeError:
            message = text
        raise ServingError(f"{url}: HTTP {error.code}: {message}") from error
    except urllib.error.URLError as error:
        raise ServingError(f"{url}: {error.reason}") from error
    return parse_rest_response(answer)


# ---------------------------------------------------------------- gRPC


def build_grpc_request(
    model_name, inputs, signature_name=VIDEO_SIGNATURE, version=None
):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest`.

    Args:
        model_name: the served model's name.
        inputs: dict input name -> NumPy array with the batch first.
        signature_name: the SignatureDef to run.
        version: an integer version, or None for the server's choice.

    Returns:
        The `PredictRequest`.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def parse_grpc_response(response):
    """`PredictResponse` -> dict output name -> NumPy array."""
    import tensorflow as tf

    return {
        name: tf.make_ndarray(proto) for name, proto in response.outputs.items()
    }


def predict_grpc(
    target,
    model_name,
    inputs,
    signature_name=VIDEO_SIGNATURE,
    version=None,
    timeout=60.0,
):
    """Sends a gRPC `Predict` request and returns the outputs.

    Args:
        target: `"host:port"` of the gRPC endpoint (TF Serving: 8500).
        model_name: the served model's name.
        inputs: dict input name -> NumPy array with the batch first.
        signature_name: the SignatureDef to run.
        version: an integer version, or None for the server's choice.
        timeout: seconds.

    Returns:
        dict output name -> NumPy array (strings as `bytes`).

    Raises:
        ServingError: the call failed (with the gRPC status and details).

    Example:

    ```python
    outputs = predict_grpc(
        "localhost:8500", "nonlocal", {"video": prepare_video_input(clip)}
    )
    ```
    """
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    request = build_grpc_request(model_name, inputs, signature_name, version)
    options = [
        ("grpc.max_send_message_length", _GRPC_MESSAGE_LIMIT),
        ("grpc.max_receive_message_length", _GRPC_MESSAGE_LIMIT),
    ]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as error:
            raise ServingError(
                f"{target}: {error.code().name}: {error.details()}"
            ) from error
    return parse_grpc_response(response)


# ---------------------------------------------------------------- results


def top_k_rows(outputs):
    """Pairs `top_k_labels` with `top_k_scores` for every clip.

    Args:
        outputs: dict with `top_k_labels` (B, K) and `top_k_scores` (B, K).

    Returns:
        A list of B lists of K `(label, score)` tuples, best first.

    Example:

    >>> top_k_rows({"top_k_labels": np.array([[b"a", b"b"]], object),
    ...             "top_k_scores": np.array([[0.75, 0.25]])})
    [[('a', 0.75), ('b', 0.25)]]
    """
    labels = np.asarray(outputs["top_k_labels"])
    scores = np.asarray(outputs["top_k_scores"])
    rows = []
    for label_row, score_row in zip(labels, scores, strict=True):
        rows.append(
            [
                (
                    label.decode("utf-8")
                    if isinstance(label, bytes)
                    else str(label),
                    float(score),
                )
                for label, score in zip(label_row, score_row, strict=True)
            ]
        )
    return rows


def format_top_k(rows):
    """Human-readable lines for `top_k_rows` output, one block per clip."""
    lines = []
    for clip_index, row in enumerate(rows):
        lines.append(f"clip {clip_index}:")
        for rank, (label, score) in enumerate(row, start=1):
            lines.append(f"  {rank}. {label}  {score:.6f}")
    return "\n".join(lines)
