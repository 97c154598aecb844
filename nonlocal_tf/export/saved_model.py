"""SavedModel export for TF Serving (design.md, "Serving contract").

Layout: `<base_dir>/<name>/<version>/` with `saved_model.pb`, `variables/`
and `assets.extra/tf_serving_warmup_requests`. A version directory appears
in one `rename` of a complete temporary directory `<base_dir>/<name>/.tmp-*`
(a name TF Serving never takes for a version), so a killed export leaves no
partial version behind.

Signatures (loading needs no project code, only TensorFlow):
- `serving_default`: `video` float32 (B, T, H, W, 3), RGB in [0, 255];
  normalised inside with the model's clip spec (`(pixel - mean) / std`).
- `classify_frames`: `frames` string (B, T), one JPEG per frame; each is
  made into the test pipeline's centre view inside, with the test pipeline's
  functions (see `nonlocal_tf.export.preprocessing`).
Both return `probabilities` float32 (B, classes), `top_k_scores` float32
(B, K), `top_k_indices` int32 (B, K) and `top_k_labels` string (B, K).

The model's `ClipSpec` is embedded: `assets.extra/clip_spec.json`, and the
loaded SavedModel's `clip_spec` variable (`read_clip_spec`).
"""

import os
import secrets
import shutil
import socket
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from nonlocal_tf import fileio
from nonlocal_tf.clip_spec import GLOBAL_AVERAGE
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.export import labels as labels_lib
from nonlocal_tf.export import preprocessing
from nonlocal_tf.export import warmup as warmup_lib
from nonlocal_tf.export.client import FRAMES_SIGNATURE
from nonlocal_tf.export.client import VIDEO_SIGNATURE

DEFAULT_WARMUP_FRAMES = 8
CLIP_SPEC_FILE = "clip_spec.json"
TMP_PREFIX = ".tmp-export-"
# Not cleaned up automatically: holds the replaced version while
# `overwrite=True` swaps in the new one (two renames).
RETIRED_PREFIX = ".tmp-retired-"
_STALE_SECONDS = 24 * 3600
_PROBABILITY_TOLERANCE = 1e-2


# ------------------------------------------------------------ validation


def _model_io_shapes(model):
    """(input shape, output shape) of a single-input, single-output model."""
    inputs = getattr(model, "inputs", None)
    outputs = getattr(model, "outputs", None)
    if not inputs or not outputs:
        raise ValueError(
            f"Model {model.name!r} has no defined inputs/outputs; export "
            "needs a built Functional model (or a subclassed model called "
            "once on a batch, wrapped in a Functional model)."
        )
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"Model {model.name!r} must take one video clip and return one "
            f"tensor of class scores. Received {len(inputs)} inputs and "
            f"{len(outputs)} outputs."
        )
    return tuple(inputs[0].shape), tuple(outputs[0].shape)


def _check_video_input(input_shape, model_name):
    if len(input_shape) != 5 or input_shape[-1] != 3:
        raise ValueError(
            f"Model {model_name!r} must take RGB clips (B, T, H, W, 3), "
            f"channels last. Received input shape {input_shape}."
        )


def _check_num_classes(output_shape, model_name):
    if len(output_shape) != 2 or output_shape[-1] is None:
        raise ValueError(
            f"Model {model_name!r} must return class scores (B, classes) "
            f"with a known number of classes. Received output shape "
            f"{output_shape}."
        )
    return int(output_shape[-1])


def _resolve_num_frames(model_frames, num_frames, model_name):
    if num_frames is None:
        return model_frames
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1. Received: {num_frames}")
    if model_frames is not None and model_frames != num_frames:
        raise ValueError(
            f"Model {model_name!r} takes clips of {model_frames} frames. "
            f"Received num_frames={num_frames}."
        )
    return int(num_frames)


