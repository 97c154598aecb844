"""MAC/param counter against hand formulas and docs/reference.md §7."""

import keras
import numpy as np
import pytest

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.layers import NonLocalBlock
from nonlocal_tf.models import STEMS
from nonlocal_tf.models import Stem
from nonlocal_tf.models import VideoClassifier
from nonlocal_tf.models import count_macs
from nonlocal_tf.models import count_params


def test_counts_conv_and_dense_by_formula():
    inputs = keras.Input((4, 10, 12, 3))
    x = keras.layers.Conv3D(
        5, (3, 3, 3), strides=(1, 2, 2), padding="valid", name="c"
    )(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling3D()(x)
    x = keras.layers.Dense(7, name="d")(x)
    model = keras.Model(inputs, x)
    total, per_layer = count_macs(model, by_layer=True)
    # output 2 x 4 x 5 positions x 5 filters x 27 taps x 3 channels.
    assert per_layer == {"c": 2 * 4 * 5 * 5 * 27 * 3, "d": 5 * 7}
    assert total == sum(per_layer.values())
    # conv 5*3*27 + bias 5; BN gamma/beta 10 (stats excluded); dense 5*7+7.
    assert count_params(model) == 405 + 5 + 10 + 42


@pytest.mark.parametrize(
    "subsample, keys", [(True, 4 * 3 * 2), (2, 2 * 3 * 2), (False, 4 * 6 * 4)]
)
def test_nonlocal_block_by_formula(subsample, keys):
    # A (4, 6, 4, 8) input: 96 positions, inner_dim 4, embedded Gaussian;
    # keys: the positions left after the block's max-pool window.
    inputs = keras.Input((4, 6, 4, 8))
    block = NonLocalBlock(subsample=subsample, name="nl")
    model = keras.Model(inputs, block(inputs))
    positions, channels, inner = 96, 8, 4
    expected = (
        positions * channels * inner  # theta
        + 2 * keys * channels * inner  # phi, g
        + 2 * positions * keys * inner  # theta . phi, attention . g
        + positions * inner * channels  # output conv
    )
    assert count_macs(model) == expected


def test_unknown_shapes_are_refused():
    model = VideoClassifier(depth=50, width_per_group=2)
    with pytest.raises(ValueError, match="static shapes.*conv1"):
        count_macs(model)


def test_params_equal_trainable_weights_without_frozen_layers():
    model = VideoClassifier(depth=50, arch="i3d", width_per_group=4)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert count_params(model) == trainable


# docs/reference.md §7 (GMACs, res2 56x56; 400 classes).
@pytest.mark.parametrize(
    "depth,arch,stem,shape,gmacs",
    [
        (50, "c2d", "pyslowfast", (8, 224, 224, 3), 19.49),
        (50, "i3d", "pyslowfast", (8, 256, 256, 3), 37.10),
        # The 32x2 column of §4.2 uses the org stem with a padded pool1.
        (
            50,
            "i3d",
            Stem(2, (2, 3, 3), (2, 2, 2), (0, 1, 1)),
            (32, 224, 224, 3),
            33.13,
        ),
        (101, "c2d", "pyslowfast", (8, 224, 224, 3), 34.34),
    ],
)
def test_macs_match_reference(depth, arch, stem, shape, gmacs):
    with keras.StatelessScope():  # shapes only: weights stay uninitialised
        # §4.2 counts one classifier call (global pooling); the fully
        # convolutional head calls it at 2 x 2 positions of a 256 clip.
        model = VideoClassifier(
            depth=depth,
            arch=arch,
            stem=stem,
            input_shape=shape,
            clip_spec=ClipSpec(test_head="global_average"),
        )
    assert round(count_macs(model) / 1e9, 2) == gmacs


def test_caffe2_stem_is_cheaper_than_pyslowfast():
    # res2 55x55 instead of 56x56: every res2 conv shrinks by (55/56)^2.
    psf = VideoClassifier(
        depth=50,
        stem="pyslowfast",
        width_per_group=2,
        input_shape=(8, 224, 224, 3),
    )
    c2 = VideoClassifier(
        depth=50,
        stem=STEMS["caffe2"],
        width_per_group=2,
        input_shape=(8, 224, 224, 3),
    )
    _, a = count_macs(psf, by_layer=True)
    _, b = count_macs(c2, by_layer=True)
    assert a["res2_1_branch2b"] * 55 * 55 == b["res2_1_branch2b"] * 56 * 56
    assert a["res3_1_branch2b"] == b["res3_1_branch2b"]
