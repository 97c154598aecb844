"""What the SavedModel holds: the two serving signatures, their in-graph
preprocessing, the `ExportArchive`, and TF Serving's warm-up requests.

`serving_default` takes float32 `video` (B, T, H, W, 3), RGB in [0, 255];
`classify_frames` takes JPEG `frames` (B, T). Both normalise with the
model's clip spec and return `probabilities`, `top_k_scores`,
`top_k_indices` and `top_k_labels`.

The preprocessing is the test pipeline's own. Both signatures hand the model
a float32 clip normalised with the model's `ClipSpec` (`mean`, `std`).
`classify_frames` also turns each JPEG frame into the single test view the
evaluation pipeline makes of it. Apart from the JPEG decoding, every step is
the clip spec's test transform of `nonlocal_tf.models.preprocessing` (the
`VideoClassifier`'s video converter, and the test pipeline's
`nonlocal_tf.data.transforms.test_views`):
1. decode with the spec's IDCT (`jpeg_dct_method`, INTEGER_ACCURATE by
   default: the pixels libjpeg, PIL and FFmpeg give), once the frame is
   known to be a JPEG of at most `MAX_FRAME_PIXELS` pixels and an aspect
   ratio within `transforms.MAX_ASPECT_RATIO` (an error names the frame);
2. resize bilinearly (half-pixel centres, no anti-aliasing) so that the short
   side is `test_crop_size`, the long side `floor(long * S / short)`
   (`resize_short_side`);
3. round to uint8, as the test pipeline does before cropping (`to_uint8`);
4. crop the centre `test_crop_size` square (offset `(long - S) // 2`,
   `test_crops`).
So `classify_frames` on the JPEG frames of a record gives the probabilities
`evaluate.py` gives for that record's centre view (1 clip x 1 crop).

Warm-up (`assets.extra/tf_serving_warmup_requests`): TF Serving replays
these `PredictionLog` records when it loads a version, before marking it
available, so the first real request does not pay for graph optimisation
and kernel set-up.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from nonlocal_tf.data import transforms
from nonlocal_tf.export import client
from nonlocal_tf.export.client import FRAMES_SIGNATURE
from nonlocal_tf.export.client import VIDEO_SIGNATURE
from nonlocal_tf.models import preprocessing as test_transform

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"

# ---------------------------------------------------------------- preprocessing


def normalize_clip(video, clip_spec):
    """RGB values in [0, 255] -> the model's input, with the spec's mean/std.

    Example:

    >>> float(normalize_clip(tf.constant([[172.125] * 3]), ClipSpec())[0, 0])
    1.0
    """
    return test_transform.normalize(video, clip_spec.mean, clip_spec.std)


# A request's frames come from the network. Only JPEGs are decoded (the
# signature's contract; `tf.io.decode_jpeg` alone would also take PNG and
# GIF, whose decoded size TensorFlow does not bound), and each frame's size is
# read from its header and checked before it is decoded.
MAX_FRAME_PIXELS = 1 << 25  # 33.5 megapixels: an 8K UHD frame fits


def decode_frame(jpeg_bytes, clip_spec, where="frame"):
    """One JPEG frame -> its centre test view, uint8 (S, S, 3).

    Args:
        jpeg_bytes: scalar string tensor holding a JPEG.
        clip_spec: the model's `ClipSpec`; S is its `test_crop_size`.
        where: names the frame in errors (a string or string tensor).

    Raises:
        tf.errors.InvalidArgumentError: (when run) the bytes are not a JPEG,
            the frame has more than `MAX_FRAME_PIXELS` pixels or an aspect
            ratio beyond `transforms.MAX_ASPECT_RATIO` (each naming
            `where`), or its JPEG data is damaged.

    Example:

    >>> jpeg = tf.io.encode_jpeg(tf.zeros([48, 64, 3], tf.uint8))
    >>> decode_frame(jpeg, ClipSpec(test_crop_size=32)).shape
    TensorShape([32, 32, 3])
    """
    size = clip_spec.test_crop_size
    is_jpeg = tf.debugging.Assert(
        tf.io.is_jpeg(jpeg_bytes),
        [
            where,
            "is not a JPEG image (",
            tf.strings.length(jpeg_bytes),
            "bytes)",
        ],
    )
    with tf.control_dependencies([is_jpeg]):
        shape = tf.io.extract_jpeg_shape(jpeg_bytes)
    checked = transforms.check_frame_size(shape, where, MAX_FRAME_PIXELS)
    with tf.control_dependencies([checked]):
        frame = transforms.decode_jpeg(jpeg_bytes, clip_spec.jpeg_dct_method)
    scaled = test_transform.to_uint8(
        test_transform.resize_short_side(frame, size)
    )
    return test_transform.test_crops(scaled[None], size, num_crops=1)[0]


def decode_frames(frames, clip_spec):
    """A batch of JPEG frame sequences -> uint8 clips (B, T, S, S, 3).

    Args:
        frames: string tensor (B, T) of JPEG frames (each frame may have its
            own size).
        clip_spec: the model's `ClipSpec`; S is its `test_crop_size`.

    Raises:
        tf.errors.InvalidArgumentError: (when run) a frame is refused by
            `decode_frame`; a refusal names it as `frame [b, t]`.

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
    per_clip = tf.cast(tf.shape(frames)[-1], tf.int64)

    def decode(args):
        jpeg_bytes, index = args
        where = tf.strings.format(
            "frame [{}, {}]", (index // per_clip, index % per_clip)
        )
        return decode_frame(jpeg_bytes, clip_spec, where)

    images = tf.map_fn(
        decode,
        (flat, tf.range(tf.size(flat, out_type=tf.int64))),
        fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8),
        parallel_iterations=16,
    )
    output_shape = tf.concat([tf.shape(frames), [size, size, 3]], 0)
    images = tf.reshape(images, output_shape)
    return tf.ensure_shape(images, frames.shape.as_list() + [size, size, 3])


