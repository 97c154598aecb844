r"""Exports a video classifier: a TF Serving SavedModel, ONNX, OpenVINO or
LiteRT.

Writes `<export_dir>/<name>/<version>/` (the layout TF Serving, OpenVINO
Model Server and Triton read; --version default: the next free one).

--format=saved_model (default): the `serving_default` (float clip) and
`classify_frames` (JPEG frames) signatures, TF Serving warm-up requests and
the model's clip spec and class names (`assets.extra/`), then prints the
signatures. `classify_frames` makes the test pipeline's centre view of each
frame (the spec's test crop size), with the test pipeline's own functions.

--format=onnx | openvino | litert: `model.onnx` | `model.xml` + `model.bin`
| `model.tflite`, with `clip_spec.json` and `labels.json` beside it (both
also embedded in the artifact). With --input_kind=video (default) the graph
takes `video` float32 (B, T, S, S, 3), RGB in [0, 255], T and S the clip
spec's frames and test crop size (the clip already resized and cropped);
with --input_kind=frames it takes `frames` uint8 (B, T, H, W, 3) of any
size and makes the spec's centre test crop inside (resize, rounding, crop).
Either way it normalises inside and returns `probabilities` (B, classes);
the batch is dynamic. Run it with
`nonlocal_tf.export.load_exported` or `predict.py --exported`. Needs the
format's extra (`pip install 'nonlocal-tf[onnx]'`, `[openvino]`; LiteRT is
converted by TensorFlow itself, `[litert]` runs it). Examples:

  python scripts/export.py --model=/runs/c2d_nl \
      --labels=records/label_map.json --export_dir=/models --name=c2d_nl

  python scripts/export.py --model=I3D_NLN_8x8_R50 \
      --weights=/weights/I3D_NLN_8x8_R50.pkl --labels=kinetics_400.json \
      --export_dir=/models

  python scripts/export.py --model=run/model.keras --labels=labels.txt \
      --export_dir=/models --name=my_model

  python scripts/export.py --model=/runs/c2d_nl --format=onnx \
      --export_dir=/models --name=c2d_nl_onnx

  python scripts/export.py --model=/runs/c2d_nl --format=openvino \
      --input_kind=frames --export_dir=/models --name=c2d_nl_frames
"""

import os

from absl import app
from absl import flags
from absl import logging

from nonlocal_tf import cli
from nonlocal_tf import locks
from nonlocal_tf.data import annotations
from nonlocal_tf.export import runtimes
from nonlocal_tf.programs import common

# Modules that import TensorFlow are imported in the functions that use
# them, after `cli.run` has loaded it quietly (programs/__init__.py).

FLAGS = flags.FLAGS
flags.DEFINE_string("keras_model", None, "A .keras file (same as --model).")
common.define_model_flags(
    "For --model: classes of the head; default the number of --labels, "
    "else the model's."
)
flags.DEFINE_string(
    "labels",
    None,
    "Class names: a JSON label map {name: index}, a JSON list, or a text "
    "file with one name per line. Default: the model's own (a training "
    "run records its label map), else class_<i>.",
)
flags.DEFINE_enum(
    "format",
    runtimes.SAVED_MODEL,
    list(runtimes.FORMATS),
    "What to write: a TF Serving SavedModel, or an ONNX, OpenVINO or LiteRT "
    "model (input per --input_kind, probabilities out).",
)
flags.DEFINE_enum(
    "input_kind",
    runtimes.VIDEO_INPUT,
    list(runtimes.INPUT_KINDS),
    "onnx, openvino and litert only: 'video' takes float32 clips in [0, 255] "
    "at the test crop; 'frames' takes uint8 frames of any size and resizes, "
    "crops and normalises them in the graph.",
)
flags.DEFINE_string("export_dir", None, "Base directory of served models.")
flags.DEFINE_string(
    "name", None, "Served model name. Default: --model's name or file stem."
)
flags.DEFINE_integer(
    "version",
    None,
    "Version number. Default: the next free one.",
    lower_bound=1,
)
common.define_clip_flags()
flags.DEFINE_integer(
    "top_k",
    5,
    "Number of best classes returned (saved_model only).",
    lower_bound=1,
)
flags.DEFINE_enum(
    "from_logits",
    "auto",
    ["auto", "true", "false"],
    "Whether the model returns logits (auto: decided on a random clip).",
)
flags.DEFINE_bool(
    "warmup", True, "Write TF Serving warm-up requests (saved_model only)."
)
flags.DEFINE_bool("overwrite", False, "Replace an existing --version.")
flags.DEFINE_bool(
    "jit_compile",
    False,
    "Compile the model's part of the serving functions with XLA (slower "
    "than without on a 2-core CPU, see docs/performance.md; saved_model "
    "only).",
)
flags.adopt_module_key_flags(common)
flags.mark_flag_as_required("export_dir")


