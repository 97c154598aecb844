"""MomentumSGD against NumPy and torch.optim.SGD; weight-decay exclusions."""

import keras
import numpy as np
import pytest

from nonlocal_tf.training import optimizer as optimizer_lib

RATES = [0.1, 0.1, 0.01, 0.01]  # StepSchedule(0.1, [2])
MOMENTUM = 0.9
DECAY = 0.05


def _gradients(seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(3, 2)), rng.normal(size=(2,))) for _ in RATES]


def _reference(w, b, gradients, nesterov):
    """Caffe2 MomentumSGDUpdate with SCALE_MOMENTUM and L2 on w only."""
    w, b = w.copy(), b.copy()
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for rate, (gw, gb) in zip(RATES, gradients, strict=True):
        gw = gw + DECAY * w  # b (a bias) gets no decay
        vw = MOMENTUM * vw + gw
        vb = MOMENTUM * vb + gb
        if nesterov:
            w -= rate * (gw + MOMENTUM * vw)
            b -= rate * (gb + MOMENTUM * vb)
        else:
            w -= rate * vw
            b -= rate * vb
    return w, b


@pytest.mark.parametrize("nesterov", [True, False])
def test_momentum_sgd_matches_numpy_reference(nesterov):
    rng = np.random.default_rng(1)
    w0, b0 = rng.normal(size=(3, 2)), rng.normal(size=(2,))
    w = keras.Variable(w0.astype("float32"), name="kernel")
    b = keras.Variable(b0.astype("float32"), name="bias")
    optimizer = optimizer_lib.MomentumSGD(
        optimizer_lib.StepSchedule(0.1, boundaries=[2]),
        momentum=MOMENTUM,
        nesterov=nesterov,
        weight_decay=DECAY,
    )
    optimizer.exclude_from_weight_decay(var_list=[b])
    gradients = _gradients()
    for gw, gb in gradients:
        optimizer.apply(
            [
                keras.ops.convert_to_tensor(gw, "float32"),
                keras.ops.convert_to_tensor(gb, "float32"),
            ],
            [w, b],
        )
    expected_w, expected_b = _reference(w0, b0, gradients, nesterov)
    np.testing.assert_allclose(w.numpy(), expected_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.numpy(), expected_b, rtol=1e-5, atol=1e-6)
    assert int(optimizer.iterations) == len(RATES)


def test_momentum_sgd_matches_torch_sgd():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    w0 = rng.normal(size=(3, 2))
    w = keras.Variable(w0.astype("float32"))
    optimizer = optimizer_lib.MomentumSGD(
        optimizer_lib.StepSchedule(0.1, boundaries=[2]),
        momentum=MOMENTUM,
        nesterov=True,
        weight_decay=DECAY,
    )
    tw = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    torch_sgd = torch.optim.SGD(
        [tw], lr=0.1, momentum=MOMENTUM, nesterov=True, weight_decay=DECAY
    )
    for rate, (gw, _) in zip(RATES, _gradients(3), strict=True):
        optimizer.apply([keras.ops.convert_to_tensor(gw, "float32")], [w])
        for group in torch_sgd.param_groups:
            group["lr"] = rate
        tw.grad = torch.tensor(gw)
        torch_sgd.step()
    np.testing.assert_allclose(
        w.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_config_round_trip():
    optimizer = optimizer_lib.MomentumSGD(
        optimizer_lib.WarmupCosineSchedule(0.1, 100, warmup_steps=10),
        momentum=0.8,
        nesterov=False,
        weight_decay=3e-4,
    )
    restored = keras.optimizers.deserialize(
        keras.optimizers.serialize(optimizer)
    )
    assert isinstance(restored, optimizer_lib.MomentumSGD)
    assert (restored.momentum, restored.nesterov, restored.weight_decay) == (
        0.8,
        False,
        3e-4,
    )
    assert float(restored.learning_rate) == pytest.approx(0.0)


def _model_with_norms():
    inner = keras.Sequential(
        [
            keras.Input((4, 4, 4, 6)),
            keras.layers.Conv3D(6, 1, use_bias=False, name="inner_conv"),
            keras.layers.BatchNormalization(name="inner_bn"),
        ],
        name="inner_block",
    )
    inputs = keras.Input((4, 4, 4, 3))
    x = keras.layers.Conv3D(6, 1, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = inner(x)
    x = keras.layers.LayerNormalization(name="ln")(x)
    x = keras.layers.GlobalAveragePooling3D()(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inputs, outputs)


def test_weight_decay_excludes_norm_parameters_and_biases():
    model = _model_with_norms()
    excluded = {v.path for v in optimizer_lib.weight_decay_exclusions(model)}
    assert excluded == {
        "conv/bias",
        "bn/gamma",
        "bn/beta",
        "inner_block/inner_bn/gamma",
        "inner_block/inner_bn/beta",
        "ln/gamma",
        "ln/beta",
        "head/bias",
    }
    # Behaviour: with zero gradients and no momentum, only decayed variables
    # move, each by the factor (1 - lr * wd).
    optimizer = optimizer_lib.build_optimizer(
        model, 1.0, momentum=0.0, weight_decay=0.1
    )
    for variable in model.trainable_variables:
        variable.assign(keras.ops.ones_like(variable))
    optimizer.apply(
        [keras.ops.zeros_like(v) for v in model.trainable_variables],
        model.trainable_variables,
    )
    decayed = {
        v.path for v in model.trainable_variables if np.allclose(v.numpy(), 0.9)
    }
    unchanged = {
        v.path for v in model.trainable_variables if np.allclose(v.numpy(), 1.0)
    }
    assert decayed == {
        "conv/kernel",
        "inner_block/inner_conv/kernel",
        "head/kernel",
    }
    assert unchanged == excluded


def test_decay_flags_include_norm_and_bias():
    model = _model_with_norms()
    assert (
        optimizer_lib.weight_decay_exclusions(
            model, exclude_norm=False, exclude_bias=False
        )
        == []
    )
    only_bias = optimizer_lib.weight_decay_exclusions(model, exclude_norm=False)
    assert {v.name for v in only_bias} == {"bias"}


def test_loss_scaling_wraps_optimizer():
    model = _model_with_norms()
    optimizer = optimizer_lib.build_optimizer(model, 0.1, loss_scaling=True)
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(optimizer.inner_optimizer, optimizer_lib.MomentumSGD)


def test_bad_arguments():
    with pytest.raises(ValueError, match="momentum"):
        optimizer_lib.MomentumSGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizer_lib.MomentumSGD(0.1, weight_decay=-1.0)
