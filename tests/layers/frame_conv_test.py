"""FrameConv3D and its 2D rewrites against Keras's 3D convolution.

Every rewrite (`per_frame_conv`, `time_by_space_conv`,
`stacked_frames_conv`), and the layer with the rewrites its backend
uses, against `keras.ops.conv` / `keras.layers.Conv3D` with the same
weights: outputs and the gradients of the input and the kernel, to 1e-5.
"""

import os
import tempfile

import keras
import numpy as np
import pytest

from nonlocal_tf.layers import FrameConv3D
from nonlocal_tf.layers import frame_conv
from tests.testing import random_inputs
from tests.testing import run_layer_test
from tests.testing import to_numpy

BACKEND = keras.backend.backend()

# (input shape, kernel, strides, padding, dilation): the video ResNets'
# convolutions on odd sizes (valid on inputs their ZeroPadding3D padded),
# batch 1, "same" padding, strides and dilations.
CASES = [
    ((2, 3, 9, 11, 4), (1, 3, 3), (1, 2, 2), "valid", (1, 1, 1)),  # branch2b
    ((1, 3, 7, 6, 4), (1, 3, 3), (1, 1, 1), "same", (1, 2, 2)),
    ((2, 3, 9, 7, 4), (1, 1, 1), (1, 2, 2), "valid", (1, 1, 1)),  # branch1
    ((2, 6, 5, 7, 4), (3, 1, 1), (1, 1, 1), "valid", (1, 1, 1)),  # branch2a
    ((1, 5, 7, 5, 3), (3, 1, 1), (1, 1, 1), "same", (1, 1, 1)),
    ((2, 5, 9, 7, 4), (3, 1, 1), (1, 2, 2), "valid", (1, 1, 1)),  # stride 1x1
    ((1, 7, 5, 5, 3), (3, 1, 1), (2, 2, 2), "same", (1, 1, 1)),
    ((1, 9, 4, 5, 2), (3, 1, 1), (1, 1, 1), "same", (2, 1, 1)),
    ((2, 9, 17, 15, 3), (5, 7, 7), (1, 2, 2), "valid", (1, 1, 1)),  # conv1
    ((1, 11, 15, 13, 3), (5, 7, 7), (2, 2, 2), "valid", (1, 1, 1)),  # org
    ((1, 6, 13, 11, 3), (5, 7, 7), (1, 2, 2), "same", (1, 1, 1)),
    ((2, 7, 8, 9, 3), (2, 3, 3), (1, 1, 1), "same", (2, 1, 1)),  # even kT
    ((1, 7, 6, 5, 3), (3, 3, 3), (2, 1, 1), "same", (1, 1, 1)),  # the 3D op
]
IDS = [f"{k}/{s}/{p}/d{d[0]}/{shape}" for shape, k, s, p, d in CASES]


def conv_case(shape, kernel_size, filters=5, seed=0):
    """Inputs and a kernel scaled to unit-variance outputs."""
    x = random_inputs(shape, seed=seed)
    kernel = random_inputs(kernel_size + (shape[-1], filters), seed=seed + 1)
    scale = np.float32(np.prod(kernel.shape[:-1]) ** -0.5)
    return x, kernel * scale


