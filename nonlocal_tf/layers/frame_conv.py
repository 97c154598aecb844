"""`FrameConv3D`: a Conv3D computed with 2D convolutions where that is faster.

`conv3d` is `keras.ops.conv` of channels-last clips, run as the fastest
exact 2D equivalent measured on the current backend
(`benchmarks/conv_rewrites.py`):

- `per_frame_conv`: a `(1, kH, kW)` kernel, as a 2D convolution of every
  frame;
- `time_by_space_conv`: a `(kT, 1, 1)` kernel, as a 2D convolution of
  `(T, H * W)` images with a `(kT, 1)` kernel;
- `stacked_frames_conv`: any kernel (`conv3d` uses it for the others,
  such as I3D's `(5, 7, 7)` conv1), as a 2D convolution of the `kT` frames
  each output frame sees, stacked on the channel axis.

Which of them pays depends on the backend's kernels (`REWRITES`).
"""

import keras
from keras import ops

# The rewrites `conv3d` uses on each Keras backend; other kernels run the 3D
# op. Kept where benchmarks/conv_rewrites.py (I3D_NLN_8x8_R50's shapes,
# batch 2, 2-core AVX2 AMD EPYC, 2026-12-07) gave 3D time / rewrite time
# above 1 with its 95% interval above 1, forward + backward:
# - tensorflow: per_frame 1.76x (res2 3x3) and 1.12x (res4 3x3);
#   time_by_space with its own gradients 1.52-5.31x at every (3, 1, 1)
#   layer (3.45x res2_0, 5.31x res2_1, 3.85x res3_0, 2.84x res4_0, 1.74x
#   res5_1; with TensorFlow's gradients it was 0.96-1.16x); stacked_frames
#   0.85x at conv1.
# - jax: stacked_frames 1.27x at conv1 (9 rounds); per_frame 0.72x (res2
#   3x3) and 1.10x [0.99, 1.32] (res4 3x3); time_by_space 0.12-0.76x, and
#   0.82-1.16x with its own gradients.
# - torch: not measured; per-frame as before the benchmark.
REWRITES = {
    "tensorflow": ("per_frame", "time_by_space"),
    "jax": ("stacked_frames",),
    "torch": ("per_frame",),
}


def per_frame_conv(inputs, kernel, strides, padding, dilation_rate):
    """A `(1, kH, kW)` convolution (temporal stride 1) as a 2D one.

    The clips `(B, T, H, W, C)` are folded to `(B * T, H, W, C)` frames and
    convolved with `kernel[0]`. Arguments as `conv3d`.
    """
    shape = ops.shape(inputs)
    frames = ops.reshape(inputs, (-1, shape[2], shape[3], shape[4]))
    outputs = ops.conv(
        frames,
        kernel[0],
        strides=strides[1:],
        padding=padding,
        dilation_rate=dilation_rate[1:],
    )
    out = ops.shape(outputs)
    return ops.reshape(outputs, (shape[0], shape[1], out[1], out[2], out[3]))


