"""Spatial transforms of clips for `tf.data`: decoding, training, test views.

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
- Test (`test_views`): the clip spec's test transform, whose one
  implementation is `nonlocal_tf.models.preprocessing` (`keras.ops`, also
  the `VideoClassifier`'s video converter and the serving signatures'):
  scale to short side `crop_size`, round to uint8, then 1 crop (centre) or
  3 crops along the long side. Normalisation (`(pixel - mean) / std` per
  RGB channel) is `preprocessing.normalize` too.
- JPEG frames are decoded with the clip spec's IDCT (`jpeg_dct_method`).

Inside `tf.data` the shared functions run TensorFlow's ops whatever the
Keras backend.
"""

import tensorflow as tf

from nonlocal_tf.clip_spec import INTEGER_ACCURATE
from nonlocal_tf.clip_spec import PIXEL_MEAN
from nonlocal_tf.clip_spec import PIXEL_STD
from nonlocal_tf.models import preprocessing


def denormalize(clip, mean=PIXEL_MEAN, std=PIXEL_STD):
    """The inverse of `preprocessing.normalize`: RGB in [0, 255], float32.

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


# Frames scaled to a short side S become S x (S * long / short) pixels, so
# a frame's aspect ratio, not its bytes, sets the memory a test view takes: a
# 15 KB JPEG of 1 x 60000 pixels scales to 256 x 15 million. Real video is at
# most about 4:1; frames beyond 16:1 are refused before they are decoded.
MAX_ASPECT_RATIO = 16


def check_frame_size(shape, where, max_pixels=None):
    """An assertion that a frame's `(height, width)` may be decoded and
    scaled: an aspect ratio within `MAX_ASPECT_RATIO`, and at most
    `max_pixels` pixels when given.

    Args:
        shape: int tensor `[height, width, ...]` (`tf.io.extract_jpeg_shape`).
        where: string tensor naming the frame in the error.
        max_pixels: optional bound on height x width.

    Returns:
        The assertion op (for `tf.control_dependencies`); it fails with
        `tf.errors.InvalidArgumentError`.

    Example:
        >>> shape = tf.io.extract_jpeg_shape(jpeg)  # doctest: +SKIP
        >>> with tf.control_dependencies(
        ...         [check_frame_size(shape, "frame 0")]):  # doctest: +SKIP
        ...     frame = decode_jpeg(jpeg)
    """
    height = tf.cast(shape[0], tf.int64)
    width = tf.cast(shape[1], tf.int64)
    short = tf.maximum(tf.minimum(height, width), 1)
    ok = tf.maximum(height, width) <= MAX_ASPECT_RATIO * short
    limit = f"an aspect ratio within {MAX_ASPECT_RATIO}:1"
    if max_pixels is not None:
        ok = tf.logical_and(ok, height * width <= max_pixels)
        limit += f" and at most {max_pixels} pixels"
    return tf.debugging.Assert(
        ok, [where, "-", height, "x", width, "pixels: frames need", limit]
    )


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


def test_views(
    frames, frame_positions, *, num_clips, num_frames, crop_size, num_crops
):
    """All test views of one video, uint8 (normalise them for a model).

    Each distinct frame is scaled once (`preprocessing.resize_short_side`,
    `preprocessing.to_uint8`), the clips are gathered from them, and each
    clip is cut into its crops (`preprocessing.test_crops`).

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
    resized = preprocessing.to_uint8(
        preprocessing.resize_short_side(frames, crop_size)
    )
    shape = tf.shape(resized)
    clips = tf.reshape(
        tf.gather(resized, frame_positions),
        [num_clips, num_frames, shape[1], shape[2], 3],
    )
    return preprocessing.test_crops(clips, crop_size, num_crops)
