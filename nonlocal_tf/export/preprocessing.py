"""In-graph preprocessing of the serving signatures: the test pipeline's own.

Both signatures hand the model a float32 clip normalised with the model's
`ClipSpec` (`mean`, `std`). `classify_frames` also turns each JPEG frame
into the single test view the evaluation pipeline makes of it. Apart from
the JPEG decoding, every step is the clip spec's test transform of
`nonlocal_tf.models.preprocessing` (the `VideoClassifier`'s video converter,
and the test pipeline's `nonlocal_tf.data.transforms.test_views`):
1. decode with the spec's IDCT (`jpeg_dct_method`, INTEGER_ACCURATE by
   default: the pixels libjpeg, PIL and FFmpeg give);
2. resize bilinearly (half-pixel centres, no anti-aliasing) so that the short
   side is `test_crop_size`, the long side `floor(long * S / short)`
   (`resize_short_side`);
3. round to uint8, as the test pipeline does before cropping (`to_uint8`);
4. crop the centre `test_crop_size` square (offset `(long - S) // 2`,
   `test_crops`).
So `classify_frames` on the JPEG frames of a record gives the probabilities
`evaluate.py` gives for that record's centre view (1 clip x 1 crop).
"""

import tensorflow as tf

from nonlocal_tf.data import transforms
from nonlocal_tf.models import preprocessing as test_transform


def normalize_clip(video, clip_spec):
    """RGB values in [0, 255] -> the model's input, with the spec's mean/std.

    Example:

    >>> float(normalize_clip(tf.constant([[172.125] * 3]), ClipSpec())[0, 0])
    1.0
    """
    return test_transform.normalize(video, clip_spec.mean, clip_spec.std)


def decode_frame(jpeg_bytes, clip_spec):
    """One JPEG frame -> its centre test view, uint8 (S, S, 3).

    Args:
        jpeg_bytes: scalar string tensor holding a JPEG (PNG and non-animated
            GIF are accepted too, as `tf.io.decode_jpeg` does).
        clip_spec: the model's `ClipSpec`; S is its `test_crop_size`.

    Example:

    >>> jpeg = tf.io.encode_jpeg(tf.zeros([48, 64, 3], tf.uint8))
    >>> decode_frame(jpeg, ClipSpec(test_crop_size=32)).shape
    TensorShape([32, 32, 3])
    """
    size = clip_spec.test_crop_size
    frame = transforms.decode_jpeg(jpeg_bytes, clip_spec.jpeg_dct_method)
    scaled = test_transform.to_uint8(
        test_transform.resize_short_side(frame, size)
    )
    return test_transform.test_crops(scaled[None], size, num_crops=1)[0]


def decode_frames(frames, clip_spec):
    """A batch of JPEG frame sequences -> uint8 clips (B, T, S, S, 3).

    Args:
        frames: string tensor (B, T) of encoded frames (each frame may have
            its own size).
        clip_spec: the model's `ClipSpec`; S is its `test_crop_size`.

    Example:

    >>> jpeg = tf.io.encode_jpeg(tf.zeros([48, 64, 3], tf.uint8))
    >>> spec = ClipSpec(crop_size=32, jitter_scales=(32, 32),
    ...                 test_crop_size=32)
    >>> decode_frames(tf.fill([2, 4], jpeg), spec).shape
    TensorShape([2, 4, 32, 32, 3])
    """
    size = clip_spec.test_crop_size
    frames = tf.convert_to_tensor(frames, tf.string)
    flat = tf.reshape(frames, [-1])
    images = tf.map_fn(
        lambda jpeg_bytes: decode_frame(jpeg_bytes, clip_spec),
        flat,
        fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8),
        parallel_iterations=16,
    )
    output_shape = tf.concat([tf.shape(frames), [size, size, 3]], 0)
    images = tf.reshape(images, output_shape)
    return tf.ensure_shape(images, frames.shape.as_list() + [size, size, 3])
