"""SavedModel export for TF Serving (design.md, "Serving contract").

Layout: `<base_dir>/<name>/<version>/` with `saved_model.pb`, `variables/`
and `assets.extra/` (`tf_serving_warmup_requests`, `clip_spec.json`,
`labels.json`: the class names as a JSON list),
published atomically (`versions`).

Signatures (loading needs no project code, only TensorFlow; `signatures`):
- `serving_default`: `video` float32 (B, T, H, W, 3), RGB in [0, 255];
  normalised inside with the model's clip spec (`(pixel - mean) / std`).
- `classify_frames`: `frames` string (B, T), one JPEG per frame; each is
  made into the test pipeline's centre view inside, with the test pipeline's
  functions (see `nonlocal_tf.export.signatures`).
Both return `probabilities` float32 (B, classes), `top_k_scores` float32
(B, K), `top_k_indices` int32 (B, K) and `top_k_labels` string (B, K).

The model's `ClipSpec` is embedded: `assets.extra/clip_spec.json`, and the
loaded SavedModel's `clip_spec` variable (`inspection.read_clip_spec`).

The model and the export arguments are checked before anything is written
(`model_io_shapes`, `resolve_spec`, ...): each check raises `ValueError`
naming what the export received, so a refused export leaves nothing on disk.
"""

import os
import shutil

import keras
import numpy as np
from absl import logging

from nonlocal_tf import fileio
from nonlocal_tf import locks
from nonlocal_tf.clip_spec import GLOBAL_AVERAGE
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import annotations
from nonlocal_tf.export import inspection
from nonlocal_tf.export import signatures
from nonlocal_tf.export import versions
from nonlocal_tf.export.inspection import describe_signatures  # noqa: F401
from nonlocal_tf.export.inspection import read_clip_spec  # noqa: F401
from nonlocal_tf.export.versions import TMP_PREFIX  # noqa: F401
from nonlocal_tf.export.versions import remove_stale_temp_dirs  # noqa: F401

DEFAULT_WARMUP_FRAMES = 8
_PROBABILITY_TOLERANCE = 1e-2


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
    jit_compile=False,
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
        jit_compile: the model's part of the serving functions compiled
            with XLA (`tf.function(jit_compile=True)`, kept in the export).

    Returns:
        The path of the new version directory.

    Raises:
        ValueError: the model's input is not (B, T, H, W, 3), its output is
            not (B, classes), or the arguments do not fit the model.
        FileExistsError: `version` exists and `overwrite` is False.
        nonlocal_tf.locks.LockedError: another process exports into
            `<base_dir>/<name>` (one at a time there; the message names it).
        fileio.DiskFullError: the disk filled up; nothing of the new version
            is left, the versions already there are unchanged.

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
    _check_arguments(name, base_dir, version)
    # One export at a time into <base>/<name>, refused before building.
    model_dir = os.path.join(os.fspath(base_dir), name)
    with locks.hold(model_dir, f"exporting {name}"):
        spec, archive, min_side, label_names = _build(
            model,
            label_names=label_names,
            clip_spec=clip_spec,
            num_frames=num_frames,
            crop_size=crop_size,
            top_k=top_k,
            from_logits=from_logits,
            jit_compile=jit_compile,
        )
        with fileio.disk_full_as(
            versions.next_version_dir(model_dir, version),
            lambda: versions.kept_hint(model_dir),
        ):
            final_dir = _write(
                archive,
                spec,
                label_names,
                base_dir,
                name,
                version,
                overwrite,
                warmup,
            )
    logging.info(
        "Exported SavedModel %s (%s; frames of at least %dx%d)",
        final_dir,
        spec.describe(),
        min_side,
        min_side,
    )
    return final_dir


def _check_arguments(name, base_dir, version):
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


def _build(
    model,
    *,
    label_names,
    clip_spec,
    num_frames,
    crop_size,
    top_k,
    from_logits,
    jit_compile=False,
):
    """Checks the model and the spec; (spec, archive, min side, labels)."""
    input_shape, output_shape = model_io_shapes(model)
    check_video_input(input_shape, model.name)
    num_classes = check_num_classes(output_shape, model.name)
    _, model_frames, height, width, _ = input_shape
    num_frames = resolve_num_frames(model_frames, num_frames, model.name)
    spec = resolve_spec(model, clip_spec, num_frames, crop_size, input_shape)
    label_names = resolve_label_names(label_names, num_classes, model.name)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer. Received: {top_k}")
    size = spec.test_crop_size
    test_clip = (
        np.random.default_rng(0)
        .standard_normal((1, spec.num_frames, size, size, 3))
        .astype(np.float32)
    )
    from_logits = resolve_from_logits(model, test_clip, from_logits)
    min_side = minimum_frame_side(model, spec.num_frames, height or size)
    video_spec, frames_spec = signatures.signature_specs(
        num_frames, height, width
    )
    serve_video, serve_frames = signatures.serving_functions(
        model,
        video_spec,
        frames_spec,
        label_names,
        spec,
        min(top_k, num_classes),
        from_logits,
        min_side=min_side,
        jit_compile=jit_compile,
    )
    archive = signatures.build_archive(
        model, serve_video, serve_frames, video_spec, frames_spec, spec
    )
    return spec, archive, min_side, label_names


