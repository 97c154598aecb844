"""Spatial transforms of clips, in-graph TensorFlow.

Conventions (video-nonlocal-net / PySlowFast):

- Scaling keeps the aspect ratio: the short side becomes `s` and the long
  side `floor(long * s / short)`; resampling is bilinear with half-pixel
  centres and no antialiasing (what OpenCV's `INTER_LINEAR` does).
- Training: `s ~ U{jitter_scales[0], ..., jitter_scales[1]}`, a random
  `crop_size` square of the scaled frame, a horizontal flip with
  probability 1/2. The crop is taken from the JPEG directly: the source
  window that maps onto the crop, `round(crop_size * short / s)` pixels
  square, is decoded alone (`tf.io.decode_and_crop_jpeg`) and resized to
  `crop_size`. This equals scaling the whole frame and cropping, up to the
  window's rounding to whole source pixels (less than one source pixel).
- Test: scale to short side `crop_size`, then 1 crop (centre) or 3 crops
  along the long side: offsets `p * ((long - crop_size) // 2)` for
  `p = 0, 1, 2` (left/centre/right, or top/centre/bottom for portrait
  frames), as Caffe2's `ClipTransformFlex`.
- Normalisation: `(pixel - mean) / std` per RGB channel, the clip spec's
  (default 114.75 and 57.375, i.e. mean 0.45 and std 0.225 on [0, 1]).
- JPEG frames are decoded with the clip spec's IDCT (`jpeg_dct_method`).

The serving signatures (`nonlocal_tf.export`) call these same functions, so
a served model sees the pixels the test pipeline gives it.
"""

import tensorflow as tf

from nonlocal_tf.clip_spec import INTEGER_ACCURATE
from nonlocal_tf.clip_spec import PIXEL_MEAN
from nonlocal_tf.clip_spec import PIXEL_STD


def normalize(frames, mean=PIXEL_MEAN, std=PIXEL_STD):
    """`(pixel - mean) / std` per channel (last axis), float32.

    Example:
        >>> float(normalize(tf.constant([[114.75] * 3]))[0, 0])
        0.0
    """
    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)
    return (tf.cast(frames, tf.float32) - mean) / std


def denormalize(clip, mean=PIXEL_MEAN, std=PIXEL_STD):
    """The inverse of `normalize`: RGB values in [0, 255], float32.

    Example:
        >>> float(denormalize(tf.zeros([1, 3]))[0, 0])
        114.75
    """
    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)
    return tf.cast(clip, tf.float32) * std + mean


def decode_jpeg(jpeg, dct_method=INTEGER_ACCURATE):
    """One RGB frame from JPEG bytes, uint8 (H, W, 3).

    Example:
        >>> decode_jpeg(tf.io.encode_jpeg(tf.zeros([4, 6, 3], tf.uint8))).shape
        TensorShape([4, 6, 3])
    """
    return tf.io.decode_jpeg(jpeg, channels=3, dct_method=dct_method)


def decode_jpegs(jpegs, dct_method=INTEGER_ACCURATE):
    """Frames of one video from a vector of JPEGs of one size, uint8.

    Example:
        >>> decode_jpegs(tf.fill([2], jpeg)).shape  # doctest: +SKIP
        TensorShape([2, 4, 6, 3])
    """
    return tf.map_fn(
        lambda jpeg: decode_jpeg(jpeg, dct_method),
        jpegs,
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    )


def to_uint8(frames):
    """Rounds float pixels in [0, 255] to uint8 (as OpenCV's resize output).

    The pipeline keeps clips in uint8 until they are batched: a quarter of
    the memory in its buffers, and one normalisation per batch.

    Example:
        >>> to_uint8(tf.constant([0.4, 127.5, 254.6])).numpy().tolist()
        [0, 128, 255]
    """
    return tf.cast(tf.round(tf.clip_by_value(frames, 0.0, 255.0)), tf.uint8)


