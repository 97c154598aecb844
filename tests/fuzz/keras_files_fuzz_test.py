"""Fuzzing the Keras file readers of the zoo: `.weights.h5` through
`zoo.load_weights`, `.keras` through `zoo.load_model` and
`zoo.clip_spec_of`.

Inputs: mutations of small valid files written here (bytes of the HDF5
file; for `.keras`, its members edited and the archive rebuilt, so that
the edits reach Keras instead of failing the zip CRC: `config.json` with a
value replaced by a hostile one or a key dropped, `metadata.json`, the
weights' bytes) and arbitrary bytes. A reader gives a model (or a
`ClipSpec`) or a `ValueError` (the zoo's `SourceError`,
`CheckpointFormatError`, `NoClipSpecError`, ...) in one line naming the
file; a failed `load_weights` leaves every weight as it was.
"""

import io
import json
import zipfile

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nonlocal_tf import zoo
from tests.fuzz import harness

ZOO_NAME = "c2d_r50_8x8"


def _tiny_model():
    inputs = keras.Input((4, 4, 3), name="frames")
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, name="dense")(x)
    return keras.Model(inputs, outputs, name="tiny")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_files(tmp_path_factory.mktemp("keras_files"))


def make_files(folder):
    """A tiny model and its `.weights.h5`; a narrow zoo model's `.keras`."""
    tiny = _tiny_model()
    tiny.save_weights(folder / "tiny.weights.h5")
    model = zoo.get_model(ZOO_NAME, width_per_group=1, num_classes=3)
    model.save(folder / "model.keras")
    with zipfile.ZipFile(folder / "model.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return {
        "zoo": model,
        "tiny": tiny,
        "tiny_h5": (folder / "tiny.weights.h5").read_bytes(),
        "keras": (folder / "model.keras").read_bytes(),
        "members": members,
    }


def _one_line_naming(error, path):
    assert str(path) in str(error), error
    assert "\n" not in str(error).strip(), error


def _weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


@harness.examples(quick=10, cost=2)
@given(
    data=st.data(),
    target=st.sampled_from(["tiny", "tiny", "zoo"]),
    skip_mismatched_head=st.booleans(),
)
def test_weights_h5(
    budget, tmp_path, files, data, target, skip_mismatched_head
):
    # The zoo model reads the file's head first (`skip_mismatched_head`),
    # then refuses the tiny model's weights.
    model = files[target]
    blob = data.draw(harness.seeded_bytes(files["tiny_h5"]))
    path = tmp_path / "fuzz.weights.h5"
    path.write_bytes(blob)
    before = _weights(model)
    result = budget.check(
        lambda: zoo.load_weights(
            model, str(path), skip_mismatched_head=skip_mismatched_head
        ),
        ValueError,
    )
    if isinstance(result, ValueError):
        _one_line_naming(str(result).splitlines()[0], path)
        for old, new in zip(before, _weights(model), strict=True):
            np.testing.assert_array_equal(old, new)
    # Put the weights back for the next example.
    for weight, value in zip(model.weights, before, strict=True):
        weight.assign(value)


# `.keras`: its members edited, the archive rebuilt.

HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    harness.interesting_ints(),
    st.sampled_from([-1, 0, 1e308, float("nan")]),
    st.text(max_size=10),
    st.sampled_from(["Lambda", "os", "keras.layers", "builtins", "eval"]),
    st.lists(st.integers(-2, 3), max_size=3),
    st.just({}),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def edited_json(draw, document):
    """`document` with a few values replaced by hostile ones or dropped."""
    document = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(document) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(HOSTILE)
    return json.dumps(document).encode()


@st.composite
def keras_archives(draw, files):
    members = dict(files["members"])
    target = draw(
        st.sampled_from(
            ["config.json", "config.json", "metadata.json", "model.weights.h5"]
        )
    )
    if target.endswith(".json"):
        members[target] = draw(
            edited_json(json.loads(members[target]))
            | harness.mutated(members[target])
        )
    else:
        members[target] = draw(harness.mutated(members[target]))
    if draw(st.integers(0, 9)) == 0:
        members.pop(draw(st.sampled_from(sorted(members))))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def _check_keras(budget, tmp_path, blob, *, build):
    path = tmp_path / "fuzz.keras"
    path.write_bytes(blob)
    spec = budget.check(lambda: zoo.clip_spec_of(str(path)), ValueError)
    if isinstance(spec, ValueError):
        _one_line_naming(spec, path)
    if build:
        model = budget.check(lambda: zoo.load_model(str(path)), ValueError)
        if isinstance(model, ValueError):
            _one_line_naming(model, path)


