"""SavedModel export for TF Serving (design.md, "Serving contract").

Layout: `<base_dir>/<name>/<version>/` with `saved_model.pb`, `variables/`
and `assets.extra/` (`tf_serving_warmup_requests`, `clip_spec.json`),
published atomically (`versions`).

Signatures (loading needs no project code, only TensorFlow; `signatures`):
- `serving_default`: `video` float32 (B, T, H, W, 3), RGB in [0, 255];
  normalised inside with the model's clip spec (`(pixel - mean) / std`).
- `classify_frames`: `frames` string (B, T), one JPEG per frame; each is
  made into the test pipeline's centre view inside, with the test pipeline's
  functions (see `nonlocal_tf.export.preprocessing`).
Both return `probabilities` float32 (B, classes), `top_k_scores` float32
(B, K), `top_k_indices` int32 (B, K) and `top_k_labels` string (B, K).

The model's `ClipSpec` is embedded: `assets.extra/clip_spec.json`, and the
loaded SavedModel's `clip_spec` variable (`inspection.read_clip_spec`).
"""

import os
import shutil

import keras
import numpy as np
from absl import logging

from nonlocal_tf import fileio
from nonlocal_tf.export import inspection
from nonlocal_tf.export import signatures
from nonlocal_tf.export import validation
from nonlocal_tf.export import versions
from nonlocal_tf.export import warmup as warmup_lib
from nonlocal_tf.export.inspection import describe_signatures  # noqa: F401
from nonlocal_tf.export.inspection import read_clip_spec  # noqa: F401
from nonlocal_tf.export.versions import TMP_PREFIX  # noqa: F401
from nonlocal_tf.export.versions import remove_stale_temp_dirs  # noqa: F401


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
    spec, archive, min_side = _build(
        model,
        label_names=label_names,
        clip_spec=clip_spec,
        num_frames=num_frames,
        crop_size=crop_size,
        top_k=top_k,
        from_logits=from_logits,
        jit_compile=jit_compile,
    )
    final_dir = _write(
        archive, spec, base_dir, name, version, overwrite, warmup
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
    """Checks the model and the spec; returns (spec, archive, min side)."""
    input_shape, output_shape = validation.model_io_shapes(model)
    validation.check_video_input(input_shape, model.name)
    num_classes = validation.check_num_classes(output_shape, model.name)
    _, model_frames, height, width, _ = input_shape
    num_frames = validation.resolve_num_frames(
        model_frames, num_frames, model.name
    )
    spec = validation.resolve_spec(
        model, clip_spec, num_frames, crop_size, input_shape
    )
    label_names = validation.resolve_label_names(
        label_names, num_classes, model.name
    )
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer. Received: {top_k}")
    size = spec.test_crop_size
    test_clip = (
        np.random.default_rng(0)
        .standard_normal((1, spec.num_frames, size, size, 3))
        .astype(np.float32)
    )
    from_logits = validation.resolve_from_logits(model, test_clip, from_logits)
    min_side = validation.minimum_frame_side(
        model, spec.num_frames, height or size
    )
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
    return spec, archive, min_side


def _write(archive, spec, base_dir, name, version, overwrite, warmup):
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
        if warmup:
            records = warmup_lib.warmup_records(
                name, num_frames=spec.num_frames, crop_size=spec.test_crop_size
            )
            warmup_lib.write_warmup_file(temp_dir, records)
        return versions.publish(
            temp_dir, model_dir, version, version is None, overwrite
        )
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