def scaled_size(height, width, short_side):
    """(height, width) with the short side set to `short_side` (int32).

    The long side is `floor(long * short_side / short)`.

    Example:
        >>> [int(x) for x in scaled_size(320, 752, 256)]
        [256, 601]
    """
    height = tf.cast(height, tf.int64)
    width = tf.cast(width, tf.int64)
    short_side = tf.cast(short_side, tf.int64)
    portrait = height > width
    new_height = tf.where(portrait, height * short_side // width, short_side)
    new_width = tf.where(portrait, short_side, width * short_side // height)
    return tf.cast(new_height, tf.int32), tf.cast(new_width, tf.int32)


def resize_short_side(frames, short_side):
    """Bilinear resize of (..., H, W, C) frames to short side `short_side`.

    Returns:
        float32 frames (values in the input's range, not normalised).

    Example:
        >>> resize_short_side(tf.zeros([2, 320, 480, 3]), 256).shape
        TensorShape([2, 256, 384, 3])
    """
    shape = tf.shape(frames)
    height, width = scaled_size(shape[-3], shape[-2], short_side)
    return tf.image.resize(frames, tf.stack([height, width]), method="bilinear")


def train_crop_window(height, width, *, crop_size, jitter_scales, seed):
    """The source window of a random scale-jittered training crop.

    Args:
        height: frame height (scalar int tensor).
        width: frame width (scalar int tensor).
        crop_size: output crop side.
        jitter_scales: (min, max) short side after scaling, inclusive.
        seed: shape (2,) stateless seed.

    Returns:
        int32 tensor `[y, x, size, size]`: the crop, in source pixels.

    Example:
        >>> train_crop_window(320, 480, crop_size=224,
        ...                   jitter_scales=(320, 320), seed=[0, 0])[2:]
        <tf.Tensor: shape=(2,), dtype=int32, numpy=array([224, 224], ...)>
    """
    height = tf.cast(height, tf.int32)
    width = tf.cast(width, tf.int32)
    scale_seed, y_seed, x_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3)
    )
    low, high = int(jitter_scales[0]), int(jitter_scales[1])
    scale = tf.random.stateless_uniform(
        [], scale_seed, minval=low, maxval=high + 1, dtype=tf.int32
    )
    short = tf.minimum(height, width)
    size = tf.cast(
        tf.round(
            crop_size * tf.cast(short, tf.float32) / tf.cast(scale, tf.float32)
        ),
        tf.int32,
    )
    size = tf.clip_by_value(size, 1, short)
    y = tf.random.stateless_uniform(
        [], y_seed, minval=0, maxval=height - size + 1, dtype=tf.int32
    )
    x = tf.random.stateless_uniform(
        [], x_seed, minval=0, maxval=width - size + 1, dtype=tf.int32
    )
    return tf.stack([y, x, size, size])


def _flip(frames, flip):
    return tf.cond(flip, lambda: tf.reverse(frames, axis=[-2]), lambda: frames)


def decode_crop_resize(
    jpegs, window, crop_size, flip=False, dct_method=INTEGER_ACCURATE
):
    """Decodes a window of each JPEG, flips, resizes to `crop_size` square.

    Args:
        jpegs: string tensor (T,) of JPEG frames, T static.
        window: int32 `[y, x, h, w]` in source pixels.
        crop_size: output side.
        flip: bool scalar (tensor or Python): mirror left-right.
        dct_method: the IDCT (`ClipSpec.jpeg_dct_method`).

    Returns:
        float32 (T, crop_size, crop_size, 3), pixel range [0, 255].

    Example:
        >>> clip = decode_crop_resize(
        ...     jpegs, [0, 40, 280, 280], 224)  # doctest: +SKIP
    """

    def decode(jpeg):
        return tf.io.decode_and_crop_jpeg(
            jpeg, window, channels=3, dct_method=dct_method
        )

    count = jpegs.shape[0]
    if count is None:
        frames = tf.map_fn(
            decode,
            jpegs,
            fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
        )
    else:
        # Unrolled: the decodes are independent ops that may run in parallel.
        frames = tf.stack([decode(jpegs[i]) for i in range(count)])
    frames = _flip(frames, tf.convert_to_tensor(flip))
    return tf.image.resize(frames, [crop_size, crop_size], method="bilinear")


