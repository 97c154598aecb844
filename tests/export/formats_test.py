"""ONNX, OpenVINO and LiteRT exports give the Keras model's probabilities.

The zoo's C2D_NLN_8x8_R50 (the PySlowFast fixture weights, width 8) and
I3D_NLN_8x8_R50 (width 8, random weights with random batch-norm statistics
and a sharper head, so that the non-local blocks and the classifier matter)
are exported with 4-frame clips, once at the 64 training crop with the
global-average head and once at an 80 test crop with the fully
convolutional head (2 x 2 head positions). Each export is run by its own
runtime (ONNX Runtime, OpenVINO, the LiteRT interpreter) and compared with
the Keras model's own output on the same [0, 255] clips, normalised here;
exports taking uint8 frames of other sizes (`input_kind="frames"`) are
compared with the clip spec's Keras video converter and the model. The
exported graphs of a model are converted from one traced function
(`build_export_graph`), shared by the module.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from benchmarks import random_weights
from nonlocal_tf import zoo
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.export import formats
from nonlocal_tf.export import runtimes
from nonlocal_tf.models import preprocessing
from tests import cli_helpers
from tests.export import helpers
from tests.fixtures import PYSLOWFAST

TOLERANCE = 1e-4
NUM_FRAMES, CROP, TEST_CROP = 4, 64, 80
NUM_CLASSES = 10
CLASS_NAMES = [f"class {i} — café" for i in range(NUM_CLASSES)]
FIXTURE_WEIGHTS = os.path.join(str(PYSLOWFAST), "c2d_nln_r50_w8_caffe2.pkl")
MODELS = ("C2D_NLN_8x8_R50", "I3D_NLN_8x8_R50")
HEADS = ("global_average", "fully_convolutional")
NEW_FORMATS = ("onnx", "openvino", "litert")
# The package each runtime needs (skipped where it is not installed).
RUNTIME_PACKAGES = {
    "onnx": ("onnxruntime", "tf2onnx"),
    "openvino": ("openvino",),
    "litert": (),  # TensorFlow's tf.lite converts and runs
}


def _spec(head):
    return ClipSpec(
        num_frames=NUM_FRAMES,
        sampling_rate=2,
        temporal_sampling="pyslowfast",
        crop_size=CROP,
        jitter_scales=(CROP, TEST_CROP),
        test_crop_size=CROP if head == "global_average" else TEST_CROP,
        test_head=head,
    )


def _build(name, head, input_shape=None):
    kwargs = {"input_shape": input_shape} if input_shape else {}
    if name.startswith("C2D"):
        kwargs["weights"] = FIXTURE_WEIGHTS
    model = zoo.get_model(
        name,
        width_per_group=8,
        num_classes=NUM_CLASSES,
        clip_spec=_spec(head),
        class_names=CLASS_NAMES,
        **kwargs,
    )
    if not name.startswith("C2D"):
        random_weights.randomize(model, seed=7)
    return model


def _clips(spec, batch=3, seed=0):
    size = spec.test_crop_size
    shape = (batch, spec.num_frames, size, size, 3)
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, shape).astype(np.float32)


def _keras_probabilities(model, clips, spec):
    mean = np.asarray(spec.mean, np.float32)
    std = np.asarray(spec.std, np.float32)
    return keras.ops.convert_to_numpy(
        model((clips - mean) / std, training=False)
    )


class _Case:
    """One model and head: its Keras reference and its exports, made once."""

    def __init__(self, name, head, root):
        self.model = _build(name, head)
        self.spec = self.model.clip_spec
        self.clips = _clips(self.spec)
        self.expected = _keras_probabilities(self.model, self.clips, self.spec)
        self.graphs = {"video": formats.build_export_graph(self.model)}
        self.root = root
        self.paths = {}

    def export(self, format, input_kind="video"):
        if (format, input_kind) not in self.paths:
            if input_kind not in self.graphs:
                self.graphs[input_kind] = formats.build_export_graph(
                    self.model, input_kind=input_kind
                )
            path = os.path.join(self.root, f"{format}_{input_kind}")
            self.paths[format, input_kind] = formats.write_export(
                self.graphs[input_kind], path, format
            )
        return self.paths[format, input_kind]


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    made = {}

    def get(name, head):
        if (name, head) not in made:
            root = str(tmp_path_factory.mktemp(f"{name}_{head}"))
            made[name, head] = _Case(name, head, root)
        return made[name, head]

    return get


def _require_runtime(format):
    for package in RUNTIME_PACKAGES[format]:
        pytest.importorskip(package)


# The cases `make test` runs (every format, model, head and input kind at
# least once; the metadata test reuses the C2D exports); the others are in
# the slow tier (`make test-slow`).
QUICK_CASES = {
    ("C2D_NLN_8x8_R50", "global_average", "onnx"),
    ("C2D_NLN_8x8_R50", "global_average", "openvino"),
    ("C2D_NLN_8x8_R50", "global_average", "litert"),
    ("I3D_NLN_8x8_R50", "fully_convolutional", "onnx"),
    ("C2D_NLN_8x8_R50", "global_average", "litert", "frames"),
    ("I3D_NLN_8x8_R50", "fully_convolutional", "openvino", "frames"),
}


def _case(*values, id):
    marks = () if values in QUICK_CASES else pytest.mark.slow
    return pytest.param(*values, marks=marks, id=id)


def _parity_params():
    return [
        _case(name, head, format, id=f"{name[:3].lower()}-{head}-{format}")
        for name in MODELS
        for head in HEADS
        for format in NEW_FORMATS
    ]


def _frames_params():
    return [
        _case(
            name,
            head,
            format,
            "frames",
            id=f"{name[:3].lower()}-{head}-{format}",
        )
        for name, head in (
            ("C2D_NLN_8x8_R50", "global_average"),
            ("I3D_NLN_8x8_R50", "fully_convolutional"),
        )
        for format in NEW_FORMATS
    ]


@pytest.mark.parametrize("name,head,format", _parity_params())
def test_probabilities_equal_keras(cases, name, head, format):
    _require_runtime(format)
    case = cases(name, head)
    # The reference is a real classification, not near-uniform scores.
    assert case.expected.max() - case.expected.min() > 0.2
    exported = runtimes.load_exported(case.export(format))
    size = case.spec.test_crop_size
    assert exported.format == format
    assert exported.input_shape == (None, NUM_FRAMES, size, size, 3)
    # 3 clips, 2 per call: the batch is dynamic in every format.
    probabilities = exported.predict(case.clips, batch_size=2)
    assert probabilities.shape == (3, NUM_CLASSES)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(
        probabilities, case.expected, atol=TOLERANCE, rtol=0
    )
    if format == "litert":
        _assert_builtin_ops_only(exported.model_file)


# Decoded frames of other sizes than the test crop: 4:3 landscape, portrait.
FRAME_SIZES = ((90, 120), (100, 80))


@pytest.mark.parametrize("name,head,format,input_kind", _frames_params())
def test_frames_input_equals_the_keras_preprocessor(
    cases, name, head, format, input_kind
):
    """uint8 frames of any size: the export's in-graph resize, rounding, crop
    and normalisation, run by each runtime's own ops, against the Keras
    video converter of the clip spec followed by the Keras model."""
    _require_runtime(format)
    case = cases(name, head)
    exported = runtimes.load_exported(case.export(format, input_kind))
    assert exported.input_kind == "frames"
    assert exported.input_shape == (None, NUM_FRAMES, None, None, 3)
    converter = preprocessing.VideoResNetVideoConverter.from_clip_spec(
        case.spec
    )
    rng = np.random.default_rng(5)
    for height, width in FRAME_SIZES:
        frames = rng.integers(
            0, 256, (3, NUM_FRAMES, height, width, 3), dtype=np.uint8
        )
        expected = keras.ops.convert_to_numpy(
            case.model(converter(frames), training=False)
        )
        assert expected.max() - expected.min() > 0.2
        probabilities = exported.predict(frames, batch_size=2)
        np.testing.assert_allclose(
            probabilities,
            expected,
            atol=TOLERANCE,
            rtol=0,
            err_msg=f"{height}x{width} frames",
        )
    with pytest.raises(ValueError, match="uint8 frames.*float32"):
        exported.predict(frames.astype(np.float32))
    if format == "litert":
        _assert_builtin_ops_only(exported.model_file)


def _assert_builtin_ops_only(model_file):
    """No custom (Flex) op in the flatbuffer, read with TensorFlow's schema."""
    from tensorflow.lite.python import schema_py_generated as schema

    with open(model_file, "rb") as f:
        model = schema.Model.GetRootAs(f.read(), 0)
    custom = schema.BuiltinOperator.CUSTOM
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    builtin = [max(c.BuiltinCode(), c.DeprecatedBuiltinCode()) for c in codes]
    assert builtin and custom not in builtin, [
        c.CustomCode() for c in codes if c.CustomCode()
    ]


