"""Synthetic official checkpoints (docs/reference.md §5) load exactly."""

import hashlib

import keras
import numpy as np
import pytest

from nonlocal_tf import zoo
from nonlocal_tf.models import features_model
from tests.zoo import caffe2_spec

NL5 = ((), (1, 3), (1, 3, 5), ())
WIDTH = 8

# Every published checkpoint (docs/reference.md §8): arch, non-local, frozen BN.
CHECKPOINTS = {
    "c2d_baseline_32x2_IN_pretrain_400k": ("c2d", False, False),
    "c2d_nonlocal_32x2_IN_pretrain_400k": ("c2d", True, False),
    "i3d_baseline_32x2_IN_pretrain_400k": ("i3d", False, False),
    "i3d_nonlocal_32x2_IN_pretrain_400k": ("i3d", True, False),
    "i3d_baseline_128x1_I3D_pretrain_400k": ("i3d", False, True),
    "i3d_nonlocal_128x1_I3D_pretrain_400k": ("i3d", True, True),
    "c2d_baseline_8x8_IN_pretrain_400k": ("c2d", False, False),
    "c2d_nonlocal_8x8_IN_pretrain_400k": ("c2d", True, False),
    "i3d_baseline_8x8_IN_pretrain_400k": ("i3d", False, False),
    "i3d_nonlocal_8x8_IN_pretrain_400k": ("i3d", True, False),
    "i3d_baseline_32x4_I3D_pretrain_400k": ("i3d", False, True),
    "i3d_nonlocal_32x4_I3D_pretrain_400k": ("i3d", True, True),
    "i3d_baseline_8x8_IN_pretrain_300k": ("i3d", False, False),
    "i3d_baseline_8x8_IN_pretrain_600k_4gpu": ("i3d", False, False),
    "i3d_baseline_8x8_IN_pretrain_300k_4gpu": ("i3d", False, False),
    "C2D_NOPOOL_8x8_R50": ("c2d", False, False),
    "I3D_8x8_R50": ("i3d", False, False),
    "I3D_NLN_8x8_R50": ("i3d", True, False),
}


def _shapes(name, width=WIDTH, classes=400):
    arch, nonlocal_blocks, frozen = CHECKPOINTS[name]
    return caffe2_spec.blob_shapes(
        50,
        arch,
        NL5 if nonlocal_blocks else ((), (), (), ()),
        frozen_bn=frozen,
        nonlocal_bn=not frozen,
        width=width,
        classes=classes,
    )


def _keras_layout(blob):
    """Independent statement of docs/reference.md §5 layouts."""
    if blob.ndim == 5:
        return blob.transpose(2, 3, 4, 1, 0)
    if blob.ndim == 2:
        return blob.T
    return blob


def _digest(array):
    array = np.ascontiguousarray(array, dtype=np.float32)
    return hashlib.sha1(array.tobytes() + str(array.shape).encode()).hexdigest()


def test_blob_count_matches_reference():
    shapes = _shapes("I3D_NLN_8x8_R50", width=64)
    assert len(shapes) == 327  # 265 backbone + 60 NL + 2 head
    assert shapes["res4_4_branch2c_w"] == (1024, 256, 1, 1, 1)
    assert shapes["nonlocal_conv4_3_theta_w"] == (512, 1024, 1, 1, 1)
    assert shapes["conv1_w"] == (64, 3, 5, 7, 7)


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_official_checkpoint_loads_with_full_coverage(name, tmp_path):
    shapes = _shapes(name)
    blobs = caffe2_spec.random_blobs(shapes, seed=len(name))
    path = caffe2_spec.write_caffe2_pickle(tmp_path / f"{name}.pkl", blobs)
    model = zoo.get_model(
        name, width_per_group=WIDTH, input_shape=(None, None, None, 3)
    )
    report = zoo.load_weights(model, path)

    assert report.ok and not report.skipped
    assert sorted(report.loaded) == sorted(shapes)
    # Momenta of every parameter, lr and model_iter were ignored.
    assert (
        len(report.ignored)
        == sum(not n.endswith(("_rm", "_riv")) for n in shapes) + 2
    )
    # Every model weight holds exactly one blob, in Keras layout, and the
    # blob belongs to that weight's layer.
    by_digest = {_digest(_keras_layout(v)): n for n, v in blobs.items()}
    assert len(by_digest) == len(blobs)
    assert len(model.weights) == len(blobs)
    seen = set()
    for weight in model.weights:
        blob = by_digest.get(_digest(np.asarray(weight)))
        assert blob is not None, f"{weight.path} holds no checkpoint blob"
        layer = weight.path.split("/")[0]
        assert blob.startswith(layer), (weight.path, blob)
        seen.add(blob)
    assert seen == set(blobs)


