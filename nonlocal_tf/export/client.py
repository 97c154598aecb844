"""The serving client: clips in, predict over REST or gRPC, top-k out.

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

The JSON codec, addresses, the HTTP POST and the typed `ServingError`s (bad
address, unreachable, timeout, rejected, unreadable answer) are
`transport.py`'s, re-exported here.

Clips from video files (`read_video_clip`, `encode_jpeg`): decoding is
`nonlocal_tf.data.video`'s (PyAV, the same frame selection as data
preparation; no TensorFlow), so the REST client stays free of TensorFlow
and Keras. The client neither resizes nor crops: it sends the sampled
frames at the video's own size, as JPEG, to `classify_frames`, whose graph
scales, rounds and crops them with the one implementation of the test
transform (`nonlocal_tf.models.preprocessing`). Kept small on purpose:
`num_frames` frames evenly over the whole video (one clip, one view; not
the test pipeline's K clips at the spec's sampling rate). Multi-view
prediction is `scripts/predict.py`'s job.
"""

import fractions

import numpy as np

from nonlocal_tf.data import video as video_lib
from nonlocal_tf.export import transport
from nonlocal_tf.export.transport import VIDEO_SIGNATURE
from nonlocal_tf.export.transport import ServingAddressError
from nonlocal_tf.export.transport import ServingConnectionError
from nonlocal_tf.export.transport import ServingError
from nonlocal_tf.export.transport import ServingRejectedError
from nonlocal_tf.export.transport import ServingResponseError
from nonlocal_tf.export.transport import ServingTimeoutError
from nonlocal_tf.export.transport import build_rest_request
from nonlocal_tf.export.transport import parse_rest_response

DEFAULT_REST_PORT = 8501
DEFAULT_GRPC_PORT = 8500
FRAMES_SIGNATURE = "classify_frames"
_GRPC_MESSAGE_LIMIT = 1 << 30
TOP_K_OUTPUTS = ("top_k_labels", "top_k_scores")

__all__ = [
    "DEFAULT_GRPC_PORT",
    "DEFAULT_REST_PORT",
    "FRAMES_SIGNATURE",
    "ServingAddressError",
    "ServingConnectionError",
    "ServingError",
    "ServingRejectedError",
    "ServingResponseError",
    "ServingTimeoutError",
    "TOP_K_OUTPUTS",
    "VIDEO_SIGNATURE",
    "build_grpc_request",
    "build_rest_request",
    "encode_jpeg",
    "evenly_spaced_indices",
    "format_top_k",
    "load_clip",
    "parse_grpc_response",
    "parse_rest_response",
    "predict_grpc",
    "predict_rest",
    "prepare_frames_input",
    "prepare_video_input",
    "read_video_clip",
    "rest_predict_url",
    "top_k_rows",
]


def load_clip(path):
    """Reads a clip saved with `np.save` (RGB in [0, 255]).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is not a `.npy` array of numbers.

    Example:
        >>> clip = load_clip("clip.npy")  # doctest: +SKIP
    """
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, EOFError, OSError) as error:
        reason = str(error).split(". ")[0]
        raise ValueError(
            f"not a .npy array of pixels, {path} (numpy: {reason}; save the "
            "clip with np.save(path, uint8 array of shape (T, H, W, 3)))"
        ) from None


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


# ---------------------------------------------------------------- video files


def evenly_spaced_indices(total, num_frames):
    """`num_frames` indices spread evenly over `range(total)`, ends included.

    Example:

    >>> evenly_spaced_indices(10, 4).tolist()
    [0, 3, 6, 9]
    """
    if total < 1:
        raise ValueError(f"Cannot sample frames from {total} frames.")
    return np.round(np.linspace(0, total - 1, num_frames)).astype(np.int64)


def read_video_clip(path, num_frames):
    """`num_frames` RGB frames sampled evenly over a video file, full size.

    The video is decoded twice by `video_lib` (first to count its frames,
    which containers often misreport, then to convert only the chosen
    ones), so memory stays at `num_frames` frames whatever its length.

    Args:
        path: a video file PyAV (FFmpeg) can open.
        num_frames: how many frames to return (repeats when the video is
            shorter).

    Returns:
        A uint8 array (num_frames, H, W, 3).

    Raises:
        nonlocal_tf.data.VideoDecodeError: the file cannot be decoded (its
            message says why: missing, empty, not a video, truncated, ...).

    Example:

    ```python
    frames = read_video_clip("video.mp4", 8)  # (8, H, W, 3) uint8
    ```
    """
    count = video_lib.count_frames(path)
    indices = evenly_spaced_indices(count, num_frames)
    distinct, positions = np.unique(indices, return_inverse=True)
    video = video_lib.decode_video(path, indices=distinct)
    if not np.array_equal(video.indices, distinct):
        raise video_lib.VideoDecodeError(
            path,
            video_lib.DECODE_ERROR,
            f"decoding kept frames {video.indices.tolist()}, counting "
            f"promised {distinct.tolist()}",
        )
    return video.frames[positions.reshape(-1)]


