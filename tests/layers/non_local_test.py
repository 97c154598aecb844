"""NonLocalBlock against the NumPy reference, plus its contract checks."""

import itertools
import os
import tempfile

import keras
import numpy as np
import pytest

from nonlocal_tf import NonLocalBlock
from tests.layers import reference
from tests.testing import random_inputs
from tests.testing import run_layer_test
from tests.testing import run_model_saving_test
from tests.testing import to_numpy

INSTANTIATIONS = [
    "embedded_gaussian",
    "gaussian",
    "dot_product",
    "concatenation",
]
SHAPES = {3: (2, 10, 6), 4: (2, 6, 5, 6), 5: (2, 4, 6, 5, 6)}
DEFAULT_POOLS = {3: (2,), 4: (2, 2), 5: (1, 2, 2)}
SUBSAMPLING = {
    "off": dict(subsample=False),
    "before": dict(subsample=True, subsample_position="before"),
    "after": dict(subsample=True, subsample_position="after"),
}
TOL = dict(rtol=1e-5, atol=1e-5)
BACKEND = keras.backend.backend()


def randomize(layer, seed=0, kernel_std=0.5, bn=True):
    """Sets every weight of a built block to random values; returns them."""
    rng = np.random.default_rng(seed)

    def fill(variable, values):
        variable.assign(values.astype("float32"))
        return to_numpy(variable).astype(np.float64)

    params = {}
    for name in ("theta", "phi", "g", "out"):
        conv = getattr(layer, name)
        if conv is None:
            continue
        kernel = fill(
            conv.kernel, kernel_std * rng.standard_normal(conv.kernel.shape)
        )
        bias = fill(conv.bias, 0.1 * rng.standard_normal(conv.bias.shape))
        params[name] = (kernel, bias)
    if layer.bn is not None and bn:
        size = layer.bn.gamma.shape
        params["bn"] = (
            fill(layer.bn.gamma, 1.0 + 0.3 * rng.standard_normal(size)),
            fill(layer.bn.beta, 0.2 * rng.standard_normal(size)),
            fill(layer.bn.moving_mean, 0.2 * rng.standard_normal(size)),
            fill(layer.bn.moving_variance, rng.uniform(0.5, 1.5, size)),
        )
    if layer.concat_project is not None:
        kernel = layer.concat_project.kernel
        params["w_f"] = fill(kernel, rng.standard_normal(kernel.shape))
    return params


def reference_of(layer, x, params, training=False):
    pool = layer._pool_size(x.ndim)
    return reference.non_local(
        x,
        params,
        instantiation=layer.instantiation,
        pool_size=pool,
        position=layer.subsample_position,
        use_scale=layer.use_scale,
        groups=layer.groups,
        epsilon=layer.bn_epsilon,
        training=training,
    )


def gradients(layer, x, training=False):
    """d(sum(z * r))/d[x, *trainable] for a fixed random r, any backend.

    BN runs on its moving statistics by default: in training mode the batch
    mean cancels the biases of `g` and `out`, whose gradients are then zero
    up to rounding noise.
    """
    r = random_inputs(x.shape, seed=123)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            z = layer(x, training=training)
            loss = tf.reduce_sum(z * r)
        grads = tape.gradient(loss, [x] + layer.trainable_variables)
    elif BACKEND == "jax":
        import jax

        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(x, trainable):
            z, _ = layer.stateless_call(
                trainable, non_trainable, x, training=training
            )
            return (z * r).sum()

        trainable = [v.value for v in layer.trainable_variables]
        x_grad, w_grads = jax.jit(jax.grad(loss_fn, argnums=(0, 1)))(
            x, trainable
        )
        grads = [x_grad] + list(w_grads)
    elif BACKEND == "torch":
        import torch

        x = torch.tensor(x, requires_grad=True)
        loss = (layer(x, training=training) * torch.tensor(r)).sum()
        loss.backward()
        grads = [x.grad] + [v.value.grad for v in layer.trainable_variables]
    else:
        pytest.fail(f"no gradient helper for backend {BACKEND}")
    return [None if g is None else to_numpy(g) for g in grads]


