"""`WindowAveragePooling3D`: the fully convolutional test head's pooling."""

import keras
from keras import ops


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
