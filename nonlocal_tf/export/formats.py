"""Exports to ONNX, OpenVINO and LiteRT, and the one entry point for every
format (`export_model`).

Formats (`FORMATS`) and what `path` holds afterwards:

| format        | files in `path/`                       | runtime           |
|---------------|----------------------------------------|-------------------|
| `saved_model` | TF Serving SavedModel (`saved_model`)  | TF, TF Serving    |
| `onnx`        | `model.onnx`                           | ONNX Runtime      |
| `openvino`    | `model.xml` + `model.bin` (IR)         | OpenVINO          |
| `litert`      | `model.tflite`                         | LiteRT (TF Lite)  |

The ONNX, OpenVINO and LiteRT directories also hold `clip_spec.json` (the
model's `ClipSpec.to_dict()`) and `labels.json` (the class names, a JSON
list); the SavedModel keeps both in `assets.extra/`. `path/` is written in a
temporary directory beside it and renamed into place (`versions`), and an
existing `path/` is replaced only with `overwrite=True`.

The exported graph (ONNX, OpenVINO, LiteRT), one per model, takes one of two
inputs (`input_kind`):
- `"video"` (default): input `video`, float32 `(B, T, S, S, 3)`, RGB in
  [0, 255], where T is the clip spec's `num_frames` and S its
  `test_crop_size`: a clip already made by the spec's test transform (short
  side scaled to S, centre or side crop of S x S:
  `nonlocal_tf.models.preprocessing`, `data.read_video_views`). T and S are
  static.
- `"frames"`: input `frames`, uint8 `(B, T, H, W, 3)`, RGB, the T decoded
  frames of a clip at any size (H and W are dynamic). The clip spec's test
  transform is inside the graph, as `VideoResNetVideoConverter` does it:
  bilinear resize (half-pixel centres, no antialiasing) to short side S,
  rounding to uint8, the centre S x S crop. ONNX (`Resize`), OpenVINO
  (`Interpolate`) and LiteRT (`RESIZE_BILINEAR`, builtin) all run it.
In both, B is dynamic (LiteRT: the interpreter's input is resized to the
batch and frame size, `resize_tensor_input`), the normalisation
`(pixel - mean) / std` with the spec's mean and std is inside the graph,
then the model's backbone and head at the static S x S input: the fully
convolutional head (`ClipSpec.test_head`) pools res5 with the training
window at stride 1 over a test crop larger than the training crop, as the
Keras model does. The output `probabilities` is float32 `(B, num_classes)`
(a softmax is added for a model that returns logits, `from_logits`). The
SavedModel has its own two signatures instead: `serving_default` (the float
clip, any frame size) and `classify_frames` (JPEG frames).

Metadata: the clip spec and the class names, each a JSON string under the
keys `clip_spec` and `class_names`, are embedded in every artifact: ONNX
`metadata_props`, OpenVINO `rt_info` (`["nonlocal_tf", key]`), LiteRT
flatbuffer metadata entries. `nonlocal_tf.export.runtimes.load_exported`
reads them back and runs the artifact.

Converters: tf2onnx (`onnx` extra), OpenVINO's own TensorFlow frontend
(`openvino` extra) and TensorFlow's `tf.lite.TFLiteConverter` with builtin
ops only (no Flex ops: an op without a builtin LiteRT kernel is an error
that names it). Export needs the TensorFlow Keras backend.

Example:
    >>> from nonlocal_tf import export
    >>> export.export_model(model, "/models/i3d_onnx", format="onnx")
    '/models/i3d_onnx'
    >>> exported = export.load_exported("/models/i3d_onnx")
    >>> exported.predict(clips)  # (B, T, S, S, 3) in [0, 255]
"""

import contextlib
import dataclasses
import functools
import json
import logging as std_logging
import os
import re
import shutil

import keras
import numpy as np
from absl import logging

from nonlocal_tf import fileio
from nonlocal_tf import locks
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.export import runtimes
from nonlocal_tf.export import saved_model
from nonlocal_tf.export import versions