def built_block(shape, seed=0, **kwargs):
    layer = NonLocalBlock(**kwargs)
    layer.build(shape)
    return layer, randomize(layer, seed=seed)


# --- correctness against NumPy -------------------------------------------


@pytest.mark.multibackend
@pytest.mark.parametrize("rank", [3, 4, 5])
@pytest.mark.parametrize("instantiation", INSTANTIATIONS)
def test_matches_numpy_reference(instantiation, rank):
    """Subsampling off, before phi/g and after phi/g (SUBSAMPLING)."""
    x = random_inputs(SHAPES[rank], seed=rank)
    for subsampling, kwargs in SUBSAMPLING.items():
        layer, params = built_block(
            x.shape, instantiation=instantiation, **kwargs
        )
        z, attention = layer(x, return_attention=True)
        want_z, want_attention = reference_of(layer, x, params)
        message = f"subsampling {subsampling}"
        assert tuple(attention.shape) == want_attention.shape, message
        np.testing.assert_allclose(to_numpy(z), want_z, **TOL, err_msg=message)
        np.testing.assert_allclose(
            to_numpy(attention), want_attention, **TOL, err_msg=message
        )


@pytest.mark.multibackend
@pytest.mark.parametrize("instantiation", ["embedded_gaussian", "dot_product"])
def test_matches_numpy_reference_bn_training_mode(instantiation):
    x = random_inputs(SHAPES[5], seed=3)
    layer, params = built_block(x.shape, instantiation=instantiation)
    z = layer(x, training=True)
    want, _ = reference_of(layer, x, params, training=True)
    # Batch statistics in float32 (JAX: E[x^2] - E[x]^2) lose a few more
    # digits than the moving-statistics path.
    np.testing.assert_allclose(to_numpy(z), want, rtol=1e-5, atol=5e-5)


@pytest.mark.multibackend
def test_options_match_numpy_reference():
    """Explicit inner_dim and pool tuple, no scale, no BN."""
    x = random_inputs((2, 4, 6, 4, 6), seed=5)
    layer, params = built_block(
        x.shape,
        inner_dim=5,
        subsample=(2, 3, 2),
        use_scale=False,
        use_bn=False,
        subsample_position="after",
    )
    assert layer.bn is None and layer.theta.kernel.shape == (1, 1, 1, 6, 5)
    z, attention = layer(x, return_attention=True)
    want_z, want_attention = reference_of(layer, x, params)
    assert want_attention.shape == (2, 96, 2 * 2 * 2)
    np.testing.assert_allclose(to_numpy(z), want_z, **TOL)
    np.testing.assert_allclose(to_numpy(attention), want_attention, **TOL)


@pytest.mark.multibackend
@pytest.mark.parametrize("position", ["before", "after"])
@pytest.mark.parametrize("pool", [(1, 2, 2), (2, 2, 2)])
def test_groups_match_numpy_reference_folding_time_into_batch(pool, position):
    x = random_inputs((2, 8, 4, 4, 6), seed=7)
    layer, params = built_block(
        x.shape, groups=2, subsample=pool, subsample_position=position
    )
    z, attention = layer(x, return_attention=True)
    want_z, want_attention = reference_of(layer, x, params)
    # Attention stays inside each group of 4 frames: (B * 2, 4*4*4, N'/2).
    assert tuple(attention.shape) == want_attention.shape
    assert want_attention.shape[:2] == (4, 64)
    np.testing.assert_allclose(to_numpy(z), want_z, **TOL)
    np.testing.assert_allclose(to_numpy(attention), want_attention, **TOL)
    # Not the same as attending over the whole clip.
    whole, _ = reference.non_local(x, params, pool_size=pool, position=position)
    assert not np.allclose(whole, want_z, **TOL)


