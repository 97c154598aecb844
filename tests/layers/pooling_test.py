"""The 2D-pool layers against Keras's 3D pools.

FrameMaxPooling3D / frame_max_pool against MaxPooling3D, and
WindowAveragePooling3D against 3D average pools, forward and gradients.
"""

import json
import os
import tempfile

import keras
import numpy as np
import pytest

from nonlocal_tf.layers import FrameMaxPooling3D
from nonlocal_tf.layers import WindowAveragePooling3D
from nonlocal_tf.layers import pooling
from nonlocal_tf.layers.pooling import frame_max_pool
from tests.testing import random_inputs
from tests.testing import run_layer_test
from tests.testing import to_numpy

BACKEND = keras.backend.backend()

# (pool_size, strides, padding, input shape): the video ResNets' pools
# (pool1 of each stem, pool2, the non-local subsampling) on odd sizes and
# T not divisible by the window, and other windows, strides and "same".
CASES = [
    ((1, 3, 3), (1, 2, 2), "valid", (2, 3, 9, 11, 4)),  # pool1
    ((2, 3, 3), (2, 2, 2), "valid", (2, 5, 9, 8, 3)),  # caffe2_org pool1
    ((2, 1, 1), (2, 1, 1), "valid", (2, 5, 3, 4, 6)),  # pool2, T odd
    ((1, 2, 2), (1, 2, 2), "valid", (3, 2, 7, 5, 4)),  # non-local
    ((2, 2, 2), (2, 2, 2), "valid", (1, 5, 5, 6, 3)),
    ((3, 1, 1), (3, 1, 1), "valid", (2, 7, 2, 3, 2)),  # T = 7: floor 2
    ((3, 2, 1), (1, 2, 1), "valid", (1, 6, 5, 3, 2)),
    ((1, 1, 1), (1, 1, 1), "valid", (1, 2, 3, 3, 2)),  # identity
    ((3, 2, 3), (2, 3, 1), "same", (2, 7, 8, 9, 3)),
    ((2, 2, 2), (1, 1, 1), "same", (1, 5, 6, 7, 2)),
    ((1, 3, 3), (1, 2, 2), "same", (1, 3, 8, 7, 2)),
]
IDS = [f"{p}/{s}/{pad}/{shape}" for p, s, pad, shape in CASES]


def distinct_inputs(shape, seed=0):
    """Random order of distinct values 1e-3 apart: no ties in any window.

    (TensorFlow's CPU MaxPool3DGrad gives an output's gradient to every
    element within 1e-5 of the window's maximum, 2D pools to one.)
    """
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) * 1e-3 - 1.0).astype("float32")


