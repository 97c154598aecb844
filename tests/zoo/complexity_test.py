"""Full-width parameter and MAC counts: PySlowFast and docs/reference.md §7.

The counts come from `model_zoo_table.entry_complexity` (shared with the
MODEL_ZOO.md test, one full-width build per architecture) and are checked
against figures computed outside this project.
"""

import math

import pytest

from nonlocal_tf.zoo.model_zoo_table import entry_complexity
from tests.zoo import caffe2_spec

# PySlowFast trainable parameter counts (400 classes) and docs/reference.md §7
# multiply-adds at 8 x 224 x 224 (res2 56x56).
PYSLOWFAST = {
    "C2D_8x8_R50": (24_327_632, 19.49),
    "C2D_NLN_8x8_R50": (31_686_096, 27.62),
    "I3D_8x8_R50": (28_043_472, 28.41),
    "I3D_NLN_8x8_R50": (35_401_936, 36.54),
    "I3D_8x8_R101": (51_754_192, 46.96),
    "I3D_NLN_8x8_R101": (59_112_656, 55.08),
}


@pytest.mark.parametrize("config", sorted(PYSLOWFAST))
def test_full_width_counts_match_pyslowfast(config):
    params, gmacs = PYSLOWFAST[config]
    counts = entry_complexity(config)
    assert counts.trainable_params == counts.params == params
    assert round(counts.macs / 1e9, 2) == gmacs


def test_nonlocal_block_macs_match_reference():
    per_layer = entry_complexity("C2D_NLN_8x8_R50").macs_by_layer
    # res3 (T=4, 28x28, C=512) and res4 (T=4, 14x14, C=1024), pool before
    # phi/g: theta, phi, g, theta.phi, attention.g, out.
    assert round(per_layer["nonlocal_conv3_1"] / 1e9, 3) == 2.286
    assert round(per_layer["nonlocal_conv4_5"] / 1e9, 3) == 1.185
    n, keys, c = 4 * 28 * 28, 4 * 14 * 14, 512
    assert per_layer["nonlocal_conv3_3"] == (
        n * c * c // 2 * 2 + 2 * keys * c * c // 2 + 2 * n * keys * c // 2
    )


def test_paper_r101_c2d_size():
    counts = entry_complexity("c2d_r101_32x2")
    assert counts.trainable_params == 43_319_760
    # Paper Table 2e: "43.2M params" for the R101 C2D, i.e. without the BN
    # scale/shift (docs/reference.md §7: 43.21M).
    shapes = caffe2_spec.blob_shapes(101, "c2d")
    bn_affine = sum(
        s[0] for n, s in shapes.items() if n.endswith(("_bn_s", "_bn_b"))
    )
    assert round((counts.trainable_params - bn_affine) / 1e6, 2) == 43.21


def test_frozen_bn_models_count_their_affine_layers():
    counts = entry_complexity("i3d_nl5_r50_32x4")
    shapes = caffe2_spec.blob_shapes(
        50,
        "i3d",
        ((), (1, 3), (1, 3, 5), ()),
        frozen_bn=True,
        nonlocal_bn=False,
    )
    assert counts.params == sum(math.prod(s) for s in shapes.values())
    assert counts.trainable_params < counts.params  # Affine layers frozen