@pytest.mark.slow
def test_fixed_size_classifier_is_rebuilt_at_the_test_crop(cases, tmp_path):
    """A model built for 64 x 64 frames exports at its spec's 80 test crop."""
    fixed = _build(
        "C2D_NLN_8x8_R50",
        "global_average",
        input_shape=(NUM_FRAMES, CROP, CROP, 3),
    )
    spec = ClipSpec.from_dict(
        dict(fixed.clip_spec.to_dict(), test_crop_size=TEST_CROP)
    )
    path = formats.export_model(
        fixed, tmp_path / "fixed", "litert", clip_spec=spec
    )
    exported = runtimes.load_exported(path)
    assert exported.input_shape == (None, NUM_FRAMES, TEST_CROP, TEST_CROP, 3)
    assert exported.clip_spec == spec
    # The same weights and head in a model of dynamic frame size: Keras's
    # answer at 80 x 80.
    dynamic = cases("C2D_NLN_8x8_R50", "global_average").model
    clips = _clips(spec)
    np.testing.assert_allclose(
        exported.predict(clips),
        _keras_probabilities(dynamic, clips, spec),
        atol=TOLERANCE,
        rtol=0,
    )


# ---------------------------------------------------------------- metadata


def _read_embedded(format, path):
    """The two metadata strings, read with each format's own library."""
    if format == "onnx":
        onnx = pytest.importorskip("onnx")
        model = onnx.load(os.path.join(path, "model.onnx"))
        return {entry.key: entry.value for entry in model.metadata_props}
    if format == "openvino":
        openvino = pytest.importorskip("openvino")
        model = openvino.Core().read_model(os.path.join(path, "model.xml"))
        return {
            key: model.get_rt_info(["nonlocal_tf", key]).astype(str)
            for key in ("clip_spec", "class_names")
        }
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(os.path.join(path, "model.tflite"))
    return {
        entry.name.decode(): bytes(model.buffers[entry.buffer].data).decode()
        for entry in model.metadata
        if entry.name.decode() in ("clip_spec", "class_names")
    }


