"""Running an export: `load_exported(path)` -> `ExportedModel.predict`.

Finds the format of an export directory (`nonlocal_tf.export.formats`: ONNX,
OpenVINO, LiteRT, or a SavedModel), reads the clip spec and the class names
back from the artifact itself (ONNX `metadata_props`, OpenVINO `rt_info`,
LiteRT metadata, the SavedModel's `assets.extra/`), falling back to
`clip_spec.json` / `labels.json` beside it, and runs it with its own runtime:
ONNX Runtime, OpenVINO, the LiteRT interpreter (`ai_edge_litert`, else
TensorFlow's `tf.lite.Interpreter`) or TensorFlow.

This module imports NumPy and the clip spec only; each runtime is an
optional extra imported when an export of its format is loaded, so an ONNX,
OpenVINO or LiteRT export runs without TensorFlow.

Example:
    >>> from nonlocal_tf.export.runtimes import load_exported
    >>> exported = load_exported("/models/i3d_nl5/onnx")
    >>> exported.format, exported.input_shape
    ('onnx', (None, 8, 256, 256, 3))
    >>> probabilities = exported.predict(clips)  # float32 in [0, 255]
"""

import json
import os

import numpy as np

from nonlocal_tf.clip_spec import ClipSpec

SAVED_MODEL = "saved_model"
ONNX = "onnx"
OPENVINO = "openvino"
LITERT = "litert"
FORMATS = (SAVED_MODEL, ONNX, OPENVINO, LITERT)
EXPORT_FORMATS = FORMATS  # as `nonlocal_tf.export` names it

MODEL_FILES = {
    ONNX: "model.onnx",
    OPENVINO: "model.xml",
    LITERT: "model.tflite",
}
SAVED_MODEL_FILE = "saved_model.pb"
# The SavedModel keeps its two JSON files in `assets.extra/` (TF Serving
# copies that folder with the version and ignores it).
SAVED_MODEL_EXTRA = "assets.extra"
CLIP_SPEC_FILE = "clip_spec.json"
LABELS_FILE = "labels.json"
INPUT_NAME = "video"
# The input of an export made with `input_kind="frames"`.
FRAMES_INPUT_NAME = "frames"
VIDEO_INPUT = "video"
FRAMES_INPUT = "frames"
INPUT_KINDS = (VIDEO_INPUT, FRAMES_INPUT)
OUTPUT_NAME = "probabilities"
CLIP_SPEC_KEY = "clip_spec"
CLASS_NAMES_KEY = "class_names"
OPENVINO_RT_SECTION = "nonlocal_tf"


class MissingExtraError(ImportError):
    """An export or a runtime needs an optional extra that is not installed."""


def missing_extra(format, module, extra=None, error=None):
    """The `MissingExtraError` for `module`, naming the pip command."""
    extra = extra or format
    reason = f" ({error})" if error else ""
    return MissingExtraError(
        f"The {format} format needs the Python package {module!r}, which is "
        f"not installed{reason}. Install the {extra!r} extra: pip install "
        f"'nonlocal-tf[{extra}]' (in a checkout: pip install '.[{extra}]')."
    )


