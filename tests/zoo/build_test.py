"""Every zoo entry builds narrow, runs a tiny clip and trains end to end."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf import zoo
from nonlocal_tf.layers import Affine
from tests.testing import run_model_saving_test

STEM_TEMPORAL_STRIDE = {"caffe2_org": 4, "caffe2": 1, "pyslowfast": 1}


def tiny_clip_shape(name, size=32):
    """Fewest frames that keep every temporal group of res3 non-empty."""
    arch = zoo.get_entry(name).architecture
    stride = STEM_TEMPORAL_STRIDE[arch["stem"]] * (2 if arch["pool2"] else 1)
    groups = max(arch.get("nonlocal_groups", (1,)))
    return (max(2, stride * groups), size, size, 3)


# Tiny clips leave one key per non-local block in res4.
@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")
@pytest.mark.parametrize("name", zoo.list_models())
def test_entry_builds_and_runs(name):
    shape = tiny_clip_shape(name)
    model = zoo.get_model(
        name,
        width_per_group=4,
        num_classes=3,
        input_shape=(None, None, None, 3),
    )
    assert model.name == name
    out = model(np.random.rand(2, *shape).astype("float32"))
    assert tuple(out.shape) == (2, 3)
    np.testing.assert_allclose(np.sum(np.asarray(out), -1), 1.0, rtol=1e-5)
    arch = zoo.get_entry(name).architecture
    nonlocal_names = [x.name for x in model.layers if x.name.startswith("nonl")]
    assert nonlocal_names == [
        f"nonlocal_conv{stage + 2}_{i}"
        for stage, indices in enumerate(arch["nonlocal_locations"])
        for i in indices
    ]


def _randomise(model, seed=0):
    """Non-zero values everywhere (zero-init gammas/out convs block grads)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if not np.any(np.asarray(w)):
            leaf = w.path.rsplit("/", 1)[-1]
            scale = 1.0 if leaf in ("gamma", "scale") else 0.1
            w.assign(rng.normal(scale, 0.1, w.shape).astype(w.dtype))


@pytest.mark.parametrize(
    "name", ["i3d_nl5_r50_8x8", "c2d_nl5_r50_8x8_pyslowfast"]
)
def test_gradients_reach_every_trainable_weight(name):
    model = zoo.get_model(
        name,
        width_per_group=4,
        num_classes=3,
        input_shape=(None, None, None, 3),
    )
    _randomise(model)
    x = np.random.default_rng(1).normal(size=(2, 4, 64, 64, 3))
    y = keras.utils.to_categorical([0, 2], 3)
    with tf.GradientTape() as tape:
        loss = keras.losses.categorical_crossentropy(
            y, model(x.astype("float32"), training=True)
        )
    grads = tape.gradient(loss, model.trainable_weights)
    assert len(grads) == len(model.trainable_weights) > 0
    for w, g in zip(model.trainable_weights, grads, strict=True):
        assert g is not None and np.any(np.asarray(g)), w.path


def test_keras_round_trip_of_a_frozen_bn_nonlocal_model():
    name = "i3d_nl5_r50_32x4"  # Affine layers, grouped NL blocks without BN
    model = zoo.get_model(
        name,
        width_per_group=2,
        num_classes=5,
        input_shape=(None, None, None, 3),
    )
    _randomise(model)
    assert isinstance(model.get_layer("res_conv1_bn"), Affine)
    x = np.random.default_rng(2).normal(size=(1, 8, 32, 32, 3)).astype("f4")
    restored = run_model_saving_test(model, x)
    assert [w.path for w in restored.weights] == [w.path for w in model.weights]
    assert not restored.get_layer("res2_0_branch2a_bn").trainable
    assert restored.get_layer("nonlocal_conv3_1").groups == 4