@pytest.mark.parametrize("format", NEW_FORMATS)
def test_metadata_round_trips(cases, format):
    _require_runtime(format)
    case = cases("C2D_NLN_8x8_R50", "global_average")
    path = case.export(format)
    assert sorted(os.listdir(path)) == sorted(
        ["clip_spec.json", "labels.json"]
        + (["model.xml", "model.bin"] if format == "openvino" else [])
        + {"onnx": ["model.onnx"], "litert": ["model.tflite"]}.get(format, [])
    )
    embedded = _read_embedded(format, path)
    assert ClipSpec.from_json(embedded["clip_spec"]) == case.spec
    assert json.loads(embedded["class_names"]) == CLASS_NAMES
    with open(os.path.join(path, "clip_spec.json")) as f:
        assert ClipSpec.from_dict(json.load(f)) == case.spec
    with open(os.path.join(path, "labels.json"), encoding="utf-8") as f:
        assert json.load(f) == CLASS_NAMES
    exported = runtimes.load_exported(path)
    assert exported.metadata_source == "embedded"
    assert exported.clip_spec == case.spec
    assert exported.class_names == CLASS_NAMES
    assert runtimes.read_metadata(path) == {
        "clip_spec": case.spec,
        "class_names": CLASS_NAMES,
    }


# ---------------------------------------------------------------- tiny model
# The behaviours that do not depend on the network: a Conv3D classifier.


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(3)
    return helpers.tiny_classifier()


def _tiny_export(tiny, path, format, **kwargs):
    return formats.export_model(
        tiny,
        path,
        format,
        crop_size=16,
        num_frames=4,
        from_logits=True,
        label_names=helpers.LABELS,
        **kwargs,
    )