# The layout and the names, shared with the runtimes (no TensorFlow there).
from nonlocal_tf.export.runtimes import CLASS_NAMES_KEY
from nonlocal_tf.export.runtimes import CLIP_SPEC_FILE
from nonlocal_tf.export.runtimes import CLIP_SPEC_KEY
from nonlocal_tf.export.runtimes import FORMATS
from nonlocal_tf.export.runtimes import FRAMES_INPUT
from nonlocal_tf.export.runtimes import FRAMES_INPUT_NAME
from nonlocal_tf.export.runtimes import INPUT_KINDS
from nonlocal_tf.export.runtimes import INPUT_NAME
from nonlocal_tf.export.runtimes import LABELS_FILE
from nonlocal_tf.export.runtimes import LITERT
from nonlocal_tf.export.runtimes import MODEL_FILES
from nonlocal_tf.export.runtimes import ONNX
from nonlocal_tf.export.runtimes import OPENVINO
from nonlocal_tf.export.runtimes import OPENVINO_RT_SECTION
from nonlocal_tf.export.runtimes import OUTPUT_NAME
from nonlocal_tf.export.runtimes import SAVED_MODEL
from nonlocal_tf.export.runtimes import VIDEO_INPUT
from nonlocal_tf.export.runtimes import MissingExtraError  # noqa: F401
from nonlocal_tf.export.runtimes import missing_extra

# ONNX opset of the exports (ONNX Runtime >= 1.13 runs it).
ONNX_OPSET = 17

# The Python modules each export needs (the extra of the same name).
_EXPORT_MODULES = {
    ONNX: ("tf2onnx", "onnx"),
    OPENVINO: ("openvino",),
    LITERT: (),  # TensorFlow's own converter
}


def check_format(format):
    """`format`, lower-cased, if it is one of `FORMATS`; else ValueError."""
    name = str(format).strip().lower()
    if name not in FORMATS:
        raise ValueError(
            f"Unknown export format {format!r}; expected one of "
            f"{', '.join(FORMATS)}."
        )
    return name