def encode_jpeg(frames, quality=2):
    """Encodes RGB frames as JPEG with FFmpeg's MJPEG encoder (4:4:4).

    Args:
        frames: uint8 array (T, H, W, 3).
        quality: MJPEG quantiser scale, 1 (best) to 31.

    Returns:
        A list of T `bytes`, one JPEG each.

    Example:

    ```python
    jpegs = encode_jpeg(read_video_clip("video.mp4", 8))
    ```
    """
    av = video_lib.av  # None without PyAV
    if av is None:
        raise ImportError(
            "Encoding JPEG frames needs PyAV: pip install 'nonlocal-tf[video]'"
        )
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            "Frames to encode must be uint8 (T, H, W, 3). Received dtype "
            f"{frames.dtype} with shape {frames.shape}."
        )
    height, width = frames.shape[1:3]
    encoded = []
    for frame in frames:
        context = av.CodecContext.create("mjpeg", "w")
        context.width = width
        context.height = height
        context.pix_fmt = "yuvj444p"
        context.time_base = fractions.Fraction(1, 25)
        context.options = {"qmin": str(quality), "qmax": str(quality)}
        picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
        packets = context.encode(picture.reformat(format="yuvj444p"))
        packets += context.encode(None)
        encoded.append(b"".join(bytes(packet) for packet in packets))
    return encoded


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
    return transport.check_rest_url(url + ":predict")


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
        ServingError: a subclass saying what failed: a bad address
            (`ServingAddressError`), no server (`ServingConnectionError`),
            no answer in time (`ServingTimeoutError`), an error answer
            (`ServingRejectedError`), an unreadable answer
            (`ServingResponseError`).

    Example:

    ```python
    url = rest_predict_url("localhost:8501", "nonlocal")
    outputs = predict_rest(url, {"video": prepare_video_input(clip)})
    print(top_k_rows(outputs)[0])
    ```
    """
    body = build_rest_request(inputs, signature_name, request_format)
    answer = transport.post_json(url, body, timeout)
    return parse_rest_response(answer, url)


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
    # TensorFlow and the serving API only for gRPC: the REST client is light.
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
    import tensorflow as tf  # only for gRPC: the REST client is light

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
        ServingError: a subclass saying what failed (see `predict_rest`),
            with the gRPC status and details.

    Example:

    ```python
    outputs = predict_grpc(
        "localhost:8500", "nonlocal", {"video": prepare_video_input(clip)}
    )
    ```
    """
    transport.check_grpc_target(target)
    # gRPC and the serving API only when called: the REST client is light.
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
            raise transport.grpc_error(target, error) from error
    return parse_grpc_response(response)


# ---------------------------------------------------------------- results


def top_k_rows(outputs, where="the server"):
    """Pairs `top_k_labels` with `top_k_scores` for every clip.

    Args:
        outputs: dict with `top_k_labels` (B, K) and `top_k_scores` (B, K).
        where: the server or URL the outputs came from (named in errors).

    Returns:
        A list of B lists of K `(label, score)` tuples, best first.

    Raises:
        ServingResponseError: `outputs` lacks `top_k_labels` or
            `top_k_scores`, or their shapes differ.

    Example:

    >>> top_k_rows({"top_k_labels": np.array([[b"a", b"b"]], object),
    ...             "top_k_scores": np.array([[0.75, 0.25]])})
    [[('a', 0.75), ('b', 0.25)]]
    """
    missing = [name for name in TOP_K_OUTPUTS if name not in outputs]
    if missing:
        raise ServingResponseError(
            f"the answer lacks the output(s) {missing}, {where} (it has "
            f"{sorted(outputs)}; is the served model one that "
            "nonlocal_tf.export wrote, with its top-k outputs?)"
        )
    labels = np.asarray(outputs["top_k_labels"])
    scores = np.asarray(outputs["top_k_scores"])
    if labels.ndim != 2 or labels.shape != scores.shape:
        raise ServingResponseError(
            f"top_k_labels {labels.shape} and top_k_scores {scores.shape} "
            f"must both be (clips, k), in the answer of {where}"
        )
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
