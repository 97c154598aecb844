"""`load_model` / `load_weights` / `clip_spec_of`: every source a user has."""

import dataclasses
import hashlib
import os
import types

import keras
import numpy as np
import pytest

from nonlocal_tf import zoo
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.models import VideoClassifier
from nonlocal_tf.training import checkpointing
from tests.testing import to_numpy

NAME = "c2d_nl5_r50_8x8_pyslowfast"
CLIP = np.random.default_rng(0).normal(size=(1, 8, 64, 64, 3)).astype("f4")


@pytest.fixture
def trained(tmp_path):
    """A narrow zoo model with non-trivial weights, as a run dir writes it."""
    model = zoo.get_model(NAME, width_per_group=2, num_classes=3)
    rng = np.random.default_rng(1)
    for weight in model.weights:
        weight.assign(
            (np.asarray(weight) + rng.normal(0, 0.05, weight.shape)).astype(
                "float32"
            )
        )
    run = tmp_path / "run"
    checkpointing.save_model_config(model, str(run))
    checkpointing.save_final_weights(model, str(run))
    return model, run


def test_run_directory_is_a_whole_model(trained):
    model, run = trained
    assert zoo.clip_spec_of(str(run)) == zoo.get_entry(NAME).clip_spec
    loaded = zoo.load_model(str(run))
    assert isinstance(loaded, VideoClassifier) and loaded.name == NAME
    np.testing.assert_allclose(to_numpy(loaded(CLIP)), to_numpy(model(CLIP)))


def test_keras_file_and_a_new_spec(trained, tmp_path):
    model, _ = trained
    path = str(tmp_path / "model.keras")
    model.save(path)
    # Plain Keras, safe mode: the zoo model's class, spec and outputs.
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert type(reloaded) is VideoClassifier
    assert reloaded.clip_spec == zoo.get_entry(NAME).clip_spec
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_array_equal(
        to_numpy(reloaded(CLIP)), to_numpy(model(CLIP))
    )
    assert zoo.clip_spec_of(path) == model.clip_spec
    same = zoo.load_model(path)
    np.testing.assert_allclose(to_numpy(same(CLIP)), to_numpy(model(CLIP)))
    spec, _ = model.clip_spec.override(num_frames=16, crop_size=256)
    longer = zoo.load_model(path, clip_spec=spec)
    assert longer.clip_spec == spec
    assert longer.get_layer("pool5").pool_size == (8, 8, 8)
    for a, b in zip(longer.weights, model.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_load_weights_from_a_run_and_from_a_file(trained):
    model, run = trained
    fresh = zoo.get_model(NAME, width_per_group=2, num_classes=3)
    report = zoo.load_weights(fresh, str(run))
    assert report.format == "run"
    np.testing.assert_allclose(to_numpy(fresh(CLIP)), to_numpy(model(CLIP)))
    other = zoo.get_model(NAME, width_per_group=2, num_classes=3)
    zoo.load_weights(other, str(run / "final.weights.h5"))
    np.testing.assert_allclose(to_numpy(other(CLIP)), to_numpy(model(CLIP)))


def test_missing_sources_are_named(tmp_path):
    model = zoo.get_model(NAME, width_per_group=2, num_classes=3)
    with pytest.raises(FileNotFoundError, match="'nope': no such file"):
        zoo.load_weights(model, "nope")
    with pytest.raises(FileNotFoundError, match="no model.json"):
        zoo.load_model(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no such preset directory"):
        zoo.load_model(str(tmp_path / "missing" / "run"))
    with pytest.raises(ValueError, match="Unknown model 'C2D_NLM'"):
        zoo.clip_spec_of("C2D_NLM")


def test_file_hash_of_a_weight_source_is_checked(
    trained, tmp_path, monkeypatch
):
    model, run = trained
    weights = run / "final.weights.h5"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    entry = dataclasses.replace(
        zoo.get_entry(NAME),
        name="hash_checked",
        aliases=(),
        weights=types.MappingProxyType(
            {
                "local": zoo.WeightSource(
                    file_name="final.weights.h5",
                    url="file:///nowhere",
                    file_hash=digest,
                )
            }
        ),
    )
    registry = zoo.registry.Registry()
    monkeypatch.setattr(zoo.api, "REGISTRY", registry)
    monkeypatch.setattr(zoo.loading, "REGISTRY", registry)
    zoo.register(entry)
    fresh = zoo.get_model("hash_checked", width_per_group=2, num_classes=3)
    zoo.load_weights(fresh, str(weights))  # the right file loads
    damaged = tmp_path / "damaged" / "final.weights.h5"
    os.makedirs(damaged.parent)
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"sha256 .* differs from .*{digest}"):
        zoo.load_weights(fresh, str(damaged))


def test_every_entry_has_a_complete_spec():
    for name in zoo.list_models():
        spec = zoo.get_entry(name).clip_spec
        assert isinstance(spec, ClipSpec), name
        assert ClipSpec.from_dict(spec.to_dict()) == spec, name
        policy = "pyslowfast" if name.endswith("_pyslowfast") else "caffe2"
        assert spec.temporal_sampling == policy, name
        assert spec.test_head == "fully_convolutional", name
