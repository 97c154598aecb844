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
from keras import ops

from nonlocal_tf.clip_spec import FULLY_CONVOLUTIONAL
from nonlocal_tf.clip_spec import TEST_HEADS

# Caffe2 `pred` init: N(0, 0.01^2), zero bias.
_FC_INIT = {"class_name": "RandomNormal", "config": {"stddev": 0.01}}


def _average_axis(x, axis, window):
    """Stride-1 average over `window` steps of `axis`, or the whole axis."""

    def whole():
        return ops.mean(x, axis=axis, keepdims=True)

    def sliding():
        pool_size = [1, 1, 1]
        pool_size[axis - 1] = window
        return ops.average_pool(x, tuple(pool_size), strides=1, padding="valid")

    size = x.shape[axis]
    if size is not None:
        return whole() if size <= window else sliding()
    return ops.cond(ops.shape(x)[axis] <= window, whole, sliding)


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class WindowAveragePooling3D(keras.layers.Layer):
    """Average pooling at stride 1 whose window never exceeds the input.

    Along each of T, H, W: where the input is longer than the window, the
    window slides with stride 1 (`size - window + 1` outputs); where it is
    not, the whole axis is averaged (1 output). So a clip smaller than the
    one the window was sized for is pooled globally instead of failing.

    Args:
        pool_size: `(T, H, W)` window, e.g. `(4, 7, 7)` for 8-frame, 224
            pixel clips of a C2D/I3D ResNet.

    Example:
        >>> pool = WindowAveragePooling3D((4, 7, 7))
        >>> pool(keras.ops.ones((1, 4, 8, 8, 16))).shape
        (1, 1, 2, 2, 16)
    """

    def __init__(self, pool_size, **kwargs):
        super().__init__(**kwargs)
        pool_size = tuple(int(p) for p in pool_size)
        if len(pool_size) != 3 or min(pool_size) < 1:
            raise ValueError(
                "pool_size must be 3 positive ints (T, H, W); received "
                f"{pool_size!r}"
            )
        self.pool_size = pool_size

    def call(self, inputs):
        x = inputs
        for axis, window in zip((1, 2, 3), self.pool_size, strict=True):
            x = _average_axis(x, axis, window)
        return x

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, window in zip((1, 2, 3), self.pool_size, strict=True):
            if shape[axis] is not None:
                shape[axis] = max(shape[axis] - window + 1, 1)
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size)}


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