# ---------------------------------------------------------------- signatures


def signature_specs(num_frames, height, width):
    """TensorSpecs of `video` (B, T, H, W, 3) and `frames` (B, T)."""
    video_spec = tf.TensorSpec(
        [None, num_frames, height, width, 3], tf.float32, name="video"
    )
    frames_spec = tf.TensorSpec([None, num_frames], tf.string, name="frames")
    return video_spec, frames_spec


def _checked_video(video, min_side):
    """`video` once its frames are large enough and its pixels finite.

    TF Serving feeds what a client sends; these checks give a request an
    error that names the input instead of one from deep inside the model.
    NaN or infinite pixels are refused: a model would turn them into NaN
    probabilities, which serve no one.
    """
    shape = tf.shape(video)
    large_enough = tf.debugging.Assert(
        tf.logical_and(shape[2] >= min_side, shape[3] >= min_side),
        [
            "video frames are",
            shape[2],
            "x",
            shape[3],
            "pixels; this model needs at least",
            min_side,
            "x",
            min_side,
        ],
        name="check_video_size",
    )
    finite = tf.debugging.Assert(
        tf.reduce_all(tf.math.is_finite(video)),
        ["video holds NaN or infinite pixel values (RGB in [0, 255] expected)"],
        name="check_video_values",
    )
    with tf.control_dependencies([large_enough, finite]):
        return tf.identity(video)


def serving_functions(
    model,
    video_spec,
    frames_spec,
    label_names,
    clip_spec,
    top_k,
    from_logits,
    min_side=1,
    jit_compile=False,
):
    """The Python functions behind the two signatures.

    Args:
        min_side: the smallest frame side the model computes on; smaller
            `video` frames are refused by name. A batch of 0 clips gives 0
            rows of every output.
        jit_compile: compile the model's part of both signatures with XLA
            (decoding, normalisation and top-k stay outside: JPEG decoding
            has no XLA kernel).
    """
    label_table = tf.constant(label_names, dtype=tf.string)
    num_classes = len(label_names)

    def scores_of(clip):
        return tf.cast(model(clip, training=False), tf.float32)

    if jit_compile:
        scores_of = tf.function(scores_of, jit_compile=True)

    def classify(video):
        clip = normalize_clip(video, clip_spec)
        # A model cannot run on 0 clips (batch norm refuses the shapes).
        scores = tf.cond(
            tf.shape(clip)[0] > 0,
            lambda: scores_of(clip),
            lambda: tf.zeros([0, num_classes], tf.float32),
        )
        if from_logits:
            probabilities = tf.nn.softmax(scores, axis=-1)
        else:
            probabilities = scores
        top_k_scores, top_k_indices = tf.math.top_k(probabilities, k=top_k)
        return {
            "probabilities": probabilities,
            "top_k_scores": top_k_scores,
            "top_k_indices": top_k_indices,
            "top_k_labels": tf.gather(label_table, top_k_indices),
        }

    def serve_video(video):
        # TF Serving feeds tensors without checking them against the
        # signature's shape, so the graph checks at run time.
        video = tf.ensure_shape(video, video_spec.shape, name="check_video")
        return classify(_checked_video(video, min_side))

    def serve_frames(frames):
        frames = tf.ensure_shape(frames, frames_spec.shape, name="check_frames")
        return classify(decode_frames(frames, clip_spec))

    return serve_video, serve_frames


