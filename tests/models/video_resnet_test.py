"""Backbone structure against docs/reference.md §2 (independent tables)."""

import os
import tempfile

import keras
import numpy as np
import pytest

from nonlocal_tf.layers import Affine
from nonlocal_tf.layers import FrameMaxPooling3D
from nonlocal_tf.layers import non_local
from nonlocal_tf.models import VideoClassifier
from nonlocal_tf.models import features_model
from nonlocal_tf.models import stage_endpoints
from nonlocal_tf.models import video_resnet
from tests.layers.pooling_test import input_gradient
from tests.testing import randomise_batch_norms
from tests.testing import to_numpy

# docs/reference.md §2 (T, H) per stage at 224: stem -> s1..s5.
STAGE_SIZES = {
    # stem, frames: conv1, s1(pool1)=s2, s3, s4, s5
    ("caffe2_org", 32): [(16, 112), (8, 55), (8, 55), (4, 28), (4, 14), (4, 7)],
    ("caffe2_org", 128): [
        (64, 112),
        (32, 55),
        (32, 55),
        (16, 28),
        (16, 14),
        (16, 7),
    ],
    ("caffe2", 8): [(8, 112), (8, 55), (8, 55), (4, 28), (4, 14), (4, 7)],
    ("caffe2", 32): [
        (32, 112),
        (32, 55),
        (32, 55),
        (16, 28),
        (16, 14),
        (16, 7),
    ],
    ("pyslowfast", 8): [(8, 112), (8, 56), (8, 56), (4, 28), (4, 14), (4, 7)],
}

# docs/reference.md §2 use_temp_convs (1 => 3x1x1 branch2a).
I3D_R50 = [[1, 1, 1], [1, 0, 1, 0], [1, 0, 1, 0, 1, 0], [0, 1, 0]]
I3D_R101 = [
    [1, 1, 1],
    [1, 0, 1, 0],
    [1 if i % 2 == 0 else 0 for i in range(23)],
    [0, 1, 0],
]


@pytest.mark.parametrize("stem,frames", list(STAGE_SIZES))
def test_stage_sizes_follow_reference(stem, frames):
    model = VideoClassifier(
        depth=50,
        arch="i3d",
        stem=stem,
        width_per_group=2,
        input_shape=(frames, 224, 224, 3),
    )
    expected = STAGE_SIZES[(stem, frames)]
    conv1 = model.get_layer("conv1").output.shape
    assert (conv1[1], conv1[2], conv1[3]) == (expected[0] + (expected[0][1],))
    ends = stage_endpoints(model)
    for i, stage in enumerate(["s1", "s2", "s3", "s4", "s5"]):
        shape = model.get_layer(ends[stage]).output.shape
        t, h = expected[i + 1]
        assert shape[1:4] == (t, h, h), (stage, shape)
    widths = [2, 8, 16, 32, 64]
    for stage, width in zip(
        ["s1", "s2", "s3", "s4", "s5"], widths, strict=True
    ):
        assert model.get_layer(ends[stage]).output.shape[-1] == width


@pytest.mark.parametrize("depth,pattern", [(50, I3D_R50), (101, I3D_R101)])
def test_i3d_temporal_kernels(depth, pattern):
    model = VideoClassifier(depth=depth, arch="i3d", width_per_group=2)
    assert model.get_layer("conv1").kernel_size == (5, 7, 7)
    for stage, flags in enumerate(pattern):
        for index, flag in enumerate(flags):
            a = model.get_layer(f"res{stage + 2}_{index}_branch2a")
            b = model.get_layer(f"res{stage + 2}_{index}_branch2b")
            assert a.kernel_size == ((3, 1, 1) if flag else (1, 1, 1))
            assert b.kernel_size == (1, 3, 3)
    c2d = VideoClassifier(depth=depth, arch="c2d", width_per_group=2)
    assert all(
        layer.kernel_size[0] == 1
        for layer in c2d.layers
        if isinstance(layer, keras.layers.Conv3D)
    )


