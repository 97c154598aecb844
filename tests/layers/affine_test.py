"""The frozen-BN `Affine` layer."""

import numpy as np
import pytest

from nonlocal_tf.layers import Affine
from tests.testing import run_layer_test
from tests.testing import to_numpy


@pytest.mark.multibackend
def test_affine_layer_contract():
    run_layer_test(
        Affine,
        {},
        (2, 3, 4, 4, 5),
        (2, 3, 4, 4, 5),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=0,
    )
    run_layer_test(
        Affine,
        {"trainable": False},
        (2, 6, 5),
        (2, 6, 5),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=2,
        run_training=False,
    )


def test_affine_is_per_channel_scale_and_bias():
    layer = Affine()
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
    layer.build(x.shape)
    scale = np.arange(1, 6, dtype="float32")
    bias = np.linspace(-1, 1, 5, dtype="float32")
    layer.set_weights([scale, bias])
    np.testing.assert_allclose(to_numpy(layer(x)), x * scale + bias, rtol=1e-6)
    with pytest.raises(ValueError, match="known channel count"):
        Affine().build((2, 3, None))
