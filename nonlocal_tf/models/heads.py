"""Classifier heads of the video models: global average or fully convolutional.

The fully convolutional head is how video-nonlocal-net and PySlowFast test
(docs/reference.md §4): the `res5` features are average-pooled with
the window they have at the training crop (`T5 x crop/32 x crop/32`) at
stride 1, the classifier and its activation are applied at every pooled
position, and the scores are averaged over the positions. At the training
crop there is one position, so training is the same as with global pooling;
on a larger test crop (256 for a 224 model) the head sees 2 x 2 positions.

Layer names (`pool5`, `dropout`, `pred`, `predictions`) mirror the Caffe2
blobs, so checkpoints load into either head.
"""

import keras

from nonlocal_tf.clip_spec import FULLY_CONVOLUTIONAL
from nonlocal_tf.clip_spec import TEST_HEADS
from nonlocal_tf.layers.pooling import WindowAveragePooling3D

# Caffe2 `pred` init: N(0, 0.01^2), zero bias.
_FC_INIT = {"class_name": "RandomNormal", "config": {"stddev": 0.01}}


def classifier_head(
    features,
    *,
    num_classes,
    test_head,
    pool_size,
    activation="softmax",
    dropout_rate=0.5,
):
    """Pooling, dropout, the `pred` classifier and its activation.

    Args:
        features: `res5` output (B, T, H, W, C).
        num_classes: outputs of `pred`.
        test_head: "fully_convolutional" or "global_average".
        pool_size: the fully convolutional window `(T5, H5, W5)` (the
            `res5` map at the training clip).
        activation: applied to `pred` (in float32); None gives logits.
        dropout_rate: dropout before `pred`.

    Returns:
        Scores (B, num_classes).

    Example:
        >>> scores = classifier_head(res5, num_classes=400,
        ...                          test_head="fully_convolutional",
        ...                          pool_size=(4, 7, 7))
    """
    if test_head not in TEST_HEADS:
        raise ValueError(
            f"test_head must be one of {TEST_HEADS}; received {test_head!r}"
        )
    pool_dtype = keras.config.dtype_policy().variable_dtype
    if test_head == FULLY_CONVOLUTIONAL:
        x = WindowAveragePooling3D(pool_size, dtype=pool_dtype, name="pool5")(
            features
        )
    else:
        x = keras.layers.GlobalAveragePooling3D(name="pool5")(features)
    x = keras.layers.Dropout(dropout_rate, name="dropout")(x)
    x = keras.layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.get(dict(_FC_INIT)),
        bias_initializer="zeros",
        name="pred",
    )(x)
    x = keras.layers.Activation(
        activation, dtype="float32", name="predictions"
    )(x)
    if test_head == FULLY_CONVOLUTIONAL:
        x = keras.layers.GlobalAveragePooling3D(
            dtype="float32", name="position_mean"
        )(x)
    return x