def _spec_of_plain_model(height, width, num_frames):
    """A spec for a model that carries none: its static frame side, if any."""
    if height is not None and height == width:
        side = int(height)
        return ClipSpec(
            num_frames=num_frames or DEFAULT_WARMUP_FRAMES,
            crop_size=side,
            jitter_scales=(side, side),
            test_crop_size=side,
            test_head=GLOBAL_AVERAGE,
        )
    if height is not None or width is not None:
        raise ValueError(
            f"The model takes frames of {height}x{width}; the frames "
            "signature crops squares. Pass a clip_spec or crop_size."
        )
    return ClipSpec(
        num_frames=num_frames or DEFAULT_WARMUP_FRAMES,
        test_head=GLOBAL_AVERAGE,
    )


def _resolve_spec(model, clip_spec, num_frames, crop_size, input_shape):
    """The spec the signatures follow: given, the model's, or derived."""
    _, model_frames, height, width, _ = input_shape
    if clip_spec is None:
        clip_spec = getattr(model, "clip_spec", None)
    if clip_spec is None:
        spec = _spec_of_plain_model(height, width, num_frames or model_frames)
    else:
        spec = ClipSpec.from_dict(clip_spec)
    if crop_size is not None and (
        isinstance(crop_size, bool)
        or not isinstance(crop_size, int)
        or crop_size < 1
    ):
        raise ValueError(f"crop_size must be >= 1. Received: {crop_size}")
    spec, changes = spec.override(
        num_frames=num_frames, test_crop_size=crop_size
    )
    if changes:
        logging.info("Export clip spec overrides: %s", changes)
    static = [side for side in (height, width) if side is not None]
    if any(side != spec.test_crop_size for side in static):
        raise ValueError(
            f"Model {model.name!r} takes frames of {height}x{width}; the "
            f"frames signature makes {spec.test_crop_size}x"
            f"{spec.test_crop_size} views. Pass crop_size={height} or a "
            "model with dynamic frame sizes."
        )
    return spec


def _resolve_label_names(label_names, num_classes, model_name):
    if label_names is None:
        return labels_lib.default_label_names(num_classes)
    label_names = [str(name) for name in label_names]
    if len(label_names) != num_classes:
        raise ValueError(
            f"Model {model_name!r} predicts {num_classes} classes. Received "
            f"{len(label_names)} label names."
        )
    return label_names


def _looks_like_probabilities(scores):
    scores = np.asarray(scores, dtype=np.float64)
    sums = scores.sum(axis=-1)
    return (
        scores.min() >= -_PROBABILITY_TOLERANCE
        and np.abs(sums - 1.0).max() <= _PROBABILITY_TOLERANCE
    )


def _resolve_from_logits(model, clip, from_logits):
    """Checks (or, with "auto", decides) whether the model returns logits.

    A model exported with from_logits=False must return probabilities on a
    random clip; otherwise its logits would be served as probabilities.
    """
    if from_logits is True:
        return True
    if from_logits not in (False, "auto"):
        raise ValueError(
            "from_logits must be True, False or 'auto'. Received: "
            f"{from_logits!r}"
        )
    scores = keras.ops.convert_to_numpy(model(clip, training=False))
    if _looks_like_probabilities(scores):
        return False
    if from_logits == "auto":
        return True
    raise ValueError(
        f"Model {model.name!r} does not return probabilities (on a test "
        f"clip its scores span [{scores.min():.3g}, {scores.max():.3g}] and "
        f"sum to {scores.sum(axis=-1)[0]:.4g}). If it returns logits, pass "
        "from_logits=True so the export applies a softmax."
    )


# ----------------------------------------------------------- signatures


def _signature_specs(num_frames, height, width):
    """TensorSpecs of `video` (B, T, H, W, 3) and `frames` (B, T)."""
    video_spec = tf.TensorSpec(
        [None, num_frames, height, width, 3], tf.float32, name="video"
    )
    frames_spec = tf.TensorSpec([None, num_frames], tf.string, name="frames")
    return video_spec, frames_spec


