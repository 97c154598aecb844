"""Video pooling layers: 3D max pools as 2D ones, the test head's window pool.

`FrameMaxPooling3D` (and `frame_max_pool`, the op) computes any
channels-last 3D max pool with 2D max pools only: LiteRT's builtin ops have
no 3D pooling (a converted model would need Flex ops), and the 2D pools have
float16 kernels on TensorFlow's CPU where `MaxPool3D` has none.
`WindowAveragePooling3D` is the fully convolutional test head's pooling,
also computed with 2D (average) pools.
"""

import keras
from keras import ops

# Backends on which a `(k, 1, 1)` / `(k, 1, 1)` "valid" max pool (the video
# ResNets' pool2) runs as `_window_select_max`: on JAX, forward + backward
# 4.9-7.6x faster than Keras's 3D max pool at I3D_NLN_8x8_R50's pool2, where
# the 2D pool was 1.2x (batch 2, 2-core AVX2 AMD EPYC,
# benchmarks/conv_rewrites.py, 2026-12-07/08); on TensorFlow 0.86x of the
# 3D pool, so not there.
SELECT_MAX_BACKENDS = ("jax",)


def _pool_2d(x, pool_size, strides, padding, mode):
    pool = ops.max_pool if mode == "max" else ops.average_pool
    return pool(
        x, pool_size, strides, padding=padding, data_format="channels_last"
    )


def _temporal_pool(x, window, stride, padding, mode):
    """`(window, 1, 1)` / `(stride, 1, 1)` pool as a 2D pool of (T, H * W)."""
    shape = ops.shape(x)
    x = ops.reshape(x, (shape[0], shape[1], shape[2] * shape[3], shape[4]))
    x = _pool_2d(x, (window, 1), (stride, 1), padding, mode)
    return ops.reshape(
        x, (shape[0], ops.shape(x)[1], shape[2], shape[3], shape[4])
    )


def _window_select_max(x, window):
    """Non-overlapping `(window, 1, 1)` max pool ("valid") by selection.

    The frames of each window are compared in turn with `where(a >= b, a,
    b)`, so an output's gradient goes to the first maximum of its window,
    as with the 2D max pools.
    """
    shape = ops.shape(x)
    steps = shape[1] // window
    x = ops.reshape(
        x[:, : steps * window],
        (shape[0], steps, window, shape[2], shape[3], shape[4]),
    )
    best = x[:, :, 0]
    for k in range(1, window):
        best = ops.where(best >= x[:, :, k], best, x[:, :, k])
    return best


def _spatial_pool(x, pool_size, strides, padding, mode):
    """`(1, kH, kW)` / `(1, sH, sW)` pool as a 2D pool of every frame."""
    shape = ops.shape(x)
    frames = ops.reshape(x, (-1, shape[2], shape[3], shape[4]))
    frames = _pool_2d(frames, pool_size, strides, padding, mode)
    out = ops.shape(frames)
    return ops.reshape(frames, (shape[0], shape[1], out[1], out[2], out[3]))


def frame_max_pool(inputs, pool_size, strides=None, padding="valid"):
    """`keras.ops.max_pool` of channels-last clips, with 2D pools only.

    A max over a `(kT, kH, kW)` window is the max over `kT` frames of the
    maxima over `(kH, kW)` of each frame, and with per-axis strides and
    per-axis padding (`valid` floors, `same` pads each axis on its own) the
    pooled positions of each axis do not depend on the others. So the 3D
    pool is two 2D ones, each skipped where it is the identity:

    - temporal `(kT, 1)` / `(sT, 1)` over `(B, T, H * W, C)`;
    - spatial `(kH, kW)` / `(sH, sW)` over the frames `(B * T', H, W, C)`.

    The outputs equal `keras.ops.max_pool`'s 3D pool exactly. Gradients
    equal those of 2D max pools, i.e. of PyTorch's `max_pool3d`: each
    output's gradient goes to one maximum of its window. (TensorFlow's CPU
    `MaxPool3DGrad` gives it to every element within 1e-5 of the maximum,
    so the two differ only where a window holds such ties: harmless for the
    zeros after a ReLU, whose own gradient is 0; for tied positive values
    the 3D kernel counts the output's gradient once per tied element.)

    Args:
        inputs: `(B, T, H, W, C)`; any entry but C may be unknown.
        pool_size: `(kT, kH, kW)` or an int.
        strides: `(sT, sH, sW)`, an int, or None for `pool_size`.
        padding: "valid" or "same", as `keras.ops.max_pool`.

    Returns:
        `(B, T', H', W', C)`, the 3D pool's output.

    Example:
        >>> x = keras.ops.ones((2, 8, 56, 56, 64))
        >>> frame_max_pool(x, (2, 1, 1)).shape
        (2, 4, 56, 56, 64)
    """
    kt, kh, kw = _triple(pool_size)
    st, sh, sw = _triple(pool_size if strides is None else strides)
    padding = padding.lower()
    x = inputs
    if (kt, st) != (1, 1):
        if (
            kt == st
            and padding == "valid"
            and keras.backend.backend() in SELECT_MAX_BACKENDS
        ):
            x = _window_select_max(x, kt)
        else:
            x = _temporal_pool(x, kt, st, padding, "max")
    if (kh, kw, sh, sw) != (1, 1, 1, 1):
        x = _spatial_pool(x, (kh, kw), (sh, sw), padding, "max")
    return x


def _triple(value):
    if isinstance(value, int):
        return (value,) * 3
    value = tuple(int(v) for v in value)
    if len(value) != 3:
        raise ValueError(f"Expected 3 sizes (T, H, W); received {value!r}")
    return value


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class FrameMaxPooling3D(keras.layers.MaxPooling3D):
    """`keras.layers.MaxPooling3D` computed with 2D max pools.

    Same arguments, config (no weights) and outputs as `MaxPooling3D`; a
    channels-last input is pooled by `frame_max_pool`: a `(1, kH, kW)` pool
    as a 2D pool of every frame, a `(kT, 1, 1)` pool as a 2D pool over
    `(T, H * W)`, any other window as the two in turn. So a model built
    from it converts to LiteRT with builtin ops only (no 3D pooling there),
    and its gradients are those of 2D pools (one maximum per window).
    `channels_first` inputs use `MaxPooling3D`'s own op.

    Example:
        >>> pool = FrameMaxPooling3D((1, 3, 3), (1, 2, 2))
        >>> pool(keras.ops.zeros((2, 8, 114, 114, 64))).shape
        (2, 8, 56, 56, 64)
    """

    def call(self, inputs):
        if self.data_format != "channels_last":
            return super().call(inputs)
        return frame_max_pool(
            inputs, self.pool_size, self.strides, self.padding
        )


def _average_axis(x, axis, window):
    """Stride-1 average over `window` steps of `axis`, or the whole axis."""

    def whole():
        return ops.mean(x, axis=axis, keepdims=True)

    def sliding():
        # 2D pools (no 3D pooling in LiteRT's builtin ops).
        if axis == 1:
            return _temporal_pool(x, window, 1, "valid", "average")
        size = (window, 1) if axis == 2 else (1, window)
        return _spatial_pool(x, size, (1, 1), "valid", "average")

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
    The sliding averages are 2D average pools (over `(T, H * W)` or the
    frames), so a model converts to LiteRT with builtin ops only.

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