def crop_resize(frames, window, crop_size, flip=False):
    """`decode_crop_resize` for already-decoded uint8 frames (T, H, W, 3).

    Example:
        >>> crop_resize(tf.zeros([8, 320, 480, 3], tf.uint8),
        ...             [0, 0, 280, 280], 224).shape
        TensorShape([8, 224, 224, 3])
    """
    y, x, h, w = tf.unstack(tf.cast(window, tf.int32))
    frames = frames[:, y : y + h, x : x + w]
    frames = _flip(frames, tf.convert_to_tensor(flip))
    return tf.image.resize(frames, [crop_size, crop_size], method="bilinear")


def spatial_crop_offsets(height, width, crop_size, num_crops):
    """Offsets (y, x) of the 1 or 3 test crops, Caffe2 `ClipTransformFlex`.

    Returns:
        int32 tensor (num_crops, 2).

    Example:
        >>> spatial_crop_offsets(256, 455, 256, 3).numpy().tolist()
        [[0, 0], [0, 99], [0, 198]]
    """
    if num_crops not in (1, 3):
        raise ValueError(f"num_test_crops must be 1 or 3, got {num_crops}")
    height = tf.cast(height, tf.int32)
    width = tf.cast(width, tf.int32)
    y_mid = (height - crop_size) // 2
    x_mid = (width - crop_size) // 2
    positions = tf.constant([1] if num_crops == 1 else [0, 1, 2], tf.int32)
    along_height = y_mid > 0
    ys = tf.where(along_height, y_mid * positions, y_mid + 0 * positions)
    xs = tf.where(along_height, x_mid + 0 * positions, x_mid * positions)
    return tf.stack([ys, xs], axis=1)


def test_views(
    frames, frame_positions, *, num_clips, num_frames, crop_size, num_crops
):
    """All test views of one video, uint8 (`normalize` them for a model).

    Args:
        frames: uint8 (U, H, W, 3), the distinct decoded frames the clips use.
        frame_positions: int (K * T,): for clip k, frame i, the row of
            `frames` to use (clip-major).
        num_clips: K.
        num_frames: T.
        crop_size: S; frames are scaled to short side S first.
        num_crops: 1 (centre) or 3.

    Returns:
        uint8 (K * num_crops, T, S, S, 3); view `k * num_crops + c` is clip
        k, crop c.

    Example:
        >>> views = test_views(frames, positions, num_clips=10, num_frames=8,
        ...                    crop_size=256, num_crops=3)  # doctest: +SKIP
        >>> views.shape  # doctest: +SKIP
        TensorShape([30, 8, 256, 256, 3])
    """
    resized = to_uint8(resize_short_side(frames, crop_size))
    shape = tf.shape(resized)
    clips = tf.reshape(
        tf.gather(resized, frame_positions),
        [num_clips, num_frames, shape[1], shape[2], 3],
    )
    offsets = spatial_crop_offsets(shape[1], shape[2], crop_size, num_crops)
    views = []
    for c in range(num_crops):
        y, x = offsets[c, 0], offsets[c, 1]
        views.append(clips[:, :, y : y + crop_size, x : x + crop_size])
    views = tf.stack(views, axis=1)
    return tf.reshape(
        views, [num_clips * num_crops, num_frames, crop_size, crop_size, 3]
    )


def center_view(frame, crop_size):
    """The single-view test crop of one frame: short side, uint8, centre.

    What `test_views(..., num_crops=1)` gives for each frame of the centre
    view, for one decoded frame of any size (the serving signatures).

    Args:
        frame: uint8 (H, W, 3).
        crop_size: S.

    Returns:
        uint8 (S, S, 3).

    Example:
        >>> center_view(tf.zeros([240, 320, 3], tf.uint8), 224).shape
        TensorShape([224, 224, 3])
    """
    resized = to_uint8(resize_short_side(frame, crop_size))
    shape = tf.shape(resized)
    offsets = spatial_crop_offsets(shape[0], shape[1], crop_size, 1)
    y, x = offsets[0, 0], offsets[0, 1]
    view = resized[y : y + crop_size, x : x + crop_size]
    return tf.ensure_shape(view, [crop_size, crop_size, 3])