def test_layers_follow_caffe2_conventions():
    model = VideoClassifier(depth=50, arch="i3d", width_per_group=2)
    convs = [x for x in model.layers if isinstance(x, keras.layers.Conv3D)]
    assert len(convs) == 53
    for conv in convs:
        assert not conv.use_bias
        assert conv.padding == "valid"
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            assert layer.epsilon == 1e-5 and layer.momentum == 0.9
        if isinstance(layer, keras.layers.MaxPooling3D):
            assert layer.padding == "valid"
    # Stride sits in the 3x3 conv; shortcut has the same stride.
    assert model.get_layer("res3_0_branch2a").strides == (1, 1, 1)
    assert model.get_layer("res3_0_branch2b").strides == (1, 2, 2)
    assert model.get_layer("res3_0_branch1").strides == (1, 2, 2)
    # Symmetric explicit padding of the 3x3 and temporal convs.
    assert model.get_layer("res3_0_branch2b_pad").padding == (
        (0, 0),
        (1, 1),
        (1, 1),
    )
    assert model.get_layer("res2_0_branch2a_pad").padding == (
        (1, 1),
        (0, 0),
        (0, 0),
    )
    assert model.get_layer("conv1_pad").padding == ((2, 2), (3, 3), (3, 3))
    # res2_0 has a projection shortcut (64 -> 256), res2_1 does not.
    names = {x.name for x in model.layers}
    assert "res2_0_branch1" in names and "res2_1_branch1" not in names
    assert "pool2" in names


def test_stride_in_1x1_and_no_pool2():
    model = VideoClassifier(
        depth=50,
        stride_in_1x1=True,
        pool2=False,
        width_per_group=2,
        input_shape=(8, 64, 64, 3),
    )
    assert model.get_layer("res4_0_branch2a").strides == (1, 2, 2)
    assert model.get_layer("res4_0_branch2b").strides == (1, 1, 1)
    assert "pool2" not in {x.name for x in model.layers}
    assert model.get_layer(stage_endpoints(model)["s5"]).output.shape[1] == 8


def test_frozen_bn_uses_frozen_affine():
    model = VideoClassifier(depth=50, frozen_bn=True, width_per_group=2)
    assert not any(
        isinstance(x, keras.layers.BatchNormalization) for x in model.layers
    )
    affine = model.get_layer("res3_1_branch2b_bn")
    assert isinstance(affine, Affine) and not affine.trainable
    assert [w.path for w in affine.weights] == [
        "res3_1_branch2b_bn/scale",
        "res3_1_branch2b_bn/bias",
    ]


@pytest.mark.multibackend
def test_any_input_size():
    # The fixture's network (C2D + 5 NL, width 8): JAX compiles the weight
    # initialisers once for both tests.
    model = VideoClassifier(
        depth=50,
        arch="c2d",
        width_per_group=8,
        num_classes=10,
        classifier_activation=None,
        nonlocal_locations=[[], [1, 3], [1, 3, 5], []],
    )
    assert model.input_shape == (None, None, None, None, 3)
    for shape in [(1, 4, 32, 32, 3), (2, 6, 40, 36, 3)]:
        out = model(np.random.rand(*shape).astype("float32"))
        assert tuple(out.shape) == (shape[0], 10)


def test_heads():
    logits = VideoClassifier(
        depth=50,
        arch="i3d",
        width_per_group=2,
        num_classes=7,
        classifier_activation=None,
    )
    softmax = VideoClassifier(
        depth=50, arch="i3d", width_per_group=2, num_classes=7
    )
    softmax.set_weights(logits.get_weights())
    x = np.random.rand(1, 2, 32, 32, 3).astype("float32")
    np.testing.assert_allclose(
        np.asarray(softmax(x)),
        np.asarray(keras.ops.softmax(logits(x))),
        rtol=1e-5,
        atol=1e-7,
    )
    features = VideoClassifier(depth=50, width_per_group=2, include_top=False)
    assert features.output.shape == (None, None, None, None, 64)
    for pooling in ("avg", "max"):
        pooled = VideoClassifier(
            depth=50, width_per_group=2, include_top=False, pooling=pooling
        )
        assert pooled.output.shape == (None, 64)


def test_features_model_returns_stage_outputs():
    model = VideoClassifier(
        depth=50, width_per_group=2, input_shape=(4, 64, 64, 3)
    )
    outputs = features_model(model)(np.zeros((1, 4, 64, 64, 3), "float32"))
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {
        "s1": (1, 4, 16, 16, 2),
        "s2": (1, 4, 16, 16, 8),
        "s3": (1, 2, 8, 8, 16),
        "s4": (1, 2, 4, 4, 32),
        "s5": (1, 2, 2, 2, 64),
    }


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_float32_output(policy):
    keras.config.set_dtype_policy(policy)
    model = VideoClassifier(
        depth=50,
        width_per_group=2,
        num_classes=3,
        classifier_activation=None,
        nonlocal_locations=[[], [1], [], []],
    )
    assert model.get_layer("pred").compute_dtype == policy[6:]
    out = model(np.ones((1, 4, 32, 32, 3), "float32"))
    assert out.dtype == "float32"
    assert np.all(np.isfinite(np.asarray(out)))
    assert model.get_layer("conv1").kernel.dtype == "float32"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"depth": 34}, "Unsupported depth=34"),
        ({"arch": "slowfast"}, "Unknown arch"),
        ({"stem": "tf"}, "Unknown stem"),
        (
            {"nonlocal_locations": [[], [4], [], []]},
            "res3 of ResNet-50 has blocks 0..3",
        ),
        ({"nonlocal_locations": [[], []]}, "needs 4 lists"),
        ({"pooling": "mean"}, "pooling must be"),
        ({"input_shape": (8, 224, 224)}, "input_shape must be"),
        ({"width_per_group": 0}, "width_per_group"),
    ],
)
def test_invalid_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VideoClassifier(**{"width_per_group": 2, **kwargs})