def build_archive(
    model, serve_video, serve_frames, video_spec, frames_spec, clip_spec
):
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_variable_collection(
        "clip_spec",
        [tf.Variable(clip_spec.to_json(), trainable=False, name="clip_spec")],
    )
    archive.add_endpoint(
        VIDEO_SIGNATURE, serve_video, input_signature=[video_spec]
    )
    archive.add_endpoint(
        FRAMES_SIGNATURE, serve_frames, input_signature=[frames_spec]
    )
    return archive


# ---------------------------------------------------------------- warm-up


def _ramp_clip(batch_size, num_frames, size):
    """A deterministic (B, T, size, size, 3) float32 clip in [0, 255]."""
    count = batch_size * num_frames * size * size * 3
    values = np.linspace(0.0, 255.0, count, dtype=np.float32)
    return values.reshape(batch_size, num_frames, size, size, 3)


def _jpeg_frames(batch_size, num_frames, height, width):
    """(B, T) object array of JPEG bytes of gradient images."""
    rows = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    cols = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    image = np.stack(
        [rows + 0 * cols, 0 * rows + cols, (rows + cols) / 2], axis=-1
    ).astype(np.uint8)
    jpeg = tf.io.encode_jpeg(image, quality=90).numpy()
    frames = np.empty((batch_size, num_frames), dtype=object)
    frames[...] = jpeg
    return frames


def warmup_records(
    model_name,
    num_frames,
    crop_size,
    *,
    video_signature="serving_default",
    frames_signature="classify_frames",
    batch_sizes=(1,),
):
    """Builds the warm-up `PredictionLog`s for both serving signatures.

    For each batch size: one float clip for `video_signature`, and two JPEG
    requests for `frames_signature` (square frames of `crop_size`, and 4:3
    frames with short side `crop_size * 5 // 4`, which exercise the resize).

    Args:
        model_name: the TF Serving model name put in `model_spec.name`.
        num_frames: frames per clip (T).
        crop_size: frame side the model sees.
        video_signature: name of the float clip signature.
        frames_signature: name of the JPEG frames signature.
        batch_sizes: batch sizes to warm up.

    Returns:
        A list of `tensorflow_serving.apis.prediction_log_pb2.PredictionLog`.

    Example:

    ```python
    records = warmup_records("nonlocal", num_frames=8, crop_size=224)
    write_warmup_file("/models/nonlocal/1", records)
    ```
    """
    # The optional `serving` extra (tensorflow-serving-api), only for warm-up.
    from tensorflow_serving.apis import prediction_log_pb2

    short = crop_size * 5 // 4
    requests = []
    for batch_size in batch_sizes:
        clip = _ramp_clip(batch_size, num_frames, crop_size)
        requests.append((video_signature, {"video": clip}))
        for height, width in ((crop_size, crop_size), (short, short * 4 // 3)):
            frames = _jpeg_frames(batch_size, num_frames, height, width)
            requests.append((frames_signature, {"frames": frames}))
    records = []
    for signature_name, inputs in requests:
        request = client.build_grpc_request(
            model_name, inputs, signature_name=signature_name
        )
        records.append(
            prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
        )
    return records


def write_warmup_file(saved_model_dir, records):
    """Writes records as a TFRecord file where TF Serving looks for them.

    Args:
        saved_model_dir: the SavedModel version directory.
        records: `PredictionLog` messages.

    Returns:
        The path of the written file.
    """
    directory = os.path.join(saved_model_dir, WARMUP_DIR)
    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return path
