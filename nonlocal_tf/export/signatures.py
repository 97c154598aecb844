"""The two serving signatures and the `ExportArchive` that holds them.

`serving_default` takes float32 `video` (B, T, H, W, 3), RGB in [0, 255];
`classify_frames` takes JPEG `frames` (B, T). Both normalise with the
model's clip spec (`preprocessing`) and return `probabilities`,
`top_k_scores`, `top_k_indices` and `top_k_labels`.
"""

import keras
import tensorflow as tf

from nonlocal_tf.export import preprocessing
from nonlocal_tf.export.client import FRAMES_SIGNATURE
from nonlocal_tf.export.client import VIDEO_SIGNATURE


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
        clip = preprocessing.normalize_clip(video, clip_spec)
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
        return classify(preprocessing.decode_frames(frames, clip_spec))

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
