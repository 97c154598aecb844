"""TF Serving's REST JSON: request bodies and predict answers.

Columnar format `{"signature_name": ..., "inputs": {...}}` answered with
`{"outputs": {...}}`; row format `{"instances": [...]}` answered with
`{"predictions": [...]}`; byte strings travel as `{"b64": "<base64>"}`
(tensorflow_serving/g3doc/api_rest.md). NumPy and the standard library only.
"""

import base64

import numpy as np

from nonlocal_tf.export.transport import ServingRejectedError
from nonlocal_tf.export.transport import ServingResponseError

VIDEO_SIGNATURE = "serving_default"


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


def parse_rest_response(body, url="the server"):
    """Turns a REST predict answer into a dict of NumPy arrays.

    Args:
        body: the decoded JSON answer.
        url: where it came from (named in errors).

    Returns:
        dict output name -> array with the batch first (strings as an object
        array of `str`, `{"b64": ...}` values as `bytes`). A signature with
        one unnamed output gives the key `"output"`.

    Raises:
        ServingRejectedError: the answer is `{"error": ...}`.
        ServingResponseError: the answer is not a predict answer.
    """
    if not isinstance(body, dict):
        raise ServingResponseError(
            f"the answer is a JSON {type(body).__name__}, not an object, "
            f"{url} (is this TF Serving?)"
        )
    if "error" in body:
        raise ServingRejectedError(f"{url}: {body['error']}")
    if "outputs" in body:
        outputs = body["outputs"]
        if not isinstance(outputs, dict):
            return {"output": _as_array(outputs)}
        return {name: _as_array(value) for name, value in outputs.items()}
    if "predictions" in body:
        rows = body["predictions"]
        if not isinstance(rows, list):
            raise ServingResponseError(
                f"'predictions' is a {type(rows).__name__}, not a list, {url}"
            )
        if rows and all(isinstance(row, dict) for row in rows):
            names = set(rows[0])
            if any(set(row) != names for row in rows):
                raise ServingResponseError(
                    f"the rows of 'predictions' have different outputs, {url}"
                )
            return {
                name: _as_array([row[name] for row in rows]) for name in rows[0]
            }
        return {"output": _as_array(rows)}
    raise ServingResponseError(
        "the answer has none of 'outputs', 'predictions', 'error', "
        f"{url} (keys {sorted(body)[:10]}; is this TF Serving?)"
    )