@pytest.mark.multibackend
@pytest.mark.parametrize("instantiation", ["embedded_gaussian", "gaussian"])
def test_softmax_attention_rows_sum_to_one(instantiation):
    x = random_inputs(SHAPES[5], seed=2)
    layer, _ = built_block(x.shape, instantiation=instantiation)
    _, attention = layer(x, return_attention=True)
    attention = to_numpy(attention)
    assert attention.dtype == np.float32
    assert attention.shape == (2, 4 * 6 * 5, 4 * 3 * 2)
    np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=0, atol=1e-6)


@pytest.mark.multibackend
def test_symbolic_return_attention_shapes():
    inputs = keras.Input((4, 6, 5, 8))
    z, attention = NonLocalBlock(groups=2)(inputs, return_attention=True)
    assert tuple(z.shape) == (None, 4, 6, 5, 8)
    assert tuple(attention.shape) == (None, 2 * 6 * 5, 2 * 3 * 2)
    assert attention.dtype == "float32"
    dynamic = keras.Input((None, None, None, 8))
    _, attention = NonLocalBlock()(dynamic, return_attention=True)
    assert tuple(attention.shape) == (None, None, None)


# --- identity at initialisation -------------------------------------------


@pytest.mark.multibackend
@pytest.mark.parametrize("instantiation", INSTANTIATIONS)
def test_identity_at_init_bit_exact(instantiation):
    for rank, use_bn in itertools.product([3, 4, 5], [True, False]):
        message = f"rank {rank}, use_bn={use_bn}"
        x = random_inputs(SHAPES[rank], seed=11, scale=3.0)
        layer = NonLocalBlock(instantiation=instantiation, use_bn=use_bn)
        for training in (False, True):
            z = to_numpy(layer(x, training=training))
            np.testing.assert_array_equal(z, x, err_msg=message)
        # Not trivially the identity: the branch is alive.
        assert np.any(to_numpy(layer.g.kernel) != 0), message
        assert np.any(to_numpy(layer.out.kernel) != 0) == use_bn, message


# --- dynamic shapes -------------------------------------------------------


@pytest.mark.multibackend
@pytest.mark.parametrize("implementation", ["full", "chunked"])
def test_none_dims_one_model_two_sizes(implementation):
    inputs = keras.Input((None, None, None, 6))
    block = NonLocalBlock(implementation=implementation, chunk_size=16)
    model = keras.Model(inputs, block(inputs))
    params = randomize(block, seed=4)
    for seed, shape in enumerate([(2, 4, 6, 5, 6), (1, 2, 8, 9, 6)]):
        x = random_inputs(shape, seed=seed)
        want, _ = reference_of(block, x, params)
        np.testing.assert_allclose(model.predict(x, verbose=0), want, **TOL)
        np.testing.assert_allclose(to_numpy(model(x)), want, **TOL)


@pytest.mark.multibackend
def test_none_dims_sequence_and_image():
    for shape, inner in [
        ((None, 6), (2, 9, 6)),
        ((None, None, 6), (1, 7, 5, 6)),
    ]:
        inputs = keras.Input(shape)
        block = NonLocalBlock(instantiation="dot_product")
        model = keras.Model(inputs, block(inputs))
        params = randomize(block, seed=1)
        x = random_inputs(inner, seed=2)
        want, _ = reference_of(block, x, params)
        np.testing.assert_allclose(model.predict(x, verbose=0), want, **TOL)


# --- chunked path and gradients -------------------------------------------


