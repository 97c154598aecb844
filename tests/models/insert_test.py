"""insert_nonlocal on a small functional model and on keras ResNet50."""

import keras
import numpy as np
import pytest

from nonlocal_tf import NonLocalBlock
from nonlocal_tf.models import insert_nonlocal
from tests.testing import random_inputs
from tests.testing import run_model_saving_test
from tests.testing import to_numpy


def small_model():
    inputs = keras.Input((4, 8, 8, 3), name="clip")
    x = keras.layers.Conv3D(8, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    y = keras.layers.Conv3D(8, 1, name="conv2")(x)
    x = keras.layers.Add(name="add")([x, y])  # relu1 feeds two layers
    x = keras.layers.GlobalAveragePooling3D(name="pool")(x)
    outputs = keras.layers.Dense(5, name="logits")(x)
    model = keras.Model(inputs, outputs, name="small")
    # Non-default BN statistics, so that copying them is checked.
    bn = model.get_layer("bn1")
    bn.moving_mean.assign(np.linspace(-1, 1, 8).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2, 8).astype("float32"))
    return model


def assert_weights_copied(old, new, skip=()):
    for layer in old.layers:
        clone = new.get_layer(layer.name)
        assert clone is not layer, layer.name
        for a, b in zip(layer.weights, clone.weights, strict=True):
            assert a is not b, a.path
            np.testing.assert_array_equal(
                to_numpy(b), to_numpy(a), err_msg=a.path
            )


@pytest.mark.multibackend
def test_insert_after_layer_feeding_two_consumers():
    model = small_model()
    new = insert_nonlocal(model, after=["relu1"], inner_dim=4)
    block = new.get_layer("relu1_nonlocal")
    assert isinstance(block, NonLocalBlock) and block.inner_dim == 4
    assert len(new.layers) == len(model.layers) + 1
    assert_weights_copied(model, new)
    x = random_inputs((2, 4, 8, 8, 3), seed=1)
    # Identity at init: same function as the original model.
    np.testing.assert_array_equal(to_numpy(new(x)), to_numpy(model(x)))
    # Both consumers of relu1 now read the block's output.
    for name in ("conv2", "add"):
        sources = [
            t._keras_history.operation.name
            for t in keras.tree.flatten(new.get_layer(name).input)
        ]
        assert "relu1_nonlocal" in sources, (name, sources)
    # Once trained (non-zero BN gamma) the block changes the output.
    block.bn.gamma.assign(np.ones(8, "float32"))
    assert not np.allclose(to_numpy(new(x)), to_numpy(model(x)))
    # Weights are copies: changing the new model leaves the old one alone.
    new.get_layer("conv1").kernel.assign(
        np.zeros(new.get_layer("conv1").kernel.shape, "float32")
    )
    assert np.any(to_numpy(model.get_layer("conv1").kernel) != 0)
    run_model_saving_test(new, x)


@pytest.mark.multibackend
def test_insert_errors():
    model = small_model()
    with pytest.raises(ValueError, match=r"no layer named 'relu_1'.*relu1"):
        insert_nonlocal(model, after=["relu_1"])
    with pytest.raises(ValueError, match="repeated.*relu1"):
        insert_nonlocal(model, after=["relu1", "relu1"])
    with pytest.raises(ValueError, match="do not pass `name`"):
        insert_nonlocal(model, after="relu1", name="nl")
    with pytest.raises(ValueError, match="at least one"):
        insert_nonlocal(model, after=[])
    sequential = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Conv2D(4, 1, name="c")]
    )
    with pytest.raises(ValueError, match="functional.*Sequential"):
        insert_nonlocal(sequential, after=["c"])
    with pytest.raises(ValueError, match="rank 2"):
        insert_nonlocal(model, after=["pool"])


def test_insert_into_keras_resnet50():
    base = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3))
    after = ["conv3_block1_out", "conv4_block3_out"]
    model = insert_nonlocal(base, after=after)
    assert len(model.layers) == len(base.layers) + 2
    for name, channels in zip(after, (512, 1024), strict=True):
        block = model.get_layer(name + "_nonlocal")
        assert isinstance(block, NonLocalBlock)
        assert block.theta.kernel.shape == (1, 1, channels, channels // 2)
        # The next block reads the non-local output.
        consumer = model.get_layer(
            name.replace("_out", "")
            .replace("block1", "block2")
            .replace("block3", "block4")
            + "_1_conv"
        )
        assert consumer.input._keras_history.operation is block
    assert_weights_copied(base, model)
    x = random_inputs((2, 64, 64, 3), seed=0, scale=50.0)
    np.testing.assert_array_equal(
        to_numpy(model(x, training=False)), to_numpy(base(x, training=False))
    )
    # docs/reference.md §7 counts 526,592 (res3) and 2,101,760 (res4) parameters
    # per block with BN gamma/beta; count_params adds the BN moving stats.
    moving_stats = 2 * (512 + 1024)
    assert model.count_params() == (
        base.count_params() + 526_592 + 2_101_760 + moving_stats
    )