def detect_format(path):
    """`(format, directory, model file)` of an export directory or file.

    Args:
        path: an export directory (or its `model.onnx` / `model.xml` /
            `model.tflite` file, or a SavedModel directory).

    Raises:
        FileNotFoundError: nothing at `path`.
        ValueError: `path` holds no export this package knows.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No export at {path}")
    if os.path.isfile(path):
        directory, name = os.path.split(os.path.abspath(path))
        for format, file_name in MODEL_FILES.items():
            if name == file_name or name.endswith(
                os.path.splitext(file_name)[1]
            ):
                return format, directory, path
        if name == SAVED_MODEL_FILE:
            return SAVED_MODEL, directory, path
        raise ValueError(
            f"{path} is not an export: expected a directory holding one of "
            f"{', '.join(MODEL_FILES.values())} or {SAVED_MODEL_FILE}."
        )
    if os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        return SAVED_MODEL, path, os.path.join(path, SAVED_MODEL_FILE)
    for format, file_name in MODEL_FILES.items():
        model_file = os.path.join(path, file_name)
        if os.path.isfile(model_file):
            return format, path, model_file
    raise ValueError(
        f"{path} holds no export: expected one of "
        f"{', '.join(MODEL_FILES.values())} or {SAVED_MODEL_FILE} (formats "
        f"{', '.join(FORMATS)})."
    )


class ExportedModel:
    """An export and its runtime: [0, 255] clips -> probabilities.

    Attributes:
        path: the export directory.
        format: one of `FORMATS`.
        model_file: the artifact's main file.
        clip_spec: the `ClipSpec` it was exported with (None for a
            SavedModel exported before clip specs).
        class_names: the output names, in order (None if the export has
            none).
        input_shape: `(B, T, H, W, 3)` with None where dynamic (B always;
            H and W for a frames export).
        input_kind: "video" (float32 clips made by the clip spec's test
            transform) or "frames" (uint8 frames of any size: the export
            resizes, crops and normalises).
        metadata_source: "embedded" (read from the artifact) or "files"
            (`clip_spec.json` / `labels.json` beside it).
        num_threads: the threads the runtime says it uses for one call
            (TensorFlow: intra-op threads, 0 = its default; ONNX Runtime:
            intra-op threads, 0 = its default; OpenVINO:
            `INFERENCE_NUM_THREADS` of the compiled model), or None where it
            cannot say (LiteRT).

    Example:
        >>> exported = load_exported("/models/c2d_nl/litert")
        >>> exported.predict(np.zeros((2, 8, 256, 256, 3), np.float32)).shape
        (2, 400)
    """

    def __init__(
        self,
        path,
        format,
        model_file,
        runner,
        clip_spec,
        class_names,
        metadata_source,
    ):
        self.path = path
        self.format = format
        self.model_file = model_file
        self._runner = runner
        self.clip_spec = clip_spec
        self.class_names = class_names
        self.metadata_source = metadata_source
        self.input_shape = runner.input_shape
        self.input_kind = (
            FRAMES_INPUT
            if getattr(runner, "input_name", None) == FRAMES_INPUT_NAME
            else VIDEO_INPUT
        )
        self.num_threads = runner.num_threads

    def __repr__(self):
        return (
            f"ExportedModel({self.path!r}, format={self.format!r}, "
            f"input_kind={self.input_kind!r}, input_shape={self.input_shape})"
        )

    def predict(self, clips, batch_size=None):
        """Class probabilities of clips (or frames, for a frames export).

        Args:
            clips: for a "video" export, float (B, T, S, S, 3), RGB in
                [0, 255], made by the clip spec's test transform (not
                normalised: the export normalises). For a "frames" export,
                uint8 (B, T, H, W, 3) decoded RGB frames of any size.
            batch_size: clips per runtime call; default all at once.

        Returns:
            float32 NumPy array (B, classes).

        Raises:
            ValueError: the clips' shape or dtype does not fit the export.
        """
        clips = self._checked_input(clips)
        if clips.shape[0] == 0:
            return np.zeros((0, self._runner.num_classes), np.float32)
        step = batch_size or clips.shape[0]
        outputs = [
            np.asarray(
                self._runner.run(clips[start : start + step]), np.float32
            )
            for start in range(0, clips.shape[0], step)
        ]
        return np.concatenate(outputs, axis=0)

    __call__ = predict

    def _checked_input(self, clips):
        expected = self.input_shape
        shown = tuple("B" if d is None else d for d in expected)
        if self.input_kind == FRAMES_INPUT:
            shown = tuple(
                name if d is None else d
                for name, d in zip("BTHWC", expected, strict=True)
            )
            clips = np.asarray(clips)
            if clips.dtype != np.uint8:
                raise ValueError(
                    f"The {self.format} export {self.path} takes uint8 "
                    f"frames {shown} (decoded RGB); received {clips.dtype}. "
                    "Pass the decoded frames as uint8 (no resize needed)."
                )
            what = "uint8 frames"
        else:
            clips = np.asarray(clips, dtype=np.float32)
            what = "clips"
        if clips.ndim != len(expected) or any(
            want is not None and got != want
            for got, want in zip(clips.shape[1:], expected[1:], strict=True)
        ):
            hint = (
                "Pass each clip's T decoded frames."
                if self.input_kind == FRAMES_INPUT
                else "Make the clips with its clip spec (frames and test "
                "crop size)."
            )
            raise ValueError(
                f"The {self.format} export {self.path} takes {what} of shape "
                f"{shown}; received {clips.shape}. {hint}"
            )
        return clips


def load_exported(path, num_threads=None):
    """Loads any export (ONNX, OpenVINO, LiteRT, SavedModel) to run it.

    Args:
        path: the export directory (or its model file).
        num_threads: CPU threads for one call; None: the runtime's default.
            ONNX Runtime `intra_op_num_threads`, OpenVINO
            `INFERENCE_NUM_THREADS`, LiteRT `num_threads`, TensorFlow
            intra-op threads (before TensorFlow runs anything in this
            process: its thread pools are made once).

    Returns:
        An `ExportedModel`.

    Raises:
        MissingExtraError: the format's runtime is not installed.
        ValueError: `path` is not an export.

    Example:
        >>> exported = load_exported("/models/c2d_nl/1")  # a SavedModel
        >>> exported.clip_spec.test_crop_size
        256
    """
    format, directory, model_file = detect_format(path)
    runner = _RUNNERS[format](model_file, num_threads)
    embedded = runner.metadata()
    clip_text = embedded.get(CLIP_SPEC_KEY)
    names_text = embedded.get(CLASS_NAMES_KEY)
    source = "embedded" if clip_text or names_text else "files"
    files_dir = (
        os.path.join(directory, SAVED_MODEL_EXTRA)
        if format == SAVED_MODEL
        else directory
    )
    if clip_text is None:
        clip_text = _read_text(os.path.join(files_dir, CLIP_SPEC_FILE))
    if names_text is None:
        names_text = _read_text(os.path.join(files_dir, LABELS_FILE))
    clip_spec = None if clip_text is None else ClipSpec.from_json(clip_text)
    class_names = None if names_text is None else json.loads(names_text)
    return ExportedModel(
        directory, format, model_file, runner, clip_spec, class_names, source
    )


def read_metadata(path):
    """`{"clip_spec": ClipSpec, "class_names": list}` embedded in an export.

    Only what the artifact itself holds (not the JSON files beside it);
    loads the runtime (ONNX Runtime, OpenVINO, LiteRT or TensorFlow).
    """
    format, _, model_file = detect_format(path)
    embedded = _RUNNERS[format](model_file).metadata()
    result = {}
    if CLIP_SPEC_KEY in embedded:
        result[CLIP_SPEC_KEY] = ClipSpec.from_json(embedded[CLIP_SPEC_KEY])
    if CLASS_NAMES_KEY in embedded:
        result[CLASS_NAMES_KEY] = json.loads(embedded[CLASS_NAMES_KEY])
    return result


def _read_text(path):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read()


def _dims(shape):
    """Runtime shape -> tuple with None for dynamic dims."""
    return tuple(
        int(d) if isinstance(d, (int, np.integer)) and d >= 0 else None
        for d in shape
    )


# ---------------------------------------------------------------- runners


class _OnnxRunner:
    def __init__(self, model_file, num_threads=None):
        try:
            # The `onnx` extra (onnxruntime), imported on use.
            import onnxruntime
        except ImportError as error:
            raise missing_extra(ONNX, "onnxruntime", error=error) from error
        options = onnxruntime.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = int(num_threads)
        self._session = onnxruntime.InferenceSession(
            model_file, options, providers=["CPUExecutionProvider"]
        )
        self.num_threads = (
            self._session.get_session_options().intra_op_num_threads
        )
        model_input = self._session.get_inputs()[0]
        self._input_name = self.input_name = model_input.name
        self.input_shape = _dims(model_input.shape)
        output = self._session.get_outputs()[0]
        self.num_classes = _dims(output.shape)[-1]

    def metadata(self):
        return dict(self._session.get_modelmeta().custom_metadata_map)

    def run(self, clips):
        return self._session.run(None, {self._input_name: clips})[0]


class _OpenVinoRunner:
    def __init__(self, model_file, num_threads=None):
        try:
            # The `openvino` extra, imported on use.
            import openvino
        except ImportError as error:
            raise missing_extra(OPENVINO, "openvino", error=error) from error
        core = openvino.Core()
        self._model = core.read_model(model_file)
        # float32 arithmetic: on CPUs with bfloat16 units (AVX512_BF16, AMX)
        # OpenVINO's CPU plugin defaults to bfloat16 inference, 2e-3 off.
        config = {"INFERENCE_PRECISION_HINT": "f32"}
        if num_threads is not None:
            config["INFERENCE_NUM_THREADS"] = int(num_threads)
        self._compiled = core.compile_model(self._model, "CPU", config)
        self.num_threads = int(
            self._compiled.get_property("INFERENCE_NUM_THREADS")
        )
        self.input_name = self._model.inputs[0].get_any_name()
        shape = self._model.inputs[0].get_partial_shape()
        self.input_shape = tuple(
            d.get_length() if d.is_static else None for d in shape
        )
        out = self._model.outputs[0].get_partial_shape()
        self.num_classes = out[out.rank.get_length() - 1].get_length()
        self._request = self._compiled.create_infer_request()

    def metadata(self):
        result = {}
        for key in (CLIP_SPEC_KEY, CLASS_NAMES_KEY):
            where = [OPENVINO_RT_SECTION, key]
            if self._model.has_rt_info(where):
                result[key] = self._model.get_rt_info(where).astype(str)
        return result

    def run(self, clips):
        outputs = self._request.infer({0: clips})
        return np.array(outputs[self._compiled.outputs[0]])


def _litert_interpreter_class():
    try:
        # The `litert` extra (ai-edge-litert), imported on use.
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError as error:
        try:
            import tensorflow as tf
        except ImportError:
            raise missing_extra(
                LITERT, "ai_edge_litert", error=error
            ) from error
        return tf.lite.Interpreter


def _litert_schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        from tensorflow.lite.python import schema_py_generated
    return schema_py_generated


def litert_metadata(flatbuffer):
    """`{name: str}` of a LiteRT flatbuffer's metadata entries."""
    schema = _litert_schema()
    model = schema.Model.GetRootAs(flatbuffer, 0)
    result = {}
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        data = model.Buffers(entry.Buffer()).DataAsNumpy()
        if isinstance(data, np.ndarray):
            try:
                result[entry.Name().decode("utf-8")] = data.tobytes().decode(
                    "utf-8"
                )
            except UnicodeDecodeError:
                continue  # the converter's binary entries
    return result