def function_gradients(fn, arrays, r):
    """d(sum(fn(*arrays) * r))/d(each array) on the current backend."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in arrays]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            loss = tf.reduce_sum(fn(*tensors) * r)
        grads = tape.gradient(loss, tensors)
    elif BACKEND == "jax":
        import jax

        argnums = tuple(range(len(arrays)))
        grads = jax.jit(
            jax.grad(lambda *a: (fn(*a) * r).sum(), argnums=argnums)
        )(*arrays)
    elif BACKEND == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        (fn(*tensors) * torch.tensor(r)).sum().backward()
        grads = [t.grad for t in tensors]
    else:
        pytest.fail(f"no gradient helper for backend {BACKEND}")
    return [to_numpy(g) for g in grads]


def assert_conv_matches(fn, shape, kernel_size, strides, padding, dilation):
    """`fn(x, kernel)` against the 3D `keras.ops.conv`, with gradients."""
    x, kernel = conv_case(shape, kernel_size)

    def reference(x, kernel):
        return keras.ops.conv(
            x, kernel, strides, padding, dilation_rate=dilation
        )

    want = to_numpy(reference(x, kernel))
    got = to_numpy(fn(x, kernel))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    r = random_inputs(want.shape, seed=7)
    for g, w in zip(
        function_gradients(fn, [x, kernel], r),
        function_gradients(reference, [x, kernel], r),
        strict=True,
    ):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def applies(rewrite, kernel_size, strides, padding):
    kt, kh, kw = kernel_size
    if rewrite is frame_conv.per_frame_conv:
        return kt == 1 and strides[0] == 1
    if rewrite is frame_conv.time_by_space_conv:
        return (kh, kw) == (1, 1)
    return padding == "valid" or strides[0] == 1


REWRITE_FUNCTIONS = [
    frame_conv.per_frame_conv,
    frame_conv.time_by_space_conv,
    frame_conv.stacked_frames_conv,
]
REWRITE_CASES = [
    pytest.param(rewrite, *case, id=f"{rewrite.__name__}/{case_id}")
    for rewrite in REWRITE_FUNCTIONS
    for case, case_id in zip(CASES, IDS, strict=True)
    if applies(rewrite, case[1], case[2], case[3])
]


@pytest.mark.multibackend
@pytest.mark.parametrize(
    "rewrite,shape,kernel_size,strides,padding,dilation", REWRITE_CASES
)
def test_rewrite_matches_conv3d(
    rewrite, shape, kernel_size, strides, padding, dilation
):
    """Each rewrite, on every backend (also those that do not use it)."""
    assert_conv_matches(
        lambda x, k: rewrite(x, k, strides, padding, dilation),
        shape,
        kernel_size,
        strides,
        padding,
        dilation,
    )


@pytest.mark.multibackend
@pytest.mark.parametrize(
    "shape,kernel_size,strides,padding,dilation", CASES, ids=IDS
)
def test_layer_matches_conv3d(shape, kernel_size, strides, padding, dilation):
    """The layer (this backend's rewrites) against `Conv3D`, same weights."""
    kwargs = {
        "filters": 5,
        "kernel_size": kernel_size,
        "strides": strides,
        "padding": padding,
        "dilation_rate": dilation,
    }
    reference = keras.layers.Conv3D(**kwargs)
    layer = FrameConv3D(**kwargs)
    reference.build(shape)
    layer.build(shape)
    x, kernel = conv_case(shape, kernel_size)
    bias = random_inputs((5,), seed=3)
    for conv in (reference, layer):
        conv.set_weights([kernel, bias])
    want = to_numpy(reference(x))
    np.testing.assert_allclose(to_numpy(layer(x)), want, rtol=1e-5, atol=1e-5)
    assert tuple(layer.compute_output_shape(shape)) == want.shape
    assert_conv_matches(
        layer.convolution_op, shape, kernel_size, strides, padding, dilation
    )


def convolution_ranks(fn, x, kernel, monkeypatch):
    """Spatial ranks of the convolutions in fn's forward and backward.

    TensorFlow and JAX: the ops of the traced forward + backward graph.
    PyTorch (eager, no graph): the kernels `keras.ops.conv` receives in the
    forward pass, whose autograd backward runs the same convolutions.
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(x, kernel):
            with tf.GradientTape() as tape:
                tape.watch([x, kernel])
                loss = tf.reduce_sum(fn(x, kernel))
            return tape.gradient(loss, [x, kernel])

        graph = step.get_concrete_function(
            tf.TensorSpec(x.shape), tf.TensorSpec(kernel.shape)
        ).graph
        types = {op.type for op in graph.get_operations()}
        return {3 if "3D" in t else 2 for t in types if t.startswith("Conv")}
    if BACKEND == "jax":
        import jax

        jaxpr = jax.make_jaxpr(
            jax.grad(lambda x, k: fn(x, k).sum(), argnums=(0, 1))
        )(x, kernel)
        return {
            eqn.invars[0].aval.ndim - 2
            for eqn in _equations(jaxpr.jaxpr)
            if eqn.primitive.name == "conv_general_dilated"
        }
    ranks = set()
    conv = keras.ops.conv

    def recording_conv(inputs, kernel, *args, **kwargs):
        ranks.add(len(kernel.shape) - 2)
        return conv(inputs, kernel, *args, **kwargs)

    monkeypatch.setattr(keras.ops, "conv", recording_conv)
    fn(x, kernel)
    return ranks


def _equations(jaxpr):
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", None)
            if inner is not None:
                yield from _equations(getattr(inner, "jaxpr", inner))


@pytest.mark.multibackend
@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "off"])
@pytest.mark.parametrize(
    "rewrite,kernel_size,strides",
    [
        ("per_frame", (1, 3, 3), (1, 2, 2)),
        ("time_by_space", (3, 1, 1), (1, 1, 1)),
        ("stacked_frames", (5, 7, 7), (1, 2, 2)),
    ],
)
def test_each_rewrite_runs_no_3d_convolution_where_enabled(
    rewrite, kernel_size, strides, enabled, monkeypatch
):
    """A rewrite in `REWRITES` runs 2D; with none, the 3D op runs."""
    monkeypatch.setitem(
        frame_conv.REWRITES, BACKEND, (rewrite,) if enabled else ()
    )
    x, kernel = conv_case((1, 6, 15, 15, 3), kernel_size)
    ranks = convolution_ranks(
        lambda x, k: frame_conv.conv3d(x, k, strides, "valid", (1, 1, 1)),
        x,
        kernel,
        monkeypatch,
    )
    assert ranks == ({2} if enabled else {3})


def test_rewrites_table_names_known_rewrites():
    known = {"per_frame", "time_by_space", "stacked_frames"}
    for backend, rewrites in frame_conv.REWRITES.items():
        assert set(rewrites) <= known, backend


@pytest.mark.multibackend
def test_unknown_sizes():
    inputs = keras.Input((None, None, None, 3))
    outputs = [
        FrameConv3D(4, k, strides=s, name=f"conv{i}")(inputs)
        for i, (k, s) in enumerate(
            [((3, 1, 1), (1, 2, 2)), ((5, 7, 7), (1, 2, 2)), ((1, 3, 3), 1)]
        )
    ]
    model = keras.Model(inputs, outputs)
    for layer in model.layers[1:]:
        reference = keras.layers.Conv3D(4, layer.kernel_size, layer.strides)
        reference.build((None, None, None, None, 3))
        reference.set_weights(layer.get_weights())
        for shape in [(2, 9, 15, 13, 3), (1, 6, 11, 12, 3)]:
            x = random_inputs(shape, seed=5)
            np.testing.assert_allclose(
                to_numpy(layer(x)), to_numpy(reference(x)), atol=1e-5
            )
    assert [tuple(o.shape) for o in model.outputs] == [(None,) * 4 + (4,)] * 3


@pytest.mark.multibackend
def test_layer_contract():
    run_layer_test(
        FrameConv3D,
        {"filters": 4, "kernel_size": (3, 1, 1), "use_bias": False},
        (2, 5, 6, 7, 3),
        (2, 3, 6, 7, 4),
        expected_num_trainable_weights=1,
        expected_num_non_trainable_weights=0,
    )


def test_is_a_conv3d_with_its_config():
    kwargs = {"filters": 8, "kernel_size": (5, 7, 7), "strides": (1, 2, 2)}
    layer = FrameConv3D(**kwargs, name="conv1")
    assert isinstance(layer, keras.layers.Conv3D)
    reference = keras.layers.Conv3D(**kwargs, name="conv1")
    assert layer.get_config() == reference.get_config()
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "nonlocal_tf>FrameConv3D"


def test_conv3d_weights_fit_and_keras_file_round_trips():
    """`Conv3D`'s weights give the same outputs; a `.keras` file reloads."""

    def build(conv_cls):
        inputs = keras.Input((None, None, None, 3))
        x = keras.layers.ZeroPadding3D((2, 3, 3))(inputs)
        x = conv_cls(8, (5, 7, 7), strides=(1, 2, 2), name="conv1")(x)
        x = keras.layers.ZeroPadding3D((1, 0, 0))(x)
        x = conv_cls(4, (3, 1, 1), use_bias=False, name="branch2a")(x)
        return keras.Model(inputs, x)

    old = build(keras.layers.Conv3D)
    new = build(FrameConv3D)
    new.set_weights(old.get_weights())
    x = random_inputs((1, 5, 13, 11, 3), seed=8)
    want = to_numpy(old(x))
    np.testing.assert_allclose(to_numpy(new(x)), want, rtol=1e-5, atol=1e-5)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "new.keras")
        new.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.get_layer("conv1")) is FrameConv3D
    np.testing.assert_allclose(to_numpy(loaded(x)), want, rtol=1e-5, atol=1e-5)