def _conv_ncthw(x, w, stride, pad):
    """Reference Caffe2 conv: x (N,C,T,H,W), w (O,I,kT,kH,kW)."""
    x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    kt, kh, kw = w.shape[2:]
    out_shape = [
        (x.shape[2 + i] - k) // s + 1
        for i, (k, s) in enumerate(zip((kt, kh, kw), stride, strict=True))
    ]
    out = np.zeros((x.shape[0], w.shape[0], *out_shape))
    for a in range(kt):
        for b in range(kh):
            for c in range(kw):
                patch = x[
                    :,
                    :,
                    a : a + stride[0] * out_shape[0] : stride[0],
                    b : b + stride[1] * out_shape[1] : stride[1],
                    c : c + stride[2] * out_shape[2] : stride[2],
                ]
                out += np.einsum("nithw,oi->nothw", patch, w[:, :, a, b, c])
    return out


@pytest.mark.parametrize(
    "name,stride",
    [
        ("i3d_baseline_32x2_IN_pretrain_400k", (2, 2, 2)),
        ("I3D_NLN_8x8_R50", (1, 2, 2)),
    ],
)
def test_conv_layout_against_numpy_ncthw(name, stride, tmp_path):
    blobs = caffe2_spec.random_blobs(_shapes(name), seed=3)
    path = caffe2_spec.write_caffe2_pickle(tmp_path / "c.pkl", blobs)
    model = zoo.get_model(
        name,
        weights=path,
        width_per_group=WIDTH,
        input_shape=(None, None, None, 3),
    )
    x = np.random.default_rng(1).normal(size=(1, 3, 6, 20, 18))
    expected = _conv_ncthw(
        x, blobs["conv1_w"].astype(np.float64), stride, (2, 3, 3)
    )
    conv1 = model.get_layer("conv1").output
    probe = keras.Model(model.input, conv1)
    got = np.asarray(probe(x.transpose(0, 2, 3, 4, 1).astype(np.float32)))
    np.testing.assert_allclose(
        got.transpose(0, 4, 1, 2, 3), expected, atol=2e-5, rtol=1e-5
    )
    # s1 follows the same layout through BN, ReLU and pool1.
    assert "s1" in features_model(model).output


@pytest.fixture
def narrow_i3d_nl(tmp_path):
    name = "I3D_NLN_8x8_R50"
    blobs = caffe2_spec.random_blobs(_shapes(name), seed=5)
    model = zoo.get_model(
        name, width_per_group=WIDTH, input_shape=(None, None, None, 3)
    )
    return model, blobs, tmp_path


def _unchanged(model, before):
    return all(
        np.array_equal(np.asarray(w), b)
        for w, b in zip(model.weights, before, strict=True)
    )


def test_wrong_shape_is_refused_by_name(narrow_i3d_nl):
    model, blobs, tmp = narrow_i3d_nl
    blobs["res4_3_branch2b_w"] = np.zeros((32, 32, 3, 3, 3), np.float32)
    path = caffe2_spec.write_caffe2_pickle(tmp / "bad.pkl", blobs)
    before = [np.asarray(w).copy() for w in model.weights]
    with pytest.raises(zoo.CheckpointMismatchError) as err:
        zoo.load_weights(model, path)
    message = str(err.value)
    assert (
        "res4_3_branch2b_w: checkpoint (32, 32, 3, 3, 3), model expects "
        "(32, 32, 1, 3, 3)"
    ) in message
    assert "1 shape mismatch" in message
    assert "missing" not in message and "unexpected" not in message
    assert _unchanged(model, before)


def test_missing_and_unexpected_blobs_are_refused_by_name(narrow_i3d_nl):
    model, blobs, tmp = narrow_i3d_nl
    del blobs["nonlocal_conv3_3_bn_riv"]
    blobs["res6_0_branch2a_w"] = np.zeros((1, 1, 1, 1, 1), np.float32)
    path = caffe2_spec.write_caffe2_pickle(tmp / "bad.pkl", blobs)
    with pytest.raises(zoo.CheckpointMismatchError) as err:
        zoo.load_weights(model, path)
    message = str(err.value)
    assert "1 missing from the checkpoint" in message
    assert "nonlocal_conv3_3_bn_riv (64,)" in message
    assert "1 unexpected in the checkpoint" in message
    assert "res6_0_branch2a_w (1, 1, 1, 1, 1)" in message


def test_flat_dict_without_momenta_loads(narrow_i3d_nl):
    model, blobs, tmp = narrow_i3d_nl
    path = caffe2_spec.write_caffe2_pickle(
        tmp / "flat.pkl", blobs, flat=True, with_momenta=False
    )
    report = zoo.load_weights(model, path)
    assert report.ok and len(report.loaded) == len(blobs)
    np.testing.assert_array_equal(
        np.asarray(model.get_layer("pred").kernel), blobs["pred_w"].T
    )
