"""The clip spec's test views in NumPy: the tests' independent reference.

Written from the formulas (Caffe2 `ClipTransformFlex`, TensorFlow's
bilinear CPU kernel), never from `nonlocal_tf.models.preprocessing`, and
free of TensorFlow and Keras, so it is the reference on every backend:

- short side scaled to S, the long side `floor(long * S / short)`;
- bilinear, half-pixel centres, no antialiasing, in float32 with the
  kernel's arithmetic (source position `(i + 0.5) * (size / new) - 0.5`,
  taps floor and ceiling clamped to the frame, `a + (b - a) * fraction`
  along W, then H), so it gives `tf.image.resize`'s values bit for bit;
- rounded half to even and clipped to uint8;
- 1 centre crop or 3 crops along the long side at `p * ((long - S) // 2)`.
"""

import numpy as np


def scaled_size(height, width, short_side):
    """(height, width) with the short side `short_side`, long side floored."""
    if height > width:
        return height * short_side // width, short_side
    return short_side, width * short_side // height


def crop_offsets(height, width, crop_size, num_crops):
    """[(y, x)] of the 1 (centre) or 3 crops of a scaled frame."""
    positions = [1] if num_crops == 1 else [0, 1, 2]
    y_mid = (height - crop_size) // 2
    x_mid = (width - crop_size) // 2
    if y_mid > 0:
        return [(p * y_mid, x_mid) for p in positions]
    return [(y_mid, p * x_mid) for p in positions]


def _lerp(frames, new_size, axis):
    size = frames.shape[axis]
    scale = np.float32(size) / np.float32(new_size)
    half = np.float32(0.5)
    source = (np.arange(new_size, dtype=np.float32) + half) * scale - half
    floor = np.floor(source)
    low = np.maximum(floor, 0).astype(int)
    high = np.minimum(np.ceil(source), size - 1).astype(int)
    shape = [1] * frames.ndim
    shape[axis] = new_size
    fraction = (source - floor).reshape(shape)
    a = np.take(frames, low, axis=axis)
    b = np.take(frames, high, axis=axis)
    return a + (b - a) * fraction


def resize_bilinear(frames, height, width):
    """(..., H, W, C) -> float32 (..., height, width, C), as TF's kernel."""
    frames = np.asarray(frames, np.float32)
    return _lerp(_lerp(frames, width, axis=-2), height, axis=-3)


def uint8_views(frames, crop_size, num_crops):
    """The uint8 views (num_crops, T, S, S, 3) of one clip (T, H, W, 3)."""
    height, width = scaled_size(*frames.shape[1:3], crop_size)
    scaled = resize_bilinear(frames, height, width)
    scaled = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
    return np.stack(
        [
            scaled[:, y : y + crop_size, x : x + crop_size]
            for y, x in crop_offsets(height, width, crop_size, num_crops)
        ]
    )


def normalize(pixels, mean, std):
    """`(pixel - mean) / std` per channel, float32."""
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    return (np.asarray(pixels, np.float32) - mean) / std