def time_by_space_conv(inputs, kernel, strides, padding, dilation_rate):
    """A `(kT, 1, 1)` convolution as a 2D one over `(T, H * W)`.

    A 1x1 spatial kernel mixes nothing across H and W (its spatial strides
    only subsample them, and "same" pads nothing there), so the clips are
    subsampled, reshaped to `(B, T, H * W, C)` and convolved with the
    `(kT, 1)` kernel `kernel[:, 0]`, temporal stride, dilation and padding
    unchanged. At temporal stride 1 the gradients are computed by hand
    (`_temporal_conv`). Arguments as `conv3d`.
    """
    x = inputs
    if tuple(strides[1:]) != (1, 1):
        x = x[:, :, :: strides[1], :: strides[2]]
    shape = ops.shape(x)
    x = ops.reshape(x, (shape[0], shape[1], shape[2] * shape[3], shape[4]))
    dilation = dilation_rate[0]
    if strides[0] == 1:
        span = (kernel.shape[0] - 1) * dilation
        if padding == "same" and span:
            x = ops.pad(
                x, ((0, 0), (span // 2, span - span // 2), (0, 0), (0, 0))
            )
        x = _temporal_conv(x, ops.convert_to_tensor(kernel[:, 0]), dilation)
    else:
        x = ops.conv(
            x,
            kernel[:, 0],
            strides=(strides[0], 1),
            padding=padding,
            dilation_rate=(dilation, 1),
        )
    out = ops.shape(x)
    return ops.reshape(x, (shape[0], out[1], shape[2], shape[3], out[3]))


def _temporal_conv(x, kernel, dilation):
    """Valid `(kT, 1)` convolution of `(B, T, P, C)`, stride 1, own gradient.

    TensorFlow's CPU kernels take far longer for the kernel gradient of a
    `(kT, 1)` (or `(kT, 1, 1)`) convolution than for its forward pass. The
    gradients here are the forward op and matrix products: the input's is
    the valid convolution of the output gradient, padded by the kernel's
    span on both sides, with the kernel flipped in time and its channel
    axes swapped; the kernel's tap `k` is `x[:, k * dilation:][:T']`
    against the output gradient, summed over B, T' and P.
    """
    taps = kernel.shape[0]
    span = (taps - 1) * dilation

    @ops.custom_gradient
    def conv(x, kernel):
        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream
            dx = ops.conv(
                ops.pad(dy, ((0, 0), (span, span), (0, 0), (0, 0))),
                ops.transpose(ops.flip(kernel, 0), (0, 1, 3, 2)),
                padding="valid",
                dilation_rate=(dilation, 1),
            )
            steps = ops.shape(dy)[1]
            dk = ops.stack(
                [
                    ops.einsum(
                        "btpc,btpf->cf",
                        x[:, k * dilation : k * dilation + steps],
                        dy,
                    )
                    for k in range(taps)
                ]
            )
            return dx, ops.expand_dims(dk, 1)

        y = ops.conv(x, kernel, padding="valid", dilation_rate=(dilation, 1))
        return y, grad

    return conv(x, kernel)


def stacked_frames_conv(inputs, kernel, strides, padding, dilation_rate):
    """A `(kT, kH, kW)` convolution as one 2D convolution of stacked frames.

    Output frame `t` sums, over `k < kT`, the 2D convolution of input frame
    `t * sT + k * dT` with `kernel[k]`: that is one 2D convolution of those
    `kT` frames concatenated along the channels, with the kernel reshaped to
    `(kH, kW, kT * C, filters)` in the same order. A 3-channel clip gives
    `3 * kT` input channels, which the 2D kernels use far better than 3.
    "same" padding needs temporal stride 1 (see `conv3d`). Arguments as
    `conv3d`.
    """
    kt, kh, kw, channels, filters = kernel.shape
    st, dt = strides[0], dilation_rate[0]
    span = (kt - 1) * dt
    x = inputs
    if padding == "same" and span:
        x = ops.pad(x, ((0, 0), (span // 2, span - span // 2), *[(0, 0)] * 3))
    if kt > 1:
        # Frames k * dT, k * dT + sT, ... while frame + span stays in T.
        x = ops.concatenate(
            [x[:, k * dt : (k * dt - span) or None : st] for k in range(kt)],
            axis=-1,
        )
    elif st != 1:
        x = x[:, ::st]
    shape = ops.shape(x)
    frames = ops.reshape(x, (-1, shape[2], shape[3], shape[4]))
    kernel = ops.reshape(
        ops.transpose(kernel, (1, 2, 0, 3, 4)), (kh, kw, kt * channels, filters)
    )
    outputs = ops.conv(
        frames,
        kernel,
        strides=strides[1:],
        padding=padding,
        dilation_rate=dilation_rate[1:],
    )
    out = ops.shape(outputs)
    return ops.reshape(outputs, (shape[0], shape[1], out[1], out[2], out[3]))


def conv3d(inputs, kernel, strides, padding, dilation_rate):
    """`keras.ops.conv` of channels-last clips, 2D where faster and exact.

    Same outputs as the 3D convolution (up to float rounding) and the same
    gradients. Each kernel has one rewrite, used where `REWRITES` of the
    current backend names it: `per_frame_conv` for `(1, kH, kW)` kernels
    with temporal stride 1, `time_by_space_conv` for `(kT, 1, 1)` kernels,
    `stacked_frames_conv` for the others (with "same" padding only at
    temporal stride 1, where it pads `(kT - 1) * dT` frames as the 3D op
    does); otherwise the 3D op.

    Args:
        inputs: `(B, T, H, W, C)`; B, T, H, W may be unknown.
        kernel: `(kT, kH, kW, C, filters)`.
        strides: 3 ints.
        padding: "valid" or "same".
        dilation_rate: 3 ints.

    Returns:
        `(B, T', H', W', filters)`.

    Example:
        >>> x = keras.ops.ones((2, 10, 56, 56, 64))
        >>> conv3d(x, keras.ops.ones((3, 1, 1, 64, 64)), (1, 1, 1),
        ...        "valid", (1, 1, 1)).shape
        (2, 8, 56, 56, 64)
    """
    strides, dilation_rate = tuple(strides), tuple(dilation_rate)
    padding = padding.lower()
    rewrites = REWRITES.get(keras.backend.backend(), ())
    kt, kh, kw = kernel.shape[:3]
    if kt == 1 and strides[0] == 1:
        if "per_frame" in rewrites:
            return per_frame_conv(
                inputs, kernel, strides, padding, dilation_rate
            )
    elif (kh, kw) == (1, 1):
        if "time_by_space" in rewrites:
            return time_by_space_conv(
                inputs, kernel, strides, padding, dilation_rate
            )
    elif "stacked_frames" in rewrites and (
        padding == "valid" or strides[0] == 1
    ):
        return stacked_frames_conv(
            inputs, kernel, strides, padding, dilation_rate
        )
    return ops.conv(
        inputs,
        kernel,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
    )


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class FrameConv3D(keras.layers.Conv3D):
    """`keras.layers.Conv3D` computed with 2D convolutions (`conv3d`).

    Same arguments, weights, config and outputs (up to float rounding) as
    `Conv3D`. Channels-last inputs are convolved by `conv3d`, which runs
    a kernel as an exact 2D rewrite where that measured faster on the
    backend (`REWRITES`): on TensorFlow the `(1, kH, kW)` kernels frame by
    frame and the `(kT, 1, 1)` ones over `(T, H * W)` (forward + backward
    1.1-1.8x and 1.5-5.3x faster at R50's shapes on a 2-core AVX2 CPU), on
    JAX the `(5, 7, 7)` conv1 as one 2D convolution of 5 stacked frames;
    other kernels use the 3D op. Grouped and `channels_first`
    convolutions use `Conv3D`'s own op.

    Example:
        >>> conv = FrameConv3D(64, (1, 3, 3), padding="valid", use_bias=False)
        >>> conv(keras.ops.zeros((2, 8, 56, 56, 64))).shape
        (2, 8, 54, 54, 64)
    """

    def convolution_op(self, inputs, kernel):
        if self.groups != 1 or self.data_format != "channels_last":
            return super().convolution_op(inputs, kernel)
        return conv3d(
            inputs, kernel, self.strides, self.padding, self.dilation_rate
        )
