"""Frozen batch norm folded into a per-channel affine map (Caffe2 AffineNd)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class Affine(keras.layers.Layer):
    """Per-channel `y = x * scale + bias` over the last axis.

    This is the "frozen BN" of the 32x4 and 128x1 video-nonlocal-net models:
    their batch norms were folded into `scale = gamma / sqrt(var + eps)` and
    `bias = beta - mean * scale` (Caffe2 blobs `<layer>_bn_s`, `<layer>_bn_b`).
    The zoo builds it with `trainable=False`; set `layer.trainable = True` to
    fine-tune the two vectors.

    Example:
        >>> layer = Affine(name="res_conv1_bn")
        >>> y = layer(keras.ops.ones((1, 2, 4, 4, 8)))
    """

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"Affine '{self.name}' needs a known channel count; received "
                f"input_shape={input_shape}"
            )
        self.scale = self.add_weight(
            name="scale", shape=(channels,), initializer="ones"
        )
        self.bias = self.add_weight(
            name="bias", shape=(channels,), initializer="zeros"
        )

    def call(self, inputs):
        scale = ops.cast(self.scale, inputs.dtype)
        bias = ops.cast(self.bias, inputs.dtype)
        return inputs * scale + bias

    def compute_output_shape(self, input_shape):
        return input_shape