def _serving_functions(
    model, video_spec, frames_spec, label_names, clip_spec, top_k, from_logits
):
    """The Python functions behind the two signatures."""
    label_table = tf.constant(label_names, dtype=tf.string)

    def classify(video):
        clip = preprocessing.normalize_clip(video, clip_spec)
        scores = tf.cast(model(clip, training=False), tf.float32)
        if from_logits:
            probabilities = tf.nn.softmax(scores, axis=-1)
        else:
            probabilities = scores
        top_k_scores, top_k_indices = tf.math.top_k(probabilities, k=top_k)
        return {
            "probabilities": probabilities,
            "top_k_scores": top_k_scores,
            "top_k_indices": top_k_indices,
            "top_k_labels": tf.gather(label_table, top_k_indices),
        }

    def serve_video(video):
        # TF Serving feeds tensors without checking them against the
        # signature's shape, so the graph checks at run time.
        video = tf.ensure_shape(video, video_spec.shape, name="check_video")
        return classify(video)

    def serve_frames(frames):
        frames = tf.ensure_shape(frames, frames_spec.shape, name="check_frames")
        return classify(preprocessing.decode_frames(frames, clip_spec))

    return serve_video, serve_frames


def _build_archive(
    model, serve_video, serve_frames, video_spec, frames_spec, clip_spec
):
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_variable_collection(
        "clip_spec",
        [tf.Variable(clip_spec.to_json(), trainable=False, name="clip_spec")],
    )
    archive.add_endpoint(
        VIDEO_SIGNATURE, serve_video, input_signature=[video_spec]
    )
    archive.add_endpoint(
        FRAMES_SIGNATURE, serve_frames, input_signature=[frames_spec]
    )
    return archive


# --------------------------------------------------------- directories


def _integer_versions(model_dir):
    versions = []
    for entry in os.listdir(model_dir):
        if entry.isdigit() and os.path.isdir(os.path.join(model_dir, entry)):
            versions.append(int(entry))
    return versions


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _host_tag():
    return socket.gethostname().replace("-", "_")


def _is_stale(path, entry):
    """Whether a temp dir belongs to an export that can no longer finish."""
    # entry: .tmp-export-<host>-<pid>-<token>
    parts = entry[len(TMP_PREFIX) :].rsplit("-", 2)
    if len(parts) == 3 and parts[0] == _host_tag() and parts[1].isdigit():
        return not _pid_alive(int(parts[1]))
    try:
        age = time.time() - os.path.getmtime(path)
    except FileNotFoundError:
        return False
    return age > _STALE_SECONDS


def remove_stale_temp_dirs(model_dir):
    """Deletes temp dirs left by killed exports into `model_dir`.

    A temp dir is stale when the process that made it (same host) is gone,
    or when it is older than a day.

    Args:
        model_dir: `<base_dir>/<name>`.

    Returns:
        The removed paths.
    """
    removed = []
    if not os.path.isdir(model_dir):
        return removed
    for entry in os.listdir(model_dir):
        path = os.path.join(model_dir, entry)
        if entry.startswith(TMP_PREFIX) and _is_stale(path, entry):
            shutil.rmtree(path, ignore_errors=True)
            logging.info("Removed a stale export temp dir: %s", path)
            removed.append(path)
    return removed


def _new_temp_dir(model_dir, prefix=TMP_PREFIX):
    token = secrets.token_hex(4)
    return os.path.join(
        model_dir, f"{prefix}{_host_tag()}-{os.getpid()}-{token}"
    )


def _publish(temp_dir, model_dir, version, auto_version, overwrite):
    """Renames the finished temp dir to its version dir; returns that path."""
    for _ in range(100):
        if auto_version:
            version = max(_integer_versions(model_dir), default=0) + 1
        final_dir = os.path.join(model_dir, str(version))
        if os.path.exists(final_dir) and overwrite:
            retired = _new_temp_dir(model_dir, RETIRED_PREFIX)
            os.rename(final_dir, retired)
            os.rename(temp_dir, final_dir)
            shutil.rmtree(retired, ignore_errors=True)
            return final_dir
        if os.path.exists(final_dir):
            if auto_version:
                continue
            raise FileExistsError(
                f"Version {version} already exists: {final_dir}. Pass "
                "overwrite=True to replace it, or another version."
            )
        try:
            os.rename(temp_dir, final_dir)
        except OSError:
            # Another export took this version between the check and the
            # rename (or made an empty dir there).
            if auto_version:
                continue
            raise
        return final_dir
    raise RuntimeError(f"Could not find a free version number in {model_dir}")