class _LiteRtRunner:
    def __init__(self, model_file, num_threads=None):
        with open(model_file, "rb") as f:
            self._flatbuffer = f.read()
        interpreter_class = _litert_interpreter_class()
        threads = {} if num_threads is None else {"num_threads": num_threads}
        self._interpreter = interpreter_class(
            model_content=self._flatbuffer, **threads
        )
        self.num_threads = None  # the interpreter does not say
        self._interpreter.allocate_tensors()
        model_input = self._interpreter.get_input_details()[0]
        self._input_index = model_input["index"]
        # The converter names it `serving_default_<name>:0`.
        self.input_name = (
            FRAMES_INPUT_NAME
            if model_input["dtype"] == np.uint8
            else INPUT_NAME
        )
        self.input_shape = _dims(model_input["shape_signature"])
        output = self._interpreter.get_output_details()[0]
        self._output_index = output["index"]
        self.num_classes = int(output["shape"][-1])

    def metadata(self):
        return {
            key: value
            for key, value in litert_metadata(self._flatbuffer).items()
            if key in (CLIP_SPEC_KEY, CLASS_NAMES_KEY)
        }

    def run(self, clips):
        current = self._interpreter.get_input_details()[0]["shape"]
        if tuple(current) != clips.shape:
            # The batch is dynamic (shape_signature -1): size it to `clips`.
            self._interpreter.resize_tensor_input(
                self._input_index, clips.shape
            )
            self._interpreter.allocate_tensors()
        self._interpreter.set_tensor(self._input_index, clips)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output_index).copy()


