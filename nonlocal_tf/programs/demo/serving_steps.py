"""Steps 5 and 6 of the demo: a TF Serving SavedModel, then one request.

The request is answered by the reloaded SavedModel alone
(`tf.saved_model.load` and its signatures): nothing of this project is
needed to use the export.
"""

import os
import time

import numpy as np
import tensorflow as tf

from nonlocal_tf import fileio
from nonlocal_tf.data import decode_video
from nonlocal_tf.data import synthetic
from nonlocal_tf.export import export_saved_model
from nonlocal_tf.programs.demo.model_steps import NUM_FRAMES
from nonlocal_tf.programs.demo.model_steps import SAMPLING_RATE

EXPORT_NAME = "colour_match"


def export_model(demo, model):
    """Step 5: the TF Serving SavedModel, class names embedded.

    Returns:
        The version directory written.
    """
    demo.step("Export a SavedModel (nonlocal_tf.export.export_saved_model)")
    started = time.perf_counter()
    path = export_saved_model(
        model,
        demo.export_base,
        EXPORT_NAME,
        version=1,
        overwrite=True,
        label_names=list(synthetic.CLASS_NAMES),
        num_frames=NUM_FRAMES,
        top_k=demo.top_k,
    )
    demo.note(
        f"{path}/ ({time.perf_counter() - started:.0f} s)\n"
        "signatures: serving_default (float32 video [B, 8, 64, 64, 3] in "
        "0..255), classify_frames\n(JPEG bytes [B, 8]); outputs "
        "probabilities and top-k scores/indices/labels; TF Serving\n"
        "warm-up requests in assets.extra/. Serve it with:\n"
        f"  tensorflow_model_server --model_name={EXPORT_NAME} "
        f"--model_base_path={os.path.abspath(os.path.dirname(path))} "
        "--rest_api_port=8501"
    )
    demo.record("SavedModel", path)
    return path


def _ask(export_path, frames, indices):
    """Both signatures of the reloaded SavedModel on the centre clip."""
    jpegs = [tf.io.encode_jpeg(frames[i], quality=95).numpy() for i in indices]
    loaded = tf.saved_model.load(export_path)
    outputs = loaded.signatures["classify_frames"](frames=tf.constant([jpegs]))
    video = loaded.signatures["serving_default"](
        video=tf.constant(frames[indices][None], tf.float32)
    )
    labels = outputs["top_k_labels"].numpy()[0]
    return {
        "top_k_labels": [x.decode() for x in labels],
        "top_k_scores": [float(s) for s in outputs["top_k_scores"].numpy()[0]],
        "serving_default_top_label": video["top_k_labels"][0, 0]
        .numpy()
        .decode(),
        "serving_default_top_score": float(video["top_k_scores"][0, 0]),
    }


def _describe_answer(demo, export_path, indices, answer, request):
    first, second = request.first, request.second
    pairs = zip(answer["top_k_labels"], answer["top_k_scores"], strict=True)
    return (
        f"model = tf.saved_model.load({export_path!r})\n"
        "model.signatures['classify_frames'](frames=<1 x "
        f"{NUM_FRAMES} JPEGs: frames {indices[0]}, {indices[1]}, ..., "
        f"{indices[-1]} of {demo.request_video}>)\n"
        "  top_k_labels / top_k_scores: "
        + ", ".join(f"{n} {s:.3f}" for n, s in pairs)
        + f"\n  true label: {request.class_name} ({first.colour} square "
        f"{first.corner.replace('_', ' ')} in frames {first.frames[0]}-"
        f"{first.frames[1] - 1}, {second.colour} square "
        f"{second.corner.replace('_', ' ')} in frames {second.frames[0]}-"
        f"{second.frames[1] - 1})\n"
        "model.signatures['serving_default'](video=<the same frames, "
        f"float32>): {answer['serving_default_top_label']} "
        f"{answer['serving_default_top_score']:.3f}"
    )


def answer_request(demo, export_path, request):
    """Step 6: `classify_frames` of the reloaded SavedModel on a new video."""
    demo.step("Answer a request through the exported signature")
    frames = decode_video(demo.request_video).frames
    start = (len(frames) - NUM_FRAMES * SAMPLING_RATE) // 2
    indices = start + SAMPLING_RATE * np.arange(NUM_FRAMES)
    answer = _ask(export_path, frames, indices)
    demo.note(_describe_answer(demo, export_path, indices, answer, request))
    labels, scores = answer["top_k_labels"], answer["top_k_scores"]
    fileio.atomic_write_json(
        demo.answer_path,
        {
            "video": demo.request_video,
            "frame_indices": [int(i) for i in indices],
            "signature": "classify_frames",
            "top_k_labels": labels,
            "top_k_scores": scores,
            "serving_default_top_label": answer["serving_default_top_label"],
            "true_label": request.class_name,
        },
        indent=1,
    )
    verdict = "right" if labels[0] == request.class_name else "wrong"
    demo.record(
        "request",
        f"{labels[0]} ({scores[0]:.3f}); true {request.class_name}: {verdict}",
    )