# ---------------------------------------------------------------- export


def export_saved_model(
    model,
    base_dir,
    name,
    *,
    version=None,
    label_names=None,
    clip_spec=None,
    num_frames=None,
    crop_size=None,
    top_k=5,
    from_logits=False,
    warmup=True,
    overwrite=False,
):
    """Exports a Keras video classifier as a TF Serving SavedModel.

    The model takes normalised float clips (B, T, H, W, 3) and returns class
    scores (B, classes). Its static dims (T, H, W) are kept in both
    signatures; dynamic ones stay dynamic. The batch dim is always dynamic.
    The preprocessing follows the model's `ClipSpec` (normalisation, JPEG
    decoding, test resize and crop), which is embedded in the export. Needs
    the TensorFlow Keras backend.

    Args:
        model: a built single-input, single-output Keras model (any class,
            custom layers allowed; nothing of it is needed to load the export).
        base_dir: local directory that holds one folder per served model.
        name: the model name (TF Serving's `--model_name`).
        version: a positive integer; None takes the next free one (1 first).
        label_names: class names, index i at position i; None gives
            `class_<i>`.
        clip_spec: the `ClipSpec` the signatures follow; default the model's
            `clip_spec` (a `VideoClassifier`), else one made from the
            model's static frame side (global-average head).
        num_frames: frames per clip T (overrides the spec's); must match a
            static T of the model; pins T in both signatures.
        crop_size: side of the views `classify_frames` makes (overrides the
            spec's `test_crop_size`).
        top_k: how many best classes the `top_k_*` outputs hold (capped at
            the number of classes).
        from_logits: True if the model returns logits (the export applies a
            softmax); False if it returns probabilities (checked on a random
            clip: a model that does not is refused); "auto" decides from
            that check.
        warmup: write `assets.extra/tf_serving_warmup_requests`.
        overwrite: replace an existing `version` directory.

    Returns:
        The path of the new version directory.

    Raises:
        ValueError: the model's input is not (B, T, H, W, 3), its output is
            not (B, classes), or the arguments do not fit the model.
        FileExistsError: `version` exists and `overwrite` is False.

    Example:

    ```python
    path = export_saved_model(
        model, "/models", "i3d_nl5_r50", label_names=names
    )
    # /models/i3d_nl5_r50/1; serve with
    # tensorflow_model_server --model_name=i3d_nl5_r50 \
    #     --model_base_path=/models/i3d_nl5_r50 --rest_api_port=8501
    ```
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "SavedModel export needs KERAS_BACKEND=tensorflow. Received "
            f"backend {keras.backend.backend()!r}; save the model as .keras "
            "and export it from a TensorFlow-backend process."
        )
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"Invalid model name: {name!r}")
    if "://" in str(base_dir):
        raise ValueError(
            f"base_dir must be a local directory. Received {base_dir!r}; "
            "export locally and copy the version directory."
        )
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise ValueError(
            f"version must be a positive integer. Received: {version!r}"
        )

    input_shape, output_shape = _model_io_shapes(model)
    _check_video_input(input_shape, model.name)
    num_classes = _check_num_classes(output_shape, model.name)
    _, model_frames, height, width, _ = input_shape
    num_frames = _resolve_num_frames(model_frames, num_frames, model.name)
    spec = _resolve_spec(model, clip_spec, num_frames, crop_size, input_shape)
    label_names = _resolve_label_names(label_names, num_classes, model.name)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer. Received: {top_k}")
    top_k = min(top_k, num_classes)

    size = spec.test_crop_size
    test_clip = (
        np.random.default_rng(0)
        .standard_normal((1, spec.num_frames, size, size, 3))
        .astype(np.float32)
    )
    from_logits = _resolve_from_logits(model, test_clip, from_logits)

    video_spec, frames_spec = _signature_specs(num_frames, height, width)
    serve_video, serve_frames = _serving_functions(
        model, video_spec, frames_spec, label_names, spec, top_k, from_logits
    )
    archive = _build_archive(
        model, serve_video, serve_frames, video_spec, frames_spec, spec
    )

    model_dir = os.path.join(os.fspath(base_dir), name)
    os.makedirs(model_dir, exist_ok=True)
    remove_stale_temp_dirs(model_dir)
    if version is not None and not overwrite:
        existing = os.path.join(model_dir, str(version))
        if os.path.exists(existing):
            raise FileExistsError(
                f"Version {version} already exists: {existing}. Pass "
                "overwrite=True to replace it, or another version."
            )

    temp_dir = _new_temp_dir(model_dir)
    try:
        archive.write_out(temp_dir, verbose=False)
        fileio.atomic_write_text(
            os.path.join(temp_dir, "assets.extra", CLIP_SPEC_FILE),
            spec.to_json(),
        )
        if warmup:
            records = warmup_lib.warmup_records(
                name, num_frames=spec.num_frames, crop_size=size
            )
            warmup_lib.write_warmup_file(temp_dir, records)
        final_dir = _publish(
            temp_dir, model_dir, version, version is None, overwrite
        )
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    logging.info("Exported SavedModel %s (%s)", final_dir, spec.describe())
    return final_dir


def read_clip_spec(saved_model):
    """The `ClipSpec` an export follows, from its directory or loaded object.

    Args:
        saved_model: a SavedModel version directory (reads
            `assets.extra/clip_spec.json`) or the object
            `tf.saved_model.load` returned (reads its `clip_spec` variable).

    Returns:
        A `ClipSpec`, or None for an export without one.

    Example:
        >>> read_clip_spec("/models/c2d_nl/1").test_crop_size
        256
    """
    if isinstance(saved_model, (str, os.PathLike)):
        path = os.path.join(
            os.fspath(saved_model), "assets.extra", CLIP_SPEC_FILE
        )
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as f:
            return ClipSpec.from_json(f.read())
    variables = getattr(saved_model, "clip_spec", None)
    if not variables:
        return None
    text = variables[0].numpy()
    return ClipSpec.from_json(text.decode("utf-8"))


# ----------------------------------------------------------- inspection


def describe_signatures(saved_model_dir, tag="serve"):
    """A `saved_model_cli`-like text listing of the serving signatures.

    Args:
        saved_model_dir: a SavedModel directory.
        tag: the MetaGraph tag.

    Returns:
        A multi-line string: each signature with its inputs and outputs
        (name, dtype, shape; -1 is a dynamic dim).

    Example:

    ```python
    print(describe_signatures("/models/i3d_nl5_r50/1"))
    ```
    """
    from tensorflow.core.protobuf import saved_model_pb2

    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    meta_graphs = [
        meta
        for meta in saved_model.meta_graphs
        if tag in meta.meta_info_def.tags
    ]
    if not meta_graphs:
        raise ValueError(f"{saved_model_dir} has no MetaGraph tagged {tag!r}.")

    def describe(info):
        dtype = tf.dtypes.as_dtype(info.dtype).name
        dims = [str(dim.size) for dim in info.tensor_shape.dim]
        return f"{dtype} ({', '.join(dims)})"

    lines = []
    signatures = meta_graphs[0].signature_def
    for key in sorted(signatures):
        if key.startswith("__"):
            continue
        lines.append(f"signature {key!r}:")
        for kind, tensors in (
            ("input", signatures[key].inputs),
            ("output", signatures[key].outputs),
        ):
            for tensor_name in sorted(tensors):
                lines.append(
                    f"  {kind:6} {tensor_name}: "
                    f"{describe(tensors[tensor_name])}"
                )
    return "\n".join(lines)