def input_gradient(fn, x, r):
    """d(sum(fn(x) * r))/dx on the current backend, as NumPy."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(fn(x) * r)
        grad = tape.gradient(loss, x)
    elif BACKEND == "jax":
        import jax

        grad = jax.jit(jax.grad(lambda t: (fn(t) * r).sum()))(x)
    elif BACKEND == "torch":
        import torch

        x = torch.tensor(x, requires_grad=True)
        (fn(x) * torch.tensor(r)).sum().backward()
        grad = x.grad
    else:
        pytest.fail(f"no gradient helper for backend {BACKEND}")
    return to_numpy(grad)


def pools(pool, strides, padding):
    return (
        keras.layers.MaxPooling3D(pool, strides, padding=padding),
        FrameMaxPooling3D(pool, strides, padding=padding),
    )


@pytest.mark.multibackend
@pytest.mark.parametrize("pool,strides,padding,shape", CASES, ids=IDS)
def test_matches_max_pooling_3d(pool, strides, padding, shape):
    reference, layer = pools(pool, strides, padding)
    x = random_inputs(shape, seed=1)
    want = to_numpy(reference(x))
    got = to_numpy(layer(x))
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        to_numpy(frame_max_pool(x, pool, strides, padding)), want
    )
    assert tuple(layer.compute_output_shape(shape)) == want.shape


@pytest.mark.multibackend
@pytest.mark.parametrize("pool,strides,padding,shape", CASES, ids=IDS)
def test_gradients_match_max_pooling_3d(pool, strides, padding, shape):
    reference, layer = pools(pool, strides, padding)
    x = distinct_inputs(shape, seed=2)
    r = random_inputs(reference.compute_output_shape(shape), seed=3)
    want = input_gradient(reference, x, r)
    got = input_gradient(layer, x, r)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


@pytest.mark.multibackend
def test_gradient_goes_to_one_maximum_per_window():
    """Ties (zeros after a ReLU): each output's gradient reaches one input.

    As PyTorch's max_pool3d (PySlowFast); TensorFlow's CPU MaxPool3DGrad
    would give it to every tied input.
    """
    x = np.maximum(random_inputs((2, 4, 9, 9, 3), seed=4), 0.0)
    x[:, :, :4, :4] = 0.0  # whole windows of zeros
    layer = FrameMaxPooling3D((2, 3, 3), (2, 2, 2))
    y = to_numpy(layer(x))
    np.testing.assert_array_equal(
        y, to_numpy(keras.layers.MaxPooling3D((2, 3, 3), (2, 2, 2))(x))
    )
    grad = input_gradient(layer, x, np.ones(y.shape, "float32"))
    assert grad.sum() == y.size
    assert np.all(grad >= 0)
    # Nonzero only at window maxima; all of them reached.
    assert set(x[grad > 0].tolist()) <= set(y.ravel().tolist())
    assert set(y.ravel().tolist()) <= set(x[grad > 0].tolist())


@pytest.mark.multibackend
@pytest.mark.parametrize("select", [True, False], ids=["select", "2d_pool"])
def test_temporal_windows_by_selection_or_2d_pool(select, monkeypatch):
    """Both ways of pooling whole windows of frames, on every backend.

    `SELECT_MAX_BACKENDS` picks one per backend; each must give the 3D
    pool's outputs and gradients, and one maximum per window at ties.
    """
    monkeypatch.setattr(
        pooling, "SELECT_MAX_BACKENDS", (BACKEND,) if select else ()
    )
    for pool, strides, padding, shape in CASES:
        if pool[0] != strides[0] or pool[0] == 1 or padding != "valid":
            continue
        reference, layer = pools(pool, strides, padding)
        x = distinct_inputs(shape, seed=2)
        want = to_numpy(reference(x))
        np.testing.assert_array_equal(to_numpy(layer(x)), want)
        r = random_inputs(want.shape, seed=3)
        np.testing.assert_allclose(
            input_gradient(layer, x, r),
            input_gradient(reference, x, r),
            rtol=0,
            atol=1e-6,
        )
    x = np.zeros((1, 4, 2, 2, 1), "float32")
    grad = input_gradient(
        FrameMaxPooling3D((2, 1, 1)), x, np.ones((1, 2, 2, 2, 1), "float32")
    )
    np.testing.assert_array_equal(grad[:, 0::2], 1.0)
    np.testing.assert_array_equal(grad[:, 1::2], 0.0)


@pytest.mark.multibackend
def test_unknown_batch_and_sizes():
    inputs = keras.Input((None, None, None, 3))
    model = keras.Model(inputs, FrameMaxPooling3D((2, 3, 3), (2, 2, 2))(inputs))
    reference = keras.layers.MaxPooling3D((2, 3, 3), (2, 2, 2))
    assert model.output.shape == (None, None, None, None, 3)
    for shape in [(2, 5, 9, 11, 3), (1, 4, 8, 8, 3)]:
        x = random_inputs(shape, seed=5)
        np.testing.assert_array_equal(
            to_numpy(model(x)), to_numpy(reference(x))
        )
    inputs = keras.Input((7, 6, 5, 4))
    assert FrameMaxPooling3D((2, 1, 1))(inputs).shape == (None, 3, 6, 5, 4)


@pytest.mark.multibackend
def test_layer_contract():
    run_layer_test(
        FrameMaxPooling3D,
        {"pool_size": (1, 3, 3), "strides": (1, 2, 2)},
        (2, 3, 9, 9, 4),
        (2, 3, 4, 4, 4),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        run_training=False,
    )


def test_is_a_max_pooling_3d_with_its_config():
    layer = FrameMaxPooling3D((2, 1, 1), name="pool2")
    reference = keras.layers.MaxPooling3D((2, 1, 1), name="pool2")
    assert isinstance(layer, keras.layers.MaxPooling3D)
    assert layer.get_config() == reference.get_config()
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "nonlocal_tf>FrameMaxPooling3D"


@pytest.mark.multibackend
def test_mixed_precision_output_equals_float32():
    x = random_inputs((2, 4, 9, 9, 4), seed=6)
    want = to_numpy(keras.layers.MaxPooling3D((2, 3, 3), (2, 2, 2))(x))
    for policy in ("mixed_float16", "mixed_bfloat16"):
        layer = FrameMaxPooling3D((2, 3, 3), (2, 2, 2), dtype=policy)
        x_low = keras.ops.cast(x, layer.compute_dtype)
        got = layer(x_low)
        assert keras.backend.standardize_dtype(got.dtype) == (
            layer.compute_dtype
        )
        np.testing.assert_array_equal(
            to_numpy(got),
            want.astype(layer.compute_dtype).astype("float32"),
        )


def test_keras_file_with_max_pooling_3d_loads_into_frame_pooling():
    """A `.keras` model with MaxPooling3D loads; its weights fit the new one."""

    def build(pool_cls):
        inputs = keras.Input((None, None, None, 3))
        x = keras.layers.Conv3D(4, (1, 3, 3), name="conv1")(inputs)
        x = pool_cls((1, 3, 3), (1, 2, 2), name="pool1")(x)
        x = pool_cls((2, 1, 1), (2, 1, 1), name="pool2")(x)
        return keras.Model(inputs, x)

    old = build(keras.layers.MaxPooling3D)
    x = random_inputs((1, 4, 11, 11, 3), seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "old.keras")
        old.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        new = build(FrameMaxPooling3D)
        new.load_weights(path)
    assert type(loaded.get_layer("pool1")) is keras.layers.MaxPooling3D
    want = to_numpy(old(x))
    np.testing.assert_array_equal(to_numpy(loaded(x)), want)
    np.testing.assert_array_equal(to_numpy(new(x)), want)
    json.dumps(new.get_config())


def window_average_3d(x, pool_size):
    """WindowAveragePooling3D's formula with 3D `keras.ops.average_pool`."""
    for axis, window in zip((1, 2, 3), pool_size, strict=True):
        if x.shape[axis] <= window:
            x = keras.ops.mean(x, axis=axis, keepdims=True)
        else:
            size = [1, 1, 1]
            size[axis - 1] = window
            x = keras.ops.average_pool(x, tuple(size), 1, padding="valid")
    return x