@pytest.mark.multibackend
@pytest.mark.parametrize("instantiation", INSTANTIATIONS)
def test_chunked_matches_full_including_gradients(instantiation):
    shape = (2, 4, 6, 5, 6)  # N = 120 queries: 9 blocks of <= 14, padded
    x = random_inputs(shape, seed=8)
    full, _ = built_block(shape, seed=9, instantiation=instantiation)
    chunked, _ = built_block(
        shape,
        seed=9,
        instantiation=instantiation,
        implementation="chunked",
        chunk_size=14,
    )
    np.testing.assert_allclose(to_numpy(chunked(x)), to_numpy(full(x)), **TOL)
    full_grads = gradients(full, x)
    assert_gradients_close(full, gradients(chunked, x), full_grads)
    # Gradients reach every trainable weight (BN gamma is non-zero here).
    names = ["x"] + [v.path for v in full.trainable_variables]
    expected = 10 - 4 * (instantiation == "gaussian")
    expected += instantiation == "concatenation"
    assert len(names) == 1 + expected
    for name, grad in zip(names, full_grads, strict=True):
        assert np.all(np.isfinite(grad)), name
        if instantiation == "embedded_gaussian" and name.endswith("phi/bias"):
            # theta_i . b_phi is the same for every key: the softmax cancels
            # it, so this gradient is zero up to rounding.
            assert np.abs(grad).max() < 1e-5, name
        else:
            assert np.abs(grad).max() > 1e-3, f"no gradient for {name}"


def assert_gradients_close(layer, got, want):
    """Per-tensor comparison to 1e-5 of its largest entry.

    The `phi` bias of the softmax instantiations is skipped: its gradient is
    zero analytically (theta_i . b is the same for every key and cancels in
    the softmax), so both sides hold rounding noise only.
    """
    names = ["x"] + [v.path for v in layer.trainable_variables]
    for name, g, w in zip(names, got, want, strict=True):
        if name.endswith("phi/bias") and layer.instantiation in (
            "embedded_gaussian",
            "gaussian",
        ):
            continue
        scale = max(1e-3, float(np.abs(w).max()))
        np.testing.assert_allclose(
            g, w, rtol=1e-5, atol=1e-5 * scale, err_msg=name
        )


@pytest.mark.multibackend
def test_fit_one_step_chunked_updates_every_weight():
    inputs = keras.Input((4, 6, 6, 6))
    block = NonLocalBlock(implementation="chunked", chunk_size=20)
    model = keras.Model(inputs, block(inputs))
    randomize(block, seed=2)
    before_mean = to_numpy(block.bn.moving_mean)
    # In training mode BN's batch mean cancels the `g` and `out` biases, and
    # the softmax cancels the `phi` bias (a constant per query), so only
    # these weights get a non-zero gradient.
    variables = [
        layer.kernel for layer in (block.theta, block.phi, block.g, block.out)
    ] + [block.theta.bias, block.bn.gamma, block.bn.beta]
    before = [to_numpy(v) for v in variables]
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x = random_inputs((2, 4, 6, 6, 6), seed=3)
    y = random_inputs((2, 4, 6, 6, 6), seed=4)
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for variable, old in zip(variables, before, strict=True):
        assert not np.array_equal(to_numpy(variable), old), variable.path
    moving_mean = to_numpy(block.bn.moving_mean)
    assert not np.array_equal(moving_mean, before_mean), "BN stats not updated"


# --- standard layer checks, serialization, saving --------------------------


@pytest.mark.multibackend
@pytest.mark.parametrize(
    "kwargs, shape, trainable, non_trainable",
    [
        ({}, (2, 4, 6, 6, 8), 10, 2),
        (
            {
                "instantiation": "concatenation",
                "use_bn": False,
                "groups": 2,
                "implementation": "chunked",
                "chunk_size": 10,
                "subsample": [1, 2, 2],
                "subsample_position": "after",
            },
            (2, 4, 6, 6, 8),
            9,
            0,
        ),
    ],
)
def test_run_layer_test(kwargs, shape, trainable, non_trainable):
    run_layer_test(
        NonLocalBlock,
        kwargs,
        shape,
        shape,
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=non_trainable,
        mixed_precision_input_scale=1e3,
    )