# --- max pools as 2D pools (FrameMaxPooling3D) -------------------------------


def _pool_classifier(stem):
    """I3D + 5 NL (width 4) with pool1, pool2 and the blocks' subsampling."""
    keras.utils.set_random_seed(0)
    return VideoClassifier(
        depth=50,
        arch="i3d",
        stem=stem,
        width_per_group=4,
        num_classes=5,
        classifier_activation=None,
        dropout_rate=0.0,
        nonlocal_locations=[[], [1, 3], [1, 3, 5], []],
        nonlocal_kwargs={"subsample": (2, 2, 2)},
    )


def _with_3d_pools(monkeypatch, build):
    """`build()` with the former 3D pools: MaxPooling3D, ops.max_pool 3D."""
    with monkeypatch.context() as patch:
        patch.setattr(
            video_resnet, "FrameMaxPooling3D", keras.layers.MaxPooling3D
        )
        patch.setattr(
            non_local,
            "frame_max_pool",
            lambda x, pool, strides, padding: keras.ops.max_pool(
                x, pool, strides, padding=padding
            ),
        )
        return build()


def test_max_pools_are_frame_max_pools():
    model = VideoClassifier(depth=50, arch="i3d", width_per_group=2)
    pools = {"pool1": ((1, 3, 3), (1, 2, 2)), "pool2": ((2, 1, 1), (2, 1, 1))}
    for name, (size, strides) in pools.items():
        layer = model.get_layer(name)
        assert type(layer) is FrameMaxPooling3D
        assert isinstance(layer, keras.layers.MaxPooling3D)
        assert (layer.pool_size, layer.strides) == (size, strides)
        assert layer.padding == "valid"
    assert model.get_layer("pool1_pad").padding == ((0, 0), (1, 1), (1, 1))


@pytest.mark.multibackend
@pytest.mark.parametrize("stem", ["pyslowfast", "caffe2_org"])
def test_frame_max_pools_equal_3d_pools_in_the_model(monkeypatch, stem):
    """Outputs and gradients as with MaxPooling3D / 3D ops.max_pool.

    The caffe2_org stem (pool1 (2,3,3)/(2,2,2)) at 16 frames: res2 holds
    adjacent frames with equal activations there, where TensorFlow's CPU
    MaxPool3DGrad gives pool2's gradient to both (2D pools, JAX and PyTorch
    to one), so its gradients are compared on JAX and PyTorch only.
    """
    old = _with_3d_pools(monkeypatch, lambda: _pool_classifier(stem))
    new = _pool_classifier(stem)
    assert type(old.get_layer("pool1")) is keras.layers.MaxPooling3D
    randomise_batch_norms(old)
    new.set_weights(old.get_weights())
    frames = 16 if stem == "caffe2_org" else 8
    x = np.random.default_rng(0).standard_normal((2, frames, 64, 64, 3))
    x = x.astype("float32")
    np.testing.assert_array_equal(to_numpy(new(x)), to_numpy(old(x)))
    if stem == "caffe2_org" and keras.backend.backend() == "tensorflow":
        return
    r = np.ones((2, 5), "float32")
    want = input_gradient(lambda t: old(t, training=True), x, r)
    got = input_gradient(lambda t: new(t, training=True), x, r)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_keras_file_saved_with_3d_pools_loads(monkeypatch):
    """A `.keras` file saved before FrameMaxPooling3D loads with it.

    The backbone's config is its architecture, so the file rebuilds the
    current layers; pools have no weights.
    """
    old = _with_3d_pools(monkeypatch, lambda: _pool_classifier("pyslowfast"))
    randomise_batch_norms(old)
    x = np.random.default_rng(1).standard_normal((1, 8, 32, 32, 3))
    x = x.astype("float32")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "old.keras")
        old.save(path)
        loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("pool1")) is FrameMaxPooling3D
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(old(x)))