class _SavedModelRunner:
    def __init__(self, model_file, num_threads=None):
        import tensorflow as tf

        if num_threads is not None:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(
                    int(num_threads)
                )
            except RuntimeError as error:
                raise ValueError(
                    f"num_threads={num_threads}: TensorFlow's thread pools "
                    "are made when it first runs and are fixed after "
                    f"({error}); load the SavedModel before TensorFlow "
                    "runs anything else, or pass num_threads=None."
                ) from error
        self.num_threads = (
            tf.config.threading.get_intra_op_parallelism_threads()
        )
        self._directory = os.path.dirname(model_file)
        self._loaded = tf.saved_model.load(self._directory)
        self._serving = self._loaded.signatures["serving_default"]
        self.input_name = INPUT_NAME
        video = self._serving.structured_input_signature[1][INPUT_NAME]
        self.input_shape = tuple(video.shape.as_list())
        self.num_classes = self._serving.structured_outputs[OUTPUT_NAME].shape[
            -1
        ]

    def metadata(self):
        extra = os.path.join(self._directory, SAVED_MODEL_EXTRA)
        result = {}
        for key, name in (
            (CLIP_SPEC_KEY, CLIP_SPEC_FILE),
            (CLASS_NAMES_KEY, LABELS_FILE),
        ):
            text = _read_text(os.path.join(extra, name))
            if text is not None:
                result[key] = text
        return result

    def run(self, clips):
        import tensorflow as tf

        outputs = self._serving(**{INPUT_NAME: tf.constant(clips)})
        return outputs[OUTPUT_NAME].numpy()


_RUNNERS = {
    ONNX: _OnnxRunner,
    OPENVINO: _OpenVinoRunner,
    LITERT: _LiteRtRunner,
    SAVED_MODEL: _SavedModelRunner,
}