@pytest.mark.multibackend
@pytest.mark.parametrize(
    "shape",
    [(2, 8, 8, 8, 3), (1, 5, 9, 8, 2), (2, 4, 2, 10, 2), (1, 6, 7, 7, 1)],
)
def test_window_average_matches_3d_average_pools(shape):
    """Sliding windows along T, H and W (a 256 test crop: 8x8 at res5)."""
    layer = WindowAveragePooling3D((4, 7, 7))
    x = random_inputs(shape, seed=8)
    want = to_numpy(window_average_3d(x, (4, 7, 7)))
    got = to_numpy(layer(x))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    r = random_inputs(want.shape, seed=9)
    np.testing.assert_allclose(
        input_gradient(layer, x, r),
        input_gradient(lambda t: window_average_3d(t, (4, 7, 7)), x, r),
        rtol=0,
        atol=1e-6,
    )


@pytest.mark.skipif(BACKEND != "tensorflow", reason="LiteRT converts TF")
def test_converts_to_litert_with_builtin_ops_only():
    """No 3D pooling in LiteRT's builtins: the layers use 2D pools."""
    import tensorflow as tf

    inputs = keras.Input((16, 17, 17, 3), batch_size=1)
    x = FrameMaxPooling3D((1, 3, 3), (1, 2, 2))(inputs)  # pool1
    x = FrameMaxPooling3D((2, 1, 1))(x)  # pool2
    x = FrameMaxPooling3D((2, 3, 3), (2, 2, 2))(x)  # caffe2_org pool1
    x = WindowAveragePooling3D((1, 2, 2))(x)  # sliding in H and W
    x = WindowAveragePooling3D((2, 1, 1))(x)  # sliding in T
    model = keras.Model(inputs, x)
    assert model.output.shape == (1, 3, 2, 2, 3)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the `litert` extra; TensorFlow's own otherwise
        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    x = random_inputs((1, 16, 17, 17, 3), seed=10)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, to_numpy(model(x)), rtol=0, atol=1e-6)