@pytest.mark.multibackend
def test_get_config_is_complete():
    initializer = keras.initializers.RandomNormal(0.0, 0.02, seed=3)
    layer = NonLocalBlock(
        instantiation="dot_product",
        inner_dim=7,
        subsample=(1, 3, 3),
        subsample_position="after",
        use_scale=False,
        use_bn=False,
        groups=4,
        implementation="chunked",
        chunk_size=33,
        kernel_initializer=initializer,
        bias_initializer="ones",
        bn_epsilon=1e-3,
        bn_momentum=0.99,
        name="nl",
    )
    config = layer.get_config()
    clone = NonLocalBlock.from_config(config)
    for attribute in (
        "instantiation",
        "inner_dim",
        "subsample",
        "subsample_position",
        "use_scale",
        "use_bn",
        "groups",
        "implementation",
        "chunk_size",
        "bn_epsilon",
        "bn_momentum",
        "name",
    ):
        assert getattr(clone, attribute) == getattr(layer, attribute), attribute
    assert clone.kernel_initializer.get_config() == initializer.get_config()
    assert isinstance(clone.bias_initializer, keras.initializers.Ones)


@pytest.mark.multibackend
@pytest.mark.parametrize("instantiation", INSTANTIATIONS)
def test_keras_file_reload_identical_outputs(instantiation):
    inputs = keras.Input((None, 6, 6, 6))
    block = NonLocalBlock(instantiation=instantiation, name="nl")
    model = keras.Model(inputs, block(inputs))
    randomize(block, seed=6)
    x = random_inputs((2, 4, 6, 6, 6), seed=1)
    reloaded = run_model_saving_test(model, x)
    assert isinstance(reloaded.get_layer("nl"), NonLocalBlock)
    assert reloaded.get_layer("nl").get_config() == block.get_config()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="SavedModel needs TF")
@pytest.mark.parametrize("implementation", ["full", "chunked"])
def test_saved_model_export_and_reload(implementation):
    import tensorflow as tf

    inputs = keras.Input((None, None, None, 6))
    block = NonLocalBlock(implementation=implementation, chunk_size=16)
    model = keras.Model(inputs, block(inputs))
    params = randomize(block, seed=5)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "export")
        model.export(path, format="tf_saved_model", verbose=False)
        loaded = tf.saved_model.load(path)
        for seed, shape in enumerate([(1, 4, 6, 6, 6), (2, 2, 4, 8, 6)]):
            x = random_inputs(shape, seed=seed)
            served = loaded.serve(tf.constant(x)).numpy()
            np.testing.assert_allclose(
                served, to_numpy(model(x)), rtol=0, atol=1e-6
            )
            want, _ = reference_of(block, x, params)
            np.testing.assert_allclose(served, want, **TOL)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.function is TF")
def test_chunked_under_tf_function_with_unknown_shapes():
    import tensorflow as tf

    shape = (2, 4, 6, 5, 6)
    full, _ = built_block(shape, seed=3)
    chunked, _ = built_block(
        shape, seed=3, implementation="chunked", chunk_size=13
    )
    spec = tf.TensorSpec((None, None, None, None, 6), tf.float32)
    r = random_inputs(shape, seed=123)

    @tf.function(input_signature=[spec])
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            z = chunked(x, training=False)
            loss = tf.reduce_sum(z * r)
        return z, tape.gradient(loss, [x] + chunked.trainable_variables)

    x = random_inputs(shape, seed=4)
    z, grads = step(tf.constant(x))
    np.testing.assert_allclose(z.numpy(), to_numpy(full(x)), **TOL)
    assert_gradients_close(full, [g.numpy() for g in grads], gradients(full, x))


# --- mixed precision -------------------------------------------------------


@pytest.mark.multibackend
@pytest.mark.parametrize("instantiation", INSTANTIATIONS)
def test_mixed_precision_large_inputs_finite(instantiation):
    for policy in ("mixed_float16", "mixed_bfloat16"):
        check_mixed_precision_large_inputs(instantiation, policy)