def _default_name(source):
    stem = source.rstrip("/").rsplit("/", 1)[-1]
    return stem.removesuffix(".keras")


def _load(source, label_names):
    """`(model, clip spec)`; the spec is None for a plain Keras model."""
    if source.endswith(".keras") and not _is_video_classifier(source):
        import keras

        from nonlocal_tf import models  # noqa: F401  (registers our layers)

        logging.info("%s carries no clip spec: derived from its shape", source)
        return keras.saving.load_model(source, compile=False), None
    resolved = common.resolve_model(
        FLAGS,
        source=source,
        num_classes=FLAGS.num_classes
        or (len(label_names) if label_names else None),
        # T pinned, frame size free: serving_default takes any crop.
        input_shape_fn=lambda spec: (spec.num_frames, None, None, 3),
    )
    return resolved.model, resolved.clip_spec


def _is_video_classifier(path):
    from nonlocal_tf import zoo

    try:
        zoo.clip_spec_of(path)
    except zoo.NoClipSpecError:
        return False
    return True


def main(argv):
    del argv
    source = FLAGS.model or FLAGS.keras_model
    if bool(FLAGS.model) == bool(FLAGS.keras_model):
        raise app.UsageError("Give exactly one of --model and --keras_model.")
    if FLAGS.format != runtimes.SAVED_MODEL:
        for name in _SAVED_MODEL_FLAGS:
            if FLAGS[name].present:
                raise app.UsageError(
                    f"--{name} applies to --format=saved_model only; "
                    f"received --format={FLAGS.format}."
                )
    elif any(FLAGS[name].present for name in _OTHER_FORMAT_FLAGS):
        raise app.UsageError(
            "--input_kind applies to --format=onnx, openvino and litert; a "
            "SavedModel has both serving_default (float clips) and "
            "classify_frames (JPEG frames)."
        )
    label_names = None
    if FLAGS.labels:
        label_names = annotations.load_label_names(FLAGS.labels)
    name = FLAGS.name or _default_name(source)
    # One export at a time into <export_dir>/<name> (the library takes the
    # same lock): a second is refused before the model is loaded.
    model_dir = os.path.join(FLAGS.export_dir, name)
    with locks.hold(model_dir, f"exporting {name}"):
        _load_and_export(source, name, label_names)


def _load_and_export(source, name, label_names):
    model, spec = _load(source, label_names)
    if label_names is None:
        label_names = getattr(model, "class_names", None)  # a trained run's
    from_logits = {"auto": "auto", "true": True, "false": False}[
        FLAGS.from_logits
    ]
    common_args = dict(
        label_names=label_names,
        clip_spec=spec,
        num_frames=None if spec else FLAGS.num_frames,
        crop_size=None if spec else FLAGS.test_crop_size,
        from_logits=from_logits,
        overwrite=FLAGS.overwrite,
    )
    if FLAGS.format == runtimes.SAVED_MODEL:
        _export_saved_model(model, name, common_args)
    else:
        _export_other(model, name, common_args)


_SAVED_MODEL_FLAGS = ("top_k", "warmup", "jit_compile")
_OTHER_FORMAT_FLAGS = ("input_kind",)


def _export_saved_model(model, name, common_args):
    from nonlocal_tf.export import saved_model

    path = saved_model.export_saved_model(
        model,
        FLAGS.export_dir,
        name,
        version=FLAGS.version,
        top_k=FLAGS.top_k,
        warmup=FLAGS.warmup,
        jit_compile=FLAGS.jit_compile,
        **common_args,
    )
    logging.info("Exported %s", path)
    print(f"SavedModel: {path}")
    print(f"clip spec: {saved_model.read_clip_spec(path).describe()}")
    print(saved_model.describe_signatures(path))


def _export_other(model, name, common_args):
    """ONNX, OpenVINO or LiteRT in `<export_dir>/<name>/<version>/`."""
    from nonlocal_tf.export import formats
    from nonlocal_tf.export import versions

    model_dir = os.path.join(FLAGS.export_dir, name)
    version = FLAGS.version
    if version is None:
        existing = (
            versions.integer_versions(model_dir)
            if os.path.isdir(model_dir)
            else []
        )
        version = max(existing, default=0) + 1
    elif version < 1:
        raise app.UsageError(f"--version must be >= 1; received {version}")
    try:
        path = formats.export_model(
            model,
            os.path.join(model_dir, str(version)),
            FLAGS.format,
            input_kind=FLAGS.input_kind,
            **common_args,
        )
    except runtimes.MissingExtraError as error:
        raise app.UsageError(str(error)) from None
    logging.info("Exported %s", path)
    print(f"{FLAGS.format}: {path}")
    print(formats.describe_export(path))


def run():
    """The console command `nonlocal-export`."""
    cli.run(main, tensorflow=True)
