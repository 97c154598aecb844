"""In-graph preprocessing for the serving signatures.

Both signatures hand the model a float32 clip normalised as in design.md's
input contract: RGB, `(pixel - 114.75) / 57.375`, channels last.

`classify_frames` also decodes each JPEG frame and brings it to a square
`crop_size` x `crop_size` image:
1. decode with `tf.io.decode_jpeg(channels=3, dct_method="INTEGER_ACCURATE")`
   (the accurate IDCT gives the same pixels as libjpeg's default used by
   PIL and FFmpeg; TensorFlow's default fast IDCT differs by a few levels);
2. resize bilinearly (`tf.image.resize`, half-pixel centres, no
   anti-aliasing) so that the short side equals `crop_size`, the long side
   keeping the aspect ratio (rounded to the nearest pixel);
3. crop the centre `crop_size` x `crop_size` window (offset
   `(long - crop_size) // 2`).
A frame whose short side already equals `crop_size` is not resampled.
"""

import tensorflow as tf

PIXEL_MEAN = 114.75
PIXEL_STD = 57.375


def normalize_clip(video, pixel_mean=PIXEL_MEAN, pixel_std=PIXEL_STD):
    """Maps RGB values in [0, 255] to the model's input range.

    Args:
        video: float tensor of RGB values in [0, 255], any shape.
        pixel_mean: value subtracted from every channel.
        pixel_std: divisor applied after subtracting the mean.

    Returns:
        A float32 tensor `(video - pixel_mean) / pixel_std`.

    Example:

    >>> float(normalize_clip(tf.constant(172.125)))
    1.0
    """
    video = tf.cast(video, tf.float32)
    return (video - pixel_mean) / pixel_std


def resize_and_center_crop(image, crop_size):
    """Resizes the short side to `crop_size`, then crops the centre square.

    Args:
        image: float32 tensor (H, W, 3).
        crop_size: side of the square output, a Python int.

    Returns:
        A float32 tensor (crop_size, crop_size, 3).

    Example:

    >>> image = tf.zeros([64, 96, 3])
    >>> resize_and_center_crop(image, 32).shape
    TensorShape([32, 32, 3])
    """
    shape = tf.shape(image)
    height = tf.cast(shape[0], tf.float64)
    width = tf.cast(shape[1], tf.float64)
    scale = tf.cast(crop_size, tf.float64) / tf.minimum(height, width)
    new_height = tf.maximum(
        tf.cast(tf.math.round(height * scale), tf.int32), crop_size
    )
    new_width = tf.maximum(
        tf.cast(tf.math.round(width * scale), tf.int32), crop_size
    )
    resized = tf.image.resize(
        image, tf.stack([new_height, new_width]), method="bilinear"
    )
    top = (new_height - crop_size) // 2
    left = (new_width - crop_size) // 2
    cropped = resized[top : top + crop_size, left : left + crop_size, :]
    return tf.ensure_shape(cropped, [crop_size, crop_size, 3])


def decode_frame(jpeg_bytes, crop_size):
    """Decodes one JPEG frame and resizes/crops it to `crop_size`.

    Args:
        jpeg_bytes: scalar string tensor holding a JPEG (PNG and non-animated
            GIF are accepted too, as `tf.io.decode_jpeg` does).
        crop_size: side of the square output, a Python int.

    Returns:
        A float32 tensor (crop_size, crop_size, 3) of RGB values in [0, 255].
    """
    image = tf.io.decode_jpeg(
        jpeg_bytes, channels=3, dct_method="INTEGER_ACCURATE"
    )
    image = tf.cast(image, tf.float32)
    return resize_and_center_crop(image, crop_size)


def decode_frames(frames, crop_size):
    """Decodes a batch of JPEG frame sequences into a float clip batch.

    Args:
        frames: string tensor (B, T) of encoded frames.
        crop_size: side of the square frames of the output, a Python int.

    Returns:
        A float32 tensor (B, T, crop_size, crop_size, 3) of RGB values in
        [0, 255] (not normalised).

    Example:

    >>> jpeg = tf.io.encode_jpeg(tf.zeros([48, 64, 3], tf.uint8))
    >>> decode_frames(tf.fill([2, 4], jpeg), 32).shape
    TensorShape([2, 4, 32, 32, 3])
    """
    frames = tf.convert_to_tensor(frames, tf.string)
    flat = tf.reshape(frames, [-1])
    images = tf.map_fn(
        lambda jpeg_bytes: decode_frame(jpeg_bytes, crop_size),
        flat,
        fn_output_signature=tf.TensorSpec(
            [crop_size, crop_size, 3], tf.float32
        ),
        parallel_iterations=16,
    )
    batch_and_time = tf.shape(frames)
    output_shape = tf.concat([batch_and_time, [crop_size, crop_size, 3]], 0)
    images = tf.reshape(images, output_shape)
    static = frames.shape.as_list()
    return tf.ensure_shape(images, static + [crop_size, crop_size, 3])