def check_mixed_precision_large_inputs(instantiation, policy):
    x = random_inputs((2, 4, 6, 6, 8), seed=0, scale=1e3)
    layer = NonLocalBlock(instantiation=instantiation, dtype=policy)
    layer.build(x.shape)
    softmax = instantiation in ("embedded_gaussian", "gaussian")
    # theta.phi logits reach ~1e5-1e7 here: beyond float16 (65504), so a
    # float16 affinity would give inf - inf = NaN in the softmax.
    randomize(layer, seed=1, kernel_std=0.1 if softmax else 0.01)
    z, attention = layer(x, return_attention=True)
    assert keras.backend.standardize_dtype(z.dtype) == layer.compute_dtype
    assert keras.backend.standardize_dtype(attention.dtype) == "float32"
    assert np.all(np.isfinite(to_numpy(z)))
    assert np.all(np.isfinite(to_numpy(attention)))
    assert np.all(np.isfinite(to_numpy(layer(x, training=True))))
    assert all(v.dtype == "float32" for v in layer.weights)
    if softmax:
        np.testing.assert_allclose(to_numpy(attention).sum(-1), 1, atol=1e-5)


# --- errors ----------------------------------------------------------------


BAD_ARGUMENTS = [
    ({"instantiation": "softmax"}, "instantiation 'softmax'"),
    ({"implementation": "flash"}, "implementation 'flash'"),
    ({"subsample_position": "middle"}, "subsample_position 'middle'"),
    ({"inner_dim": 0}, "inner_dim=0"),
    ({"inner_dim": -2}, "inner_dim=-2"),
    ({"groups": 0}, "groups=0"),
    ({"chunk_size": 0}, "chunk_size=0"),
    ({"subsample": "yes"}, "subsample='yes'"),
    ({"subsample": (2, 0)}, r"subsample=\(2, 0\)"),
]


BAD_SHAPES = [
    ({}, (2, 8), r"rank 2, shape \(2, 8\)"),
    ({}, (1, 2, 4, 4, 4, 8), "rank 6"),
    ({}, (2, 4, None), "known channel axis"),
    (
        {},
        (2, 4, 1, 6, 8),
        r"larger than the input along axis 2.*"
        r"\(2, 4, 1, 6, 8\)",
    ),
    ({"subsample": 4}, (2, 3, 8), r"pool \(4,\) is larger"),
    ({"groups": 3}, (2, 4, 6, 6, 8), "groups=3 must divide T.*T=4"),
    ({"groups": 2}, (2, 6, 6, 8), r"groups=2 .* \(B, T, H, W, C\)"),
    ({}, (2, 4, 6, 6, 1), "inner_dim defaults to C // 2, which is 0"),
    ({"subsample": (1, 2)}, (2, 4, 6, 6, 8), "one pool size per"),
]


@pytest.mark.multibackend
def test_invalid_arguments_raise():
    for kwargs, message in BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=message):
            NonLocalBlock(**kwargs)


@pytest.mark.multibackend
def test_bad_input_shapes_raise():
    for kwargs, shape, message in BAD_SHAPES:
        with pytest.raises(ValueError, match=message):
            NonLocalBlock(**kwargs).build(shape)


@pytest.mark.multibackend
def test_call_checks_shapes():
    layer = NonLocalBlock()
    layer.build((None, None, None, None, 8))
    with pytest.raises(ValueError, match=r"8 channels.*\(1, 2, 4, 4, 6\)"):
        layer(np.zeros((1, 2, 4, 4, 6), "float32"))
    with pytest.raises(ValueError, match=r"rank 5.*\(1, 4, 4, 8\)"):
        layer(np.zeros((1, 4, 4, 8), "float32"))
    with pytest.raises(ValueError, match=r"larger than the input along axis 3"):
        layer(np.zeros((1, 2, 4, 1, 8), "float32"))
    with pytest.raises(ValueError, match="8 channels"):
        layer(keras.Input((2, 4, 4, 6)))
    grouped = NonLocalBlock(groups=2)
    grouped.build((None, None, 4, 4, 8))
    with pytest.raises(ValueError, match="groups=2 must divide T.*T=3"):
        grouped(np.zeros((1, 3, 4, 4, 8), "float32"))
