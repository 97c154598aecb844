"""`FrameConv3D`: a Conv3D whose (1, kH, kW) kernels run frame by frame."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class FrameConv3D(keras.layers.Conv3D):
    """`keras.layers.Conv3D` that computes temporal-size-1 kernels in 2D.

    A kernel `(1, kH, kW)` with temporal stride and dilation 1 is a 2D
    convolution of every frame: the clips `(B, T, H, W, C)` are folded to
    `(B * T, H, W, C)` frames and convolved with `kernel[0]`. Weights,
    config and outputs are `Conv3D`'s (up to float rounding); other
    kernels use `Conv3D`'s own op. On TensorFlow's CPU kernels the
    gradients of a 2D convolution are about 2x faster than those of the
    same 3D one (the forward pass is about as fast), which is most of a
    C2D training step.

    Example:
        >>> conv = FrameConv3D(64, (1, 3, 3), padding="valid", use_bias=False)
        >>> conv(keras.ops.zeros((2, 8, 56, 56, 64))).shape
        (2, 8, 54, 54, 64)
    """

    def _per_frame(self):
        return (
            self.kernel_size[0] == 1
            and self.strides[0] == 1
            and self.dilation_rate[0] == 1
            and self.groups == 1
            and self.data_format == "channels_last"
        )

    def convolution_op(self, inputs, kernel):
        if not self._per_frame():
            return super().convolution_op(inputs, kernel)
        shape = ops.shape(inputs)
        frames = ops.reshape(inputs, (-1, shape[2], shape[3], shape[4]))
        outputs = ops.conv(
            frames,
            kernel[0],
            strides=list(self.strides[1:]),
            padding=self.padding,
            dilation_rate=self.dilation_rate[1:],
            data_format="channels_last",
        )
        out = ops.shape(outputs)
        return ops.reshape(
            outputs, (shape[0], shape[1], out[1], out[2], out[3])
        )