def test_refuses_to_overwrite(tiny, tmp_path):
    path = _tiny_export(tiny, tmp_path / "tiny", "litert")
    model_file = os.path.join(path, "model.tflite")
    before = os.path.getmtime(model_file)
    with pytest.raises(FileExistsError, match="overwrite"):
        _tiny_export(tiny, path, "litert")
    assert os.path.getmtime(model_file) == before
    _tiny_export(tiny, path, "litert", overwrite=True)
    assert os.path.getmtime(model_file) != before
    # The temporary and retired directories are gone.
    assert os.listdir(tmp_path) == ["tiny"]


def test_saved_model_format_is_the_serving_export(tiny, tmp_path):
    path = _tiny_export(
        tiny, tmp_path / "tiny" / "3", "saved_model", warmup=False
    )
    assert path == str(tmp_path / "tiny" / "3")
    exported = runtimes.load_exported(path)
    assert exported.format == "saved_model"
    assert exported.class_names == helpers.LABELS
    assert exported.clip_spec.test_crop_size == 16
    clips = _clips(exported.clip_spec, batch=2)
    np.testing.assert_allclose(
        exported.predict(clips),
        helpers.reference_probabilities(tiny, clips),
        atol=1e-5,
    )


def test_unknown_format_is_named(tiny, tmp_path):
    with pytest.raises(ValueError, match="'tflite'.*saved_model, onnx"):
        formats.export_model(tiny, tmp_path / "x", "tflite")
    with pytest.raises(ValueError, match="input_kind 'jpeg'.*video, frames"):
        _tiny_export(tiny, tmp_path / "x", "onnx", input_kind="jpeg")
    with pytest.raises(ValueError, match="classify_frames"):
        _tiny_export(tiny, tmp_path / "x", "saved_model", input_kind="frames")
    assert not os.path.exists(tmp_path / "x")
    with pytest.raises(ValueError, match="holds no export"):
        runtimes.load_exported(tmp_path)


@pytest.mark.parametrize(
    "format,module", [("onnx", "tf2onnx"), ("openvino", "openvino")]
)
def test_missing_extra_names_the_install(
    tiny, tmp_path, monkeypatch, format, module
):
    monkeypatch.setitem(sys.modules, module, None)  # import raises
    expected = f"pip install '.\\[{format}\\]'"
    with pytest.raises(runtimes.MissingExtraError, match=expected):
        _tiny_export(tiny, tmp_path / "x", format)
    assert os.listdir(tmp_path) == []


def test_missing_runtime_names_the_install(tiny, tmp_path, monkeypatch):
    pytest.importorskip("tf2onnx")
    path = _tiny_export(tiny, tmp_path / "x", "onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"onnxruntime.*'\.\[onnx\]'"):
        runtimes.load_exported(path)


def test_exports_run_without_tensorflow(tiny, tmp_path):
    """A process that never imports TensorFlow runs each format."""
    formats_here = ["litert"]
    for format in ("onnx", "openvino"):
        if all(_installed(p) for p in RUNTIME_PACKAGES[format]):
            formats_here.append(format)
    if not _installed("ai_edge_litert"):
        formats_here.remove("litert")  # tf.lite's interpreter needs TF
    clips = _clips(
        ClipSpec(
            num_frames=4,
            test_crop_size=16,
            crop_size=16,
            jitter_scales=(16, 16),
        ),
        batch=2,
    )
    np.save(tmp_path / "clips.npy", clips)
    for format in formats_here:
        _tiny_export(tiny, tmp_path / format, format)
    code = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        from nonlocal_tf.export.runtimes import load_exported
        clips = np.load({str(tmp_path / "clips.npy")!r})
        out = {{}}
        for format in {formats_here!r}:
            exported = load_exported({str(tmp_path)!r} + "/" + format)
            out[format] = exported.predict(clips).tolist()
        heavy = sorted({{"tensorflow", "keras"}} & set(sys.modules))
        print(json.dumps({{"heavy": heavy, "out": out}}))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env=cli_helpers.program_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    expected = helpers.reference_probabilities(tiny, clips)
    for format in formats_here:
        np.testing.assert_allclose(
            result["out"][format], expected, atol=1e-5, err_msg=format
        )


def _installed(package):
    import importlib.util

    return importlib.util.find_spec(package) is not None
