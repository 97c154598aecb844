"""TF Serving warm-up requests (`assets.extra/tf_serving_warmup_requests`).

TF Serving replays these `PredictionLog` records when it loads a version,
before marking it available, so the first real request does not pay for
graph optimisation and kernel set-up.
"""

import os

import numpy as np
import tensorflow as tf

from nonlocal_tf.export import client

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


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
