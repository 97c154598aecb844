"""FusedBatchNormalization against the batch-norm formulas in NumPy."""

import keras
import numpy as np
import pytest

from nonlocal_tf.layers.batch_norm import FusedBatchNormalization

EPSILON, MOMENTUM = 1e-5, 0.9


def numpy_training_bn(x, gamma, beta, upstream):
    """Training-mode output, batch statistics and gradients of sum(y * w)."""
    axes = tuple(range(x.ndim - 1))
    mean, variance = x.mean(axes), x.var(axes)  # biased, as Keras
    inv = 1.0 / np.sqrt(variance + EPSILON)
    x_hat = (x - mean) * inv
    y = gamma * x_hat + beta
    d_beta = upstream.sum(axes)
    d_gamma = (upstream * x_hat).sum(axes)
    d_x = (
        gamma
        * inv
        * (
            upstream
            - upstream.mean(axes)
            - x_hat * (upstream * x_hat).mean(axes)
        )
    )
    return y, mean, variance, d_x, d_gamma, d_beta


def built_layer(shape, rng, cls=FusedBatchNormalization):
    channels = shape[-1]
    layer = cls(epsilon=EPSILON, momentum=MOMENTUM)
    layer.build(shape)
    layer.gamma.assign(rng.standard_normal(channels).astype("float32"))
    layer.beta.assign(rng.standard_normal(channels).astype("float32"))
    layer.moving_mean.assign(rng.standard_normal(channels).astype("float32"))
    layer.moving_variance.assign(
        rng.uniform(0.5, 2, channels).astype("float32")
    )
    return layer


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the fused path is TF's"
)
def test_training_step_matches_the_formulas_and_uses_the_fused_kernel():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal((2, 3, 5, 4, 6)) + 1).astype("float32")
    upstream = rng.standard_normal(x.shape).astype("float32")
    layer = built_layer(x.shape, rng)
    gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
    moving_mean = layer.moving_mean.numpy()
    moving_variance = layer.moving_variance.numpy()

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        return (y, *tape.gradient(loss, [x, layer.gamma, layer.beta]))

    got = step(tf.constant(x))
    y, mean, variance, d_x, d_gamma, d_beta = numpy_training_bn(
        x.astype("float64"), gamma, beta, upstream
    )
    for name, value, want in [
        ("y", got[0], y),
        ("d_x", got[1], d_x),
        ("d_gamma", got[2], d_gamma),
        ("d_beta", got[3], d_beta),
        (
            "moving_mean",
            layer.moving_mean,
            moving_mean * MOMENTUM + mean * (1 - MOMENTUM),
        ),
        (
            "moving_variance",
            layer.moving_variance,
            moving_variance * MOMENTUM + variance * (1 - MOMENTUM),
        ),
    ]:
        np.testing.assert_allclose(
            np.asarray(value), want, rtol=1e-4, atol=1e-4, err_msg=name
        )
    ops = {
        op.type
        for op in step.get_concrete_function(
            tf.constant(x)
        ).graph.get_operations()
    }
    assert any(t.startswith("FusedBatchNorm") for t in ops), sorted(ops)


@pytest.mark.multibackend
def test_inference_and_other_backends_are_kerass_batch_norm():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5)).astype("float32")
    fused = built_layer(x.shape, np.random.default_rng(2))
    plain = built_layer(
        x.shape, np.random.default_rng(2), keras.layers.BatchNormalization
    )
    for training in (False, True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(fused(x, training=training)),
            keras.ops.convert_to_numpy(plain(x, training=training)),
            rtol=1e-5,
            atol=1e-5,
        )


@pytest.mark.multibackend
def test_config_round_trip():
    layer = FusedBatchNormalization(
        epsilon=EPSILON, momentum=MOMENTUM, name="bn"
    )
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, FusedBatchNormalization)
    assert clone.get_config() == layer.get_config()


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the fused path is TF's"
)
def test_non_local_block_trains_its_bn_with_the_fused_kernel():
    import tensorflow as tf

    from nonlocal_tf.layers import NonLocalBlock

    block = NonLocalBlock(inner_dim=4)
    x = tf.random.normal((2, 3, 4, 4, 8))
    block(x)
    assert isinstance(block.bn, FusedBatchNormalization)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            y = block(x, training=True)
        return tape.gradient(y, block.trainable_variables)

    ops = {
        op.type for op in step.get_concrete_function(x).graph.get_operations()
    }
    assert any(t.startswith("FusedBatchNorm") for t in ops), sorted(ops)
