"""Parity with PySlowFast's own C2D_NLN_8x8_R50 (width 8, 10 classes).

The fixtures (tests/fixtures/pyslowfast, see its README) hold the same
random weights in three formats and the reference logits and stage outputs
computed by PySlowFast on two inputs.
"""

import json
import os

import keras
import numpy as np
import pytest

from nonlocal_tf import zoo
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.models import features_model
from nonlocal_tf.zoo.checkpoints import pyslowfast_to_caffe2
from tests.fixtures import PYSLOWFAST

FIXTURES = str(PYSLOWFAST)

FORMATS = [
    pytest.param("c2d_nln_r50_w8_caffe2.pkl", marks=pytest.mark.multibackend),
    "c2d_nln_r50_w8.pyth",
    "c2d_nln_r50_w8_weights.npz",
]
NONLOCAL_OUTPUTS = {
    "nonlocal_conv3_1": "nonlocal_out__s3_pathway0_nonlocal1_ncthw",
    "nonlocal_conv4_1": "nonlocal_out__s4_pathway0_nonlocal1_ncthw",
    "nonlocal_conv4_3": "nonlocal_out__s4_pathway0_nonlocal3_ncthw",
}


def _nthwc(array):
    return np.transpose(array, (0, 2, 3, 4, 1))


def _load(name):
    with np.load(os.path.join(FIXTURES, name)) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def io112():
    return _load("c2d_nln_r50_w8_io.npz")


@pytest.fixture(scope="module")
def io64():
    return _load("c2d_nln_r50_w8_io64.npz")


@pytest.mark.parametrize("checkpoint", FORMATS)
def test_reference_logits_and_stage_outputs(checkpoint, io112, io64):
    model = zoo.get_model(
        "C2D_NLN_8x8_R50",
        weights=os.path.join(FIXTURES, checkpoint),
        width_per_group=8,
        num_classes=10,
        classifier_activation=None,
        input_shape=(None, None, None, 3),
    )
    stages = features_model(model)
    probe = keras.Model(
        model.input,
        {
            "logits": model.output,
            **stages.output,
            **{k: model.get_layer(k).output for k in NONLOCAL_OUTPUTS},
        },
    )
    out = {
        k: keras.ops.convert_to_numpy(v)
        for k, v in probe(io112["input_nthwc"]).items()
    }
    np.testing.assert_allclose(
        out["logits"], io112["logits"], atol=1e-4, rtol=0
    )
    for stage in ("s1", "s2", "s3", "s4", "s5"):
        ref = _nthwc(io112[f"{stage}_ncthw"])
        assert out[stage].shape == ref.shape, stage
        np.testing.assert_allclose(
            out[stage], ref, atol=1e-4, rtol=1e-4, err_msg=stage
        )
    for layer, key in NONLOCAL_OUTPUTS.items():
        np.testing.assert_allclose(
            out[layer], _nthwc(io112[key]), atol=1e-4, rtol=1e-4, err_msg=layer
        )

    out64 = {
        k: keras.ops.convert_to_numpy(v)
        for k, v in probe(io64["input_nthwc"]).items()
    }
    np.testing.assert_allclose(
        out64["logits"], io64["logits"], atol=1e-4, rtol=0
    )
    np.testing.assert_allclose(
        out64["s5"], _nthwc(io64["s5_ncthw"]), atol=1e-4, rtol=1e-4
    )
    probs = keras.ops.softmax(out64["logits"])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(probs), io64["probs"], atol=1e-5
    )


@pytest.mark.multibackend
def test_name_map_matches_fixture_facts():
    """Our PySlowFast -> Caffe2 names equal PySlowFast's own converter's."""
    with open(os.path.join(FIXTURES, "c2d_nln_r50_w8_facts.json")) as f:
        facts = json.load(f)["caffe2"]
    pairs = facts["name_map"]  # [pytorch_name, caffe2_name]
    assert len(pairs) == facts["mapped"] == 327
    assert {psf: pyslowfast_to_caffe2(psf) for psf, _ in pairs} == dict(pairs)
    for name in facts["unmapped"]:
        assert name.endswith("num_batches_tracked")


def _fully_convolutional_model(checkpoint):
    # PySlowFast ran with TRAIN_CROP_SIZE=112 on the 112 input: its head pool
    # is [4, 3, 3] at stride 1 over the 4x4x4 s5 map, 1x2x2 positions.
    spec = ClipSpec(
        num_frames=8,
        sampling_rate=8,
        temporal_sampling="pyslowfast",
        crop_size=112,
        jitter_scales=(128, 160),
        test_crop_size=112,
        test_head="fully_convolutional",
    )
    return zoo.get_model(
        "C2D_NLN_8x8_R50",
        weights=os.path.join(FIXTURES, checkpoint),
        width_per_group=8,
        num_classes=10,
        clip_spec=spec,
    )


@pytest.mark.multibackend
def test_fully_convolutional_test_head_matches_pyslowfast(io112):
    model = _fully_convolutional_model("c2d_nln_r50_w8_caffe2.pkl")
    assert model.clip_spec.crop_size == 112
    probe = keras.Model(
        model.input,
        {"probs": model.output, "pred": model.get_layer("pred").output},
    )
    out = {
        k: keras.ops.convert_to_numpy(v)
        for k, v in probe(io112["input_nthwc"]).items()
    }
    reference = io112["fullyconv_crop112_head_projection_nthwc"]
    assert out["pred"].shape == reference.shape == (1, 1, 2, 2, 10)
    np.testing.assert_allclose(out["pred"], reference, atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        out["probs"], io112["fullyconv_crop112_probs"], atol=1e-5, rtol=0
    )
    # Not the global-pooling answer (the head really is fully convolutional).
    assert np.abs(out["probs"] - io112["probs"]).max() > 1e-3


@pytest.mark.slow
def test_fully_convolutional_saved_model_matches_pyslowfast(io112, tmp_path):
    import tensorflow as tf

    from nonlocal_tf.export import export_saved_model
    from nonlocal_tf.export import read_clip_spec

    model = _fully_convolutional_model("c2d_nln_r50_w8.pyth")
    path = export_saved_model(model, str(tmp_path), "fixture", warmup=False)
    loaded = tf.saved_model.load(path)
    assert read_clip_spec(loaded) == model.clip_spec == read_clip_spec(path)
    pixels = io112["input_nthwc"].astype(np.float64) * 57.375 + 114.75
    outputs = loaded.signatures["serving_default"](
        video=tf.constant(pixels.astype(np.float32))
    )
    np.testing.assert_allclose(
        outputs["probabilities"].numpy(),
        io112["fullyconv_crop112_probs"],
        atol=1e-5,
        rtol=0,
    )