@harness.examples(quick=25)
@given(data=st.data())
def test_keras_file_clip_spec(budget, tmp_path, files, data):
    blob = data.draw(
        keras_archives(files)
        | harness.mutated(files["keras"])
        | st.binary(max_size=256)
    )
    _check_keras(budget, tmp_path, blob, build=False)


@harness.examples(quick=3, cost=40)
@given(data=st.data())
def test_keras_file_load_model(budget, tmp_path, files, data):
    blob = data.draw(keras_archives(files) | harness.mutated(files["keras"]))
    _check_keras(budget, tmp_path, blob, build=True)


# Regressions: the inputs the fuzzer found, before their fixes.


def _with_config(files, edit):
    """The `.keras` file with its `config.json` replaced by
    `edit(config)`."""
    config = edit(json.loads(files["members"]["config.json"]))
    members = {**files["members"], "config.json": json.dumps(config).encode()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def _set_spec(key, value):
    def edit(config):
        config["config"]["clip_spec"][key] = value
        return config

    return edit


def _set_inner(value):
    def edit(config):
        config["config"] = value
        return config

    return edit


@pytest.mark.parametrize(
    "edit, match",
    [
        # Was: AttributeError ("'list' object has no attribute 'get'").
        (lambda config: [], "holds a list, not a nonlocal_tf VideoClassifier"),
        # Was: AttributeError ("'int' object has no attribute 'get'").
        (_set_inner(5), "carries no clip spec"),
        # Was: TypeError ("'int' object is not iterable").
        (_set_spec("mean", 5), r"invalid clip spec \(ClipSpec.mean needs 3"),
        (_set_spec("jitter_scales", 5), "ClipSpec.jitter_scales needs"),
        # Was: ClipSpec's ValueError, without the file's name.
        (_set_spec("num_frames", -1), "ClipSpec.num_frames must be"),
        (_set_spec("std", "abc"), "ClipSpec.std needs 3 values"),
    ],
)
def test_regression_keras_config_clip_spec(tmp_path, files, edit, match):
    path = tmp_path / "found.keras"
    path.write_bytes(_with_config(files, edit))
    with pytest.raises(ValueError, match=match) as caught:
        zoo.clip_spec_of(str(path))
    _one_line_naming(caught.value, path)


def test_regression_keras_config_keras_cannot_rebuild(tmp_path, files):
    # Was: TypeError out of keras.saving.load_model ("... could not be
    # deserialized properly") for a dropout rate that is not a number.
    path = tmp_path / "found.keras"

    def edit(config):
        config["config"]["dropout_rate"] = "x"
        return config

    path.write_bytes(_with_config(files, edit))
    with pytest.raises(ValueError, match=r"not a readable .keras file \(Type"):
        zoo.load_model(str(path))


@pytest.mark.parametrize(
    "damage, raw_error",
    [
        (lambda data: data[:3000], OSError),  # "truncated file"
        # "Object visitation failed (bad object header version number)"
        (lambda data: data[:800] + b"\xff" * 8 + data[808:], RuntimeError),
    ],
)
def test_regression_damaged_weights_h5_head(tmp_path, files, damage, raw_error):
    # Was: h5py's OSError / RuntimeError out of `zoo.load_weights` with
    # `skip_mismatched_head` (which reads the file's head first).
    import h5py

    path = tmp_path / "found.weights.h5"
    path.write_bytes(damage(files["tiny_h5"]))
    with pytest.raises(raw_error):  # what h5py itself says of this file
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, item: None)
    model = files["zoo"]
    before = _weights(model)
    with pytest.raises(
        zoo.CheckpointFormatError, match="damaged Keras weights file"
    ) as caught:
        zoo.load_weights(model, str(path), skip_mismatched_head=True)
    _one_line_naming(caught.value, path)
    for old, new in zip(before, _weights(model), strict=True):
        np.testing.assert_array_equal(old, new)
