"""Full-width parameter and MAC counts: PySlowFast and paper_spec §4.2."""

import functools

import keras
import numpy as np
import pytest

from nonlocal_tf import zoo
from nonlocal_tf.models import count_macs

# PySlowFast trainable parameter counts (400 classes) and paper_spec §4.2
# multiply-adds at 8 x 224 x 224 (res2 56x56).
PYSLOWFAST = {
    "C2D_8x8_R50": (24_327_632, 19.49),
    "C2D_NLN_8x8_R50": (31_686_096, 27.62),
    "I3D_8x8_R50": (28_043_472, 28.41),
    "I3D_NLN_8x8_R50": (35_401_936, 36.54),
    "I3D_8x8_R101": (51_754_192, 46.96),
    "I3D_NLN_8x8_R101": (59_112_656, 55.08),
}


@functools.cache
def _counts(name):
    model = zoo.get_model(name)  # the entry's clip, e.g. (8, 224, 224, 3)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    bn_affine = sum(
        int(np.prod(w.shape))
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        for w in (layer.gamma, layer.beta)
    )
    total, per_layer = count_macs(model, by_layer=True)
    return trainable, bn_affine, total, per_layer


@pytest.mark.parametrize("config", sorted(PYSLOWFAST))
def test_full_width_counts_match_pyslowfast(config):
    params, gmacs = PYSLOWFAST[config]
    trainable, _, total, _ = _counts(config)
    assert trainable == params
    assert round(total / 1e9, 2) == gmacs


def test_nonlocal_block_macs_match_paper_spec():
    _, _, _, per_layer = _counts("C2D_NLN_8x8_R50")
    # res3 (T=4, 28x28, C=512) and res4 (T=4, 14x14, C=1024), pool before
    # phi/g: theta, phi, g, theta.phi, attention.g, out.
    assert round(per_layer["nonlocal_conv3_1"] / 1e9, 3) == 2.286
    assert round(per_layer["nonlocal_conv4_5"] / 1e9, 3) == 1.185
    n, keys, c = 4 * 28 * 28, 4 * 14 * 14, 512
    assert per_layer["nonlocal_conv3_3"] == (
        n * c * c // 2 * 2 + 2 * keys * c * c // 2 + 2 * n * keys * c // 2
    )


def test_paper_r101_c2d_size():
    trainable, bn_affine, _, _ = _counts("c2d_r101_32x2")
    # Paper Table 2e: "43.2M params" for the R101 C2D, i.e. without the BN
    # scale/shift (paper_spec §4.2: 43.21M).
    assert round((trainable - bn_affine) / 1e6, 2) == 43.21
    assert trainable == 43_319_760