def require_modules(format, modules, extra=None):
    """Imports `modules` or raises `MissingExtraError` naming the extra."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise missing_extra(format, module, extra, error) from error


# ---------------------------------------------------------------- the graph


@dataclasses.dataclass
class ExportGraph:
    """The graph every format converts: clips or frames -> probabilities.

    Built once by `build_export_graph` and written by `write_export` in any
    number of formats (each conversion starts from the same traced
    function).

    Attributes:
        function: the `tf.function` `video -> {"probabilities": ...}`.
        clip_spec: the `ClipSpec` its input follows (T, S, mean, std).
        class_names: the names of the outputs, in order.
        model_name: the Keras model's name (for messages).
        input_kind: "video" (float32 clips at the test crop) or "frames"
            (uint8 frames of any size, preprocessed in the graph).
    """

    function: object
    clip_spec: ClipSpec
    class_names: list
    model_name: str
    input_kind: str = VIDEO_INPUT

    @property
    def input_name(self):
        return (
            FRAMES_INPUT_NAME if self.input_kind == FRAMES_INPUT else INPUT_NAME
        )

    @property
    def input_shape(self):
        """`(None, T, S, S, 3)`, or `(None, T, None, None, 3)` for frames."""
        size = self.clip_spec.test_crop_size
        if self.input_kind == FRAMES_INPUT:
            size = None
        return (None, self.clip_spec.num_frames, size, size, 3)

    @property
    def num_classes(self):
        return len(self.class_names)

    @functools.cached_property
    def concrete_function(self):
        return self.function.get_concrete_function()

    @functools.cached_property
    def frozen_function(self):
        """The concrete function with its variables made constants."""
        # TensorFlow's freezing (what tf2onnx and tf.lite do themselves);
        # LiteRT's own freezing of a Keras 3 function kept some variables
        # as uninitialised resources (NaN outputs), this one does not.
        from tensorflow.python.framework import convert_to_constants

        return convert_to_constants.convert_variables_to_constants_v2(
            self.concrete_function
        )

    def metadata(self):
        """`{key: JSON string}` embedded in every artifact."""
        return {
            CLIP_SPEC_KEY: self.clip_spec.to_json(),
            CLASS_NAMES_KEY: json.dumps(self.class_names, ensure_ascii=False),
        }

    def describe(self):
        """The input and output, as `describe_signatures` lists them."""
        dims = ", ".join(
            "-1" if d is None else str(d) for d in self.input_shape
        )
        if self.input_kind == FRAMES_INPUT:
            described = (
                f"  input  {FRAMES_INPUT_NAME}: uint8 ({dims}), RGB frames of "
                "any size (resized, cropped and normalised in the graph)"
            )
        else:
            described = (
                f"  input  {INPUT_NAME}: float32 ({dims}), RGB in [0, 255]"
            )
        return "\n".join(
            [
                described,
                f"  output {OUTPUT_NAME}: float32 (-1, {self.num_classes})",
            ]
        )


def build_export_graph(
    model,
    *,
    label_names=None,
    clip_spec=None,
    num_frames=None,
    crop_size=None,
    from_logits=False,
    input_kind=VIDEO_INPUT,
):
    """Checks the model and traces the graph the formats convert.

    Args:
        model: a single-input, single-output Keras video classifier (a
            `VideoClassifier`, or any model taking (B, T, H, W, 3)).
        label_names: class names; default the model's `class_names`, else
            `class_<i>`.
        clip_spec: the `ClipSpec` of the input; default the model's.
        num_frames: T (overrides the spec's; must fit the model).
        crop_size: S, the frame side (overrides the spec's
            `test_crop_size`).
        from_logits: True if the model returns logits (a softmax is added),
            False if it returns probabilities (checked on a random clip),
            "auto" to decide from that check.
        input_kind: "video" (float32 clips at the test crop, the default)
            or "frames" (uint8 frames of any size; the clip spec's test
            resize, rounding and centre crop in the graph).

    Returns:
        An `ExportGraph`.

    Raises:
        ValueError: the model or the arguments do not fit (the message names
            what was received).
    """
    _check_backend()
    input_kind = check_input_kind(input_kind)
    input_shape, output_shape = saved_model.model_io_shapes(model)
    saved_model.check_video_input(input_shape, model.name)
    num_classes = saved_model.check_num_classes(output_shape, model.name)
    _, model_frames, height, width, _ = input_shape
    num_frames = saved_model.resolve_num_frames(
        model_frames, num_frames, model.name
    )
    rebuild = _static_sides_differ(model, clip_spec, crop_size, height, width)
    spec = saved_model.resolve_spec(
        model,
        clip_spec,
        num_frames,
        crop_size,
        (None, model_frames, None, None, 3) if rebuild else input_shape,
    )
    if rebuild:
        model = _rebuilt_at(model, spec)
    if label_names is None:
        label_names = getattr(model, "class_names", None)
    label_names = saved_model.resolve_label_names(
        label_names, num_classes, model.name
    )
    size = spec.test_crop_size
    test_clip = (
        np.random.default_rng(0)
        .standard_normal((1, spec.num_frames, size, size, 3))
        .astype(np.float32)
    )
    from_logits = saved_model.resolve_from_logits(model, test_clip, from_logits)
    function = _classify_function(model, spec, from_logits, input_kind)
    return ExportGraph(function, spec, label_names, model.name, input_kind)


def check_input_kind(input_kind):
    """`input_kind` if it is one of `INPUT_KINDS`; else ValueError."""
    if input_kind not in INPUT_KINDS:
        raise ValueError(
            f"Unknown input_kind {input_kind!r}; expected one of "
            f"{', '.join(INPUT_KINDS)}."
        )
    return input_kind


def _check_backend():
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "Export needs KERAS_BACKEND=tensorflow. Received backend "
            f"{keras.backend.backend()!r}; save the model as .keras and "
            "export it from a TensorFlow-backend process."
        )


def _static_sides_differ(model, clip_spec, crop_size, height, width):
    """Whether a `VideoClassifier` built at fixed H, W must be rebuilt."""
    spec = (
        clip_spec
        if clip_spec is not None
        else getattr(model, "clip_spec", None)
    )
    if spec is None or not hasattr(model, "backbone"):
        return False
    size = crop_size or ClipSpec.from_dict(spec).test_crop_size
    return any(side is not None and side != size for side in (height, width))


def _rebuilt_at(model, spec):
    """The same classifier (weights copied) taking (T, S, S, 3) clips."""
    size = spec.test_crop_size
    config = model.get_config()
    backbone = dict(config["backbone"])
    backbone["config"] = dict(
        backbone["config"], input_shape=[spec.num_frames, size, size, 3]
    )
    config["backbone"] = backbone
    rebuilt = type(model).from_config(config)
    rebuilt.set_weights(model.get_weights())
    logging.info(
        "Model %r takes frames of a fixed size; rebuilt at %dx%d for export",
        model.name,
        size,
        size,
    )
    return rebuilt


def _classify_function(model, spec, from_logits, input_kind=VIDEO_INPUT):
    import tensorflow as tf

    from nonlocal_tf.models import preprocessing

    size = spec.test_crop_size

    def probabilities(clip):
        scores = tf.cast(model(clip, training=False), tf.float32)
        if from_logits:
            scores = tf.nn.softmax(scores, axis=-1)
        return {OUTPUT_NAME: scores}

    if input_kind == FRAMES_INPUT:
        converter = preprocessing.VideoResNetVideoConverter.from_clip_spec(spec)
        frames_spec = tf.TensorSpec(
            [None, spec.num_frames, None, None, 3],
            tf.uint8,
            name=FRAMES_INPUT_NAME,
        )

        @tf.function(input_signature=[frames_spec], autograph=False)
        def classify_frames(frames):
            # float32 before the resize: ONNX's Resize keeps its input's
            # dtype (TensorFlow's resizes uint8 frames in float32).
            return probabilities(converter(tf.cast(frames, tf.float32)))

        return classify_frames

    video_spec = tf.TensorSpec(
        [None, spec.num_frames, size, size, 3], tf.float32, name=INPUT_NAME
    )

    @tf.function(input_signature=[video_spec], autograph=False)
    def classify(video):
        return probabilities(
            preprocessing.normalize(video, spec.mean, spec.std)
        )

    return classify


# ---------------------------------------------------------------- writing


def export_model(
    model,
    path,
    format=SAVED_MODEL,
    *,
    label_names=None,
    clip_spec=None,
    num_frames=None,
    crop_size=None,
    from_logits=False,
    input_kind=VIDEO_INPUT,
    overwrite=False,
    **saved_model_kwargs,
):
    """Exports a video classifier in one of `FORMATS`.

    Args:
        model: a built Keras video classifier (`VideoClassifier` or any
            model taking (B, T, H, W, 3) clips and returning class scores).
        path: for "onnx", "openvino" and "litert": the directory to write
            (`model.onnx` | `model.xml` + `model.bin` | `model.tflite`, plus
            `clip_spec.json` and `labels.json`). For "saved_model": the TF
            Serving version directory `<base>/<name>/<version>`, or
            `<base>/<name>` for the next free version (`export_saved_model`).
        format: "saved_model" (default), "onnx", "openvino" or "litert".
        label_names: class names; default the model's `class_names`, else
            `class_<i>`.
        clip_spec: the input's `ClipSpec`; default the model's.
        num_frames: T (overrides the spec's).
        crop_size: S, the test crop (overrides the spec's).
        from_logits: True if the model returns logits, False if it returns
            probabilities (checked), or "auto".
        input_kind: for "onnx", "openvino" and "litert": "video" (float32
            clips at the test crop, the default) or "frames" (uint8 frames
            of any size, resized, cropped and normalised in the graph). A
            SavedModel always has both its signatures (float clips and JPEG
            frames).
        overwrite: replace an existing `path`.
        **saved_model_kwargs: `export_saved_model`'s other arguments
            (`top_k`, `warmup`, `jit_compile`), for "saved_model" only.

    Returns:
        The path of the written directory.

    Raises:
        ValueError: an unknown format, or a model or arguments that do not
            fit (nothing is written).
        MissingExtraError: the format's optional packages are missing
            (`pip install 'nonlocal-tf[onnx]'`, ...).
        FileExistsError: `path` exists and `overwrite` is False.

    Example:
        >>> export_model(model, "/models/c2d_nl/onnx", format="onnx")
        '/models/c2d_nl/onnx'
    """
    format = check_format(format)
    input_kind = check_input_kind(input_kind)
    if label_names is None:
        label_names = getattr(model, "class_names", None)
    if format == SAVED_MODEL:
        if input_kind != VIDEO_INPUT:
            raise ValueError(
                f"input_kind={input_kind!r} applies to the onnx, openvino "
                "and litert formats; a SavedModel always has both "
                "serving_default (float clips) and classify_frames (JPEG "
                "frames)."
            )
        return _export_saved_model(
            model,
            path,
            label_names=label_names,
            clip_spec=clip_spec,
            num_frames=num_frames,
            crop_size=crop_size,
            from_logits=from_logits,
            overwrite=overwrite,
            **saved_model_kwargs,
        )
    if saved_model_kwargs:
        raise TypeError(
            f"{sorted(saved_model_kwargs)} apply to the saved_model format "
            f"only; received format={format!r}."
        )
    require_modules(format, _EXPORT_MODULES[format])
    path = _check_destination(path, overwrite)
    # One export at a time into `path`'s folder, refused before converting.
    with _publish_lock(path, format):
        graph = build_export_graph(
            model,
            label_names=label_names,
            clip_spec=clip_spec,
            num_frames=num_frames,
            crop_size=crop_size,
            from_logits=from_logits,
            input_kind=input_kind,
        )
        return write_export(graph, path, format, overwrite=overwrite)


def _publish_lock(path, format):
    """The lock of the folder `path` is published in (`nonlocal_tf.locks`)."""
    parent = os.path.dirname(os.path.abspath(path))
    return locks.hold(parent, f"exporting {format} to {path}")


def write_export(graph, path, format, *, overwrite=False):
    """Converts an `ExportGraph` and writes `path/` atomically.

    Args:
        graph: from `build_export_graph`.
        path: the directory to write.
        format: "onnx", "openvino" or "litert".
        overwrite: replace an existing `path`.

    Returns:
        `path`.
    """
    format = check_format(format)
    if format == SAVED_MODEL:
        raise ValueError(
            "write_export writes onnx, openvino and litert; a SavedModel is "
            "written by export_model(format='saved_model') or "
            "export_saved_model."
        )
    require_modules(format, _EXPORT_MODULES[format])
    path = _check_destination(path, overwrite)
    parent = os.path.dirname(os.path.abspath(path))
    with _publish_lock(path, format):
        versions.remove_stale_temp_dirs(parent)
        temp_dir = versions.new_temp_dir(parent)
        try:
            os.makedirs(temp_dir)
            _WRITERS[format](graph, os.path.join(temp_dir, MODEL_FILES[format]))
            fileio.atomic_write_json(
                os.path.join(temp_dir, CLIP_SPEC_FILE),
                graph.clip_spec.to_dict(),
                sort_keys=True,
            )
            fileio.atomic_write_json(
                os.path.join(temp_dir, LABELS_FILE), graph.class_names
            )
            _publish(temp_dir, path, overwrite)
        except BaseException as error:
            shutil.rmtree(temp_dir, ignore_errors=True)
            if fileio.is_disk_full(error):
                kept = (
                    "the previous export is unchanged"
                    if os.path.exists(path)
                    else "nothing was published there"
                )
                raise fileio.DiskFullError(
                    path, f"{kept}; free space and rerun"
                ) from error
            raise
    logging.info(
        "Exported %s %s (%s)", format, path, graph.clip_spec.describe()
    )
    return path


def describe_export(path):
    """What an ONNX, OpenVINO or LiteRT export holds and takes.

    Reads the clip spec and the class names from the JSON files beside the
    model, and the input (clips or frames) from the artifact, loaded with its
    runtime.

    Example:
        >>> print(describe_export("/models/c2d_nl_onnx/1"))
        files: clip_spec.json, labels.json, model.onnx
        clip spec: 8x8 caffe2 sampling, ...
          input  video: float32 (-1, 8, 256, 256, 3), RGB in [0, 255]
          output probabilities: float32 (-1, 400)
    """
    path = os.fspath(path)
    with open(os.path.join(path, CLIP_SPEC_FILE), encoding="utf-8") as f:
        spec = ClipSpec.from_dict(json.load(f))
    with open(os.path.join(path, LABELS_FILE), encoding="utf-8") as f:
        names = json.load(f)
    input_kind = runtimes.load_exported(path).input_kind
    graph = ExportGraph(None, spec, names, "", input_kind)
    return "\n".join(
        [
            f"files: {', '.join(sorted(os.listdir(path)))}",
            f"clip spec: {spec.describe()}",
            graph.describe(),
        ]
    )


def _export_saved_model(model, path, *, overwrite, **kwargs):
    path = os.fspath(path).rstrip("/")
    parent, last = os.path.split(path)
    if last.isdigit() and int(last) >= 1:
        base_dir, name = os.path.split(parent)
        version = int(last)
    else:
        base_dir, name, version = parent, last, None
    return saved_model.export_saved_model(
        model,
        base_dir or ".",
        name,
        version=version,
        overwrite=overwrite,
        **kwargs,
    )


def _check_destination(path, overwrite):
    path = os.fspath(path)
    if "://" in path:
        raise ValueError(
            f"The export path must be a local directory. Received {path!r}; "
            "export locally and copy the directory."
        )
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(
            f"{path} already exists (replace it with overwrite=True, "
            "--overwrite in export.py, or give another path)"
        )
    return path


def _publish(temp_dir, path, overwrite):
    """Renames the finished temp dir to `path` (replacing it if asked)."""
    if os.path.exists(path):
        if not overwrite:
            raise FileExistsError(f"{path} already exists")
        retired = versions.new_temp_dir(
            os.path.dirname(os.path.abspath(path)), versions.RETIRED_PREFIX
        )
        os.rename(path, retired)
        os.rename(temp_dir, path)
        shutil.rmtree(retired, ignore_errors=True)
        return
    os.rename(temp_dir, path)


@contextlib.contextmanager
def _quiet(*names):
    """Python loggers `names` at ERROR level inside the block."""
    loggers = [std_logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(std_logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# ---------------------------------------------------------------- formats


def _write_onnx(graph, model_path):
    # The `onnx` extra (tf2onnx, onnx), imported on use.
    import onnx
    import tf2onnx

    frozen = graph.frozen_function
    input_name = frozen.inputs[0].name
    output_name = frozen.outputs[0].name
    with _quiet("tf2onnx", "tensorflow"):
        proto, _ = tf2onnx.convert.from_graph_def(
            frozen.graph.as_graph_def(),
            name=graph.model_name,
            input_names=[input_name],
            output_names=[output_name],
            opset=ONNX_OPSET,
            tensors_to_rename={
                input_name: graph.input_name,
                output_name: OUTPUT_NAME,
            },
        )
    for key, value in graph.metadata().items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value
    proto.doc_string = (
        f"{graph.model_name}:\n{graph.describe()}\nclip spec and class names "
        "in metadata_props"
    )
    onnx.save(proto, model_path)


def _write_openvino(graph, model_path):
    # The `openvino` extra, imported on use.
    import openvino

    with _quiet("tensorflow"):
        ov_model = openvino.convert_model(graph.concrete_function)
    if len(ov_model.outputs) != 1:
        raise RuntimeError(
            f"OpenVINO converted {graph.model_name!r} to "
            f"{len(ov_model.outputs)} outputs; expected 1 ({OUTPUT_NAME})."
        )
    ov_model.inputs[0].get_tensor().set_names({graph.input_name})
    ov_model.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    for key, value in graph.metadata().items():
        ov_model.set_rt_info(value, [OPENVINO_RT_SECTION, key])
    # float32 weights: save_model compresses them to float16 by default.
    openvino.save_model(ov_model, model_path, compress_to_fp16=False)


_UNSUPPORTED_OP = re.compile(
    r"'tf\.(\w+)' op is neither a custom op nor a flex op"
)


def litert_unsupported_ops(message):
    """The TensorFlow ops a LiteRT conversion error names, in order.

    Example:
        >>> litert_unsupported_ops(str(converter_error))
        ['AvgPool3D']
    """
    return list(dict.fromkeys(_UNSUPPORTED_OP.findall(message)))


def _op_names(function, op_type):
    """Names of the `op_type` nodes of a (frozen) function: their layers."""
    return [
        op.name for op in function.graph.get_operations() if op.type == op_type
    ]


def _write_litert(graph, model_path):
    import tensorflow as tf

    # The frozen function holds no variables (an empty module tracks them).
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [graph.frozen_function], tf.Module()
    )
    # Builtin ops only: a model needing Flex (TensorFlow) ops does not run
    # on a plain LiteRT runtime, so such an op is an error naming it.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        with _quiet("tensorflow"):
            flatbuffer = converter.convert()
    except Exception as error:  # tf.lite's ConverterError
        ops = litert_unsupported_ops(str(error))
        if not ops:
            raise
        listed = "; ".join(
            f"tf.{op} (at {', '.join(_op_names(graph.frozen_function, op))})"
            for op in ops
        )
        raise ValueError(
            f"LiteRT conversion of {graph.model_name!r} with builtin ops "
            f"only failed: LiteRT has no builtin kernel for {listed}. Flex "
            "(TensorFlow) ops are not enabled: export to onnx or openvino, "
            "or use layers that avoid these ops."
        ) from error
    flatbuffer = add_litert_metadata(flatbuffer, graph.metadata())
    with open(model_path, "wb") as f:
        f.write(flatbuffer)


def add_litert_metadata(flatbuffer, metadata):
    """A LiteRT flatbuffer with `{name: str}` added as metadata entries.

    Each value is a buffer (UTF-8) named by a `Model.metadata` entry, the
    way the converter stores its own (`min_runtime_version`).
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    model.metadata = [
        entry
        for entry in (model.metadata or [])
        if _text(entry.name) not in metadata
    ]
    for name, value in metadata.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(value.encode("utf-8"), np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


_WRITERS = {ONNX: _write_onnx, OPENVINO: _write_openvino, LITERT: _write_litert}
