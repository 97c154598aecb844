"""Talking to TF Serving: server addresses, REST JSON, the POST, typed errors.

NumPy and the standard library only (no TensorFlow, no gRPC import at
module level), so the REST client stays light. Every way a request can fail
is one `ServingError` subclass with a one-line message
`<what>, <where> (<hint>)`:

- `ServingAddressError` (also a `ValueError`): the server address is not
  `host:port` or an `http(s)://` URL;
- `ServingConnectionError`: nothing answers there, or the connection was
  closed before an answer came;
- `ServingTimeoutError`: no answer within the timeout;
- `ServingRejectedError`: the server answered with an error (HTTP status,
  gRPC status, `{"error": ...}`);
- `ServingResponseError`: an answer came but is not a predict answer (not
  UTF-8, not JSON, empty, without the expected outputs).

TF Serving's REST JSON (tensorflow_serving/g3doc/api_rest.md): columnar
format `{"signature_name": ..., "inputs": {...}}` answered with
`{"outputs": {...}}`; row format `{"instances": [...]}` answered with
`{"predictions": [...]}`; byte strings travel as `{"b64": "<base64>"}`
(`build_rest_request`, `parse_rest_response`).

Example:
    >>> check_rest_url("http://localhost:8501/v1/models/nl:predict")
    'http://localhost:8501/v1/models/nl:predict'
"""

import base64
import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

VIDEO_SIGNATURE = "serving_default"
_SNIPPET = 80
_GRPC_SCHEMES = ("dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:")


class ServingError(RuntimeError):
    """A request to TF Serving failed (the base of the errors below)."""


class ServingAddressError(ServingError, ValueError):
    """The server address cannot be used (not host:port or a URL)."""


class ServingConnectionError(ServingError):
    """The server could not be reached, or closed the connection."""


class ServingTimeoutError(ServingError):
    """No answer came within the timeout."""


class ServingRejectedError(ServingError):
    """The server answered the request with an error."""


class ServingResponseError(ServingError):
    """The answer is not a predict answer this client can read."""


def _snippet(data):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


def check_rest_url(url):
    """Returns `url` if it is an http(s) URL with a host and a valid port.

    Raises:
        ServingAddressError: another scheme, no host, or a bad port.

    Example:
        >>> check_rest_url("localhost:8501")  # doctest: +SKIP
        ServingAddressError: bad REST server address, 'localhost:8501': ...
    """
    hint = "give host:port, e.g. localhost:8501, or an http(s):// URL"
    parts = urllib.parse.urlsplit(url)
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = f"scheme {parts.scheme!r} is not http or https"
    elif not parts.hostname:
        problem = "it has no host"
    else:
        try:
            parts.port  # noqa: B018 - raises for a bad port
        except ValueError as error:
            problem = f"bad port ({error})"
    if problem:
        raise ServingAddressError(
            f"bad REST server address, {url!r}: {problem} ({hint})"
        )
    return url


def check_grpc_target(target):
    """Returns `target` if it is `host:port` (or a gRPC URI such as `dns:`).

    Raises:
        ServingAddressError: no port, or a port that is not in 1..65535.

    Example:
        >>> check_grpc_target("localhost:8500")
        'localhost:8500'
    """
    if target.startswith(_GRPC_SCHEMES):
        return target
    host, _, port = target.rpartition(":")
    problem = None
    if not host or host in ("[", "]"):
        problem = "expected host:port"
    elif not port.isdigit() or not 0 < int(port) < 65536:
        problem = f"port {port!r} is not a number in 1..65535"
    if problem:
        raise ServingAddressError(
            f"bad gRPC server address, {target!r}: {problem} (give "
            "host:port, e.g. localhost:8500)"
        )
    return target


def _http_error(url, error):
    data = error.read()
    message = _snippet(data) or error.reason
    try:
        answer = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        answer = None
    if isinstance(answer, dict) and "error" in answer:
        message = str(answer["error"])
    return ServingRejectedError(f"HTTP {error.code} from {url}: {message}")


def _unreachable(url, reason, timeout):
    if isinstance(reason, TimeoutError):
        return ServingTimeoutError(
            f"no answer within {timeout:g} s, {url} (the server is busy, "
            "stuck or not there; raise the timeout)"
        )
    if isinstance(reason, socket.gaierror):
        return ServingConnectionError(
            f"unknown server host, {url} ({reason.strerror or reason})"
        )
    text = getattr(reason, "strerror", None) or str(reason)
    return ServingConnectionError(
        f"cannot reach the server, {url} ({text}; is TF Serving running "
        "there, with its REST API on this port?)"
    )


def post_json(url, body, timeout):
    """POSTs `body` as JSON to `url`; returns the decoded JSON answer.

    Args:
        url: an http(s) URL (checked with `check_rest_url`).
        body: a JSON-ready object.
        timeout: seconds for connecting and for each read.

    Raises:
        ServingError: one of its subclasses (see the module docstring).

    Example:
        >>> post_json(url, {"inputs": {...}}, 60.0)  # doctest: +SKIP
    """
    check_rest_url(url)
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read()
    except urllib.error.HTTPError as error:
        raise _http_error(url, error) from error
    except urllib.error.URLError as error:
        raise _unreachable(url, error.reason, timeout) from error
    except TimeoutError as error:
        raise _unreachable(url, error, timeout) from error
    except (http.client.RemoteDisconnected, ConnectionError) as error:
        raise ServingConnectionError(
            f"the server closed the connection without an answer, {url} "
            f"({error}; is this TF Serving's REST port? gRPC is usually "
            "8500, REST 8501)"
        ) from error
    except (http.client.HTTPException, OSError) as error:
        raise ServingConnectionError(
            f"the connection failed, {url} ({type(error).__name__}: {error})"
        ) from error
    return decode_json_answer(data, url)


def decode_json_answer(data, url):
    """The JSON object in `data` (bytes), or a `ServingResponseError`."""
    if not data:
        raise ServingResponseError(
            f"empty answer, {url} (no body at all; is this TF Serving?)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ServingResponseError(
            f"the answer is not UTF-8 text, {url} (byte "
            f"{data[error.start]:#04x} at offset {error.start}; is this TF "
            "Serving?)"
        ) from None
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as error:
        raise ServingResponseError(
            f"the answer is not JSON, {url} ({error.msg} at offset "
            f"{error.pos}; it starts {_snippet(text)!r}: is this TF "
            "Serving?)"
        ) from None
    if not isinstance(answer, dict):
        raise ServingResponseError(
            f"the answer is a JSON {type(answer).__name__}, not an object, "
            f"{url} ({_snippet(text)!r}; is this TF Serving?)"
        )
    return answer


def grpc_error(target, error):
    """The `ServingError` for a `grpc.RpcError` from `target`."""
    code = error.code()
    name = getattr(code, "name", str(code))
    details = " ".join(str(error.details() or "").split())
    if name == "DEADLINE_EXCEEDED":
        return ServingTimeoutError(
            f"no answer within the timeout, {target} ({details}; the server "
            "is busy, stuck or not there; raise the timeout)"
        )
    if name == "UNAVAILABLE":
        return ServingConnectionError(
            f"cannot reach the server, {target} ({details}; is TF Serving "
            "running there, with its gRPC API on this port?)"
        )
    return ServingRejectedError(f"{name} from {target}: {details}")


# ---------------------------------------------------------------- REST JSON


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