def _write(
    archive, spec, label_names, base_dir, name, version, overwrite, warmup
):
    """The version directory: written in a temp dir, then published."""
    model_dir = os.path.join(os.fspath(base_dir), name)
    os.makedirs(model_dir, exist_ok=True)
    versions.remove_stale_temp_dirs(model_dir)
    if version is not None and not overwrite:
        existing = os.path.join(model_dir, str(version))
        if os.path.exists(existing):
            raise versions.version_exists(version, existing)
    temp_dir = versions.new_temp_dir(model_dir)
    try:
        archive.write_out(temp_dir, verbose=False)
        fileio.atomic_write_text(
            os.path.join(temp_dir, "assets.extra", inspection.CLIP_SPEC_FILE),
            spec.to_json(),
        )
        fileio.atomic_write_json(
            os.path.join(temp_dir, "assets.extra", "labels.json"), label_names
        )
        if warmup:
            records = signatures.warmup_records(
                name, num_frames=spec.num_frames, crop_size=spec.test_crop_size
            )
            signatures.write_warmup_file(temp_dir, records)
        return versions.publish(
            temp_dir, model_dir, version, version is None, overwrite
        )
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise


# ---------------------------------------------------------------- checks
# Of the model and the export arguments, before anything is written.


def model_io_shapes(model):
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


def check_video_input(input_shape, model_name):
    if len(input_shape) != 5 or input_shape[-1] != 3:
        raise ValueError(
            f"Model {model_name!r} must take RGB clips (B, T, H, W, 3), "
            f"channels last. Received input shape {input_shape}."
        )


def check_num_classes(output_shape, model_name):
    if len(output_shape) != 2 or output_shape[-1] is None:
        raise ValueError(
            f"Model {model_name!r} must return class scores (B, classes) "
            f"with a known number of classes. Received output shape "
            f"{output_shape}."
        )
    return int(output_shape[-1])


def resolve_num_frames(model_frames, num_frames, model_name):
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


def spec_of_plain_model(height, width, num_frames):
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


def resolve_spec(model, clip_spec, num_frames, crop_size, input_shape):
    """The spec the signatures follow: given, the model's, or derived."""
    _, model_frames, height, width, _ = input_shape
    if clip_spec is None:
        clip_spec = getattr(model, "clip_spec", None)
    if clip_spec is None:
        spec = spec_of_plain_model(height, width, num_frames or model_frames)
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


def resolve_label_names(label_names, num_classes, model_name):
    if label_names is None:
        return annotations.default_label_names(num_classes)
    label_names = [str(name) for name in label_names]
    if len(label_names) != num_classes:
        raise ValueError(
            f"Model {model_name!r} predicts {num_classes} classes. Received "
            f"{len(label_names)} label names."
        )
    return label_names


def looks_like_probabilities(scores):
    scores = np.asarray(scores, dtype=np.float64)
    sums = scores.sum(axis=-1)
    return (
        scores.min() >= -_PROBABILITY_TOLERANCE
        and np.abs(sums - 1.0).max() <= _PROBABILITY_TOLERANCE
    )


def resolve_from_logits(model, clip, from_logits):
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
    if looks_like_probabilities(scores):
        return False
    if from_logits == "auto":
        return True
    raise ValueError(
        f"Model {model.name!r} does not return probabilities (on a test "
        f"clip its scores span [{scores.min():.3g}, {scores.max():.3g}] and "
        f"sum to {scores.sum(axis=-1)[0]:.4g}). If it returns logits, pass "
        "from_logits=True so the export applies a softmax."
    )


def _fits(probe, num_frames, side):
    """Whether every layer has a non-empty output for `side` x `side` frames.

    Symbolic: only shapes are computed (a real call at a size the model does
    not support can crash the process inside oneDNN). Layers that cannot
    compute at that size raise (a non-local block whose subsampling pool is
    larger than its input, a pool larger than its input...).
    """
    try:
        outputs = probe(keras.KerasTensor((1, num_frames, side, side, 3)))
    except ValueError:
        return False
    return all(
        dim is None or dim > 0
        for output in keras.tree.flatten(outputs)
        for dim in output.shape
    )


def minimum_frame_side(model, num_frames, largest):
    """The smallest square frame side (<= `largest`) the model computes on.

    Strided convolutions and pools, and the non-local blocks' subsampling,
    each need a few pixels; the layer shapes are propagated for candidate
    sizes (doubling, then bisecting), nothing is run.

    Example:
        >>> minimum_frame_side(model, 8, 256)  # doctest: +SKIP
        17
    """
    layers = [layer for layer in model.layers[1:] if layer._inbound_nodes]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    if not _fits(probe, num_frames, largest):
        raise ValueError(
            f"Model {model.name!r} does not compute on {num_frames}-frame "
            f"clips of {largest}x{largest} (the frames signature's size)."
        )
    low, high = 0, 1
    while high < largest and not _fits(probe, num_frames, high):
        low, high = high, min(high * 2, largest)
    while high - low > 1:
        middle = (low + high) // 2
        if _fits(probe, num_frames, middle):
            high = middle
        else:
            low = middle
    return high
