"""Shared test helpers: a tiny video classifier and independent references.

The references use NumPy and PIL only, never nonlocal_tf.export.
"""

import io
import os
import pickle
import subprocess
import sys

import keras
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "tf_serving_runner.py")

MEAN = 114.75
STD = 57.375
LABELS = [
    "abseiling",
    "air drumming",
    "answering questions",
    "applauding",
    "café au lait",
    "archery",
    "arm wrestling",
]


def tiny_classifier(input_shape=(None, None, None, 3), num_classes=7):
    """Conv3D + GlobalAveragePooling3D + Dense, returning logits."""
    inputs = keras.Input(input_shape, name="clip")
    x = keras.layers.Conv3D(6, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling3D()(x)
    logits = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, logits, name="tiny_classifier")


def softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def reference_probabilities(model, clip):
    """Keras model on a [0, 255] clip, normalised and softmaxed in NumPy."""
    normalised = (np.asarray(clip, np.float32) - MEAN) / STD
    return softmax(keras.ops.convert_to_numpy(model(normalised)))


def reference_top_k(probabilities, k, labels=LABELS):
    """[(label, score)] per row, best first."""
    rows = []
    for row in probabilities:
        order = np.argsort(-row, kind="stable")[:k]
        rows.append([(labels[i], float(row[i])) for i in order])
    return rows


def encode_jpeg_pil(image, quality=95):
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(
        buffer, format="JPEG", quality=quality
    )
    return buffer.getvalue()


def decode_jpeg_pil(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def reference_frame(jpeg, crop_size):
    """PIL decode + the resize/crop for sizes where bilinear is exact.

    A short side of `crop_size` needs no resampling; a short side of
    `2 * crop_size` is halved, and half-pixel-centred bilinear sampling at
    scale 1/2 is exactly the mean of 2x2 blocks, rounded to uint8 (half to
    even) as the test pipeline keeps its views.
    """
    image = decode_jpeg_pil(jpeg).astype(np.float64)
    height, width = image.shape[:2]
    short = min(height, width)
    if short == 2 * crop_size and height % 2 == 0 and width % 2 == 0:
        image = image.reshape(height // 2, 2, width // 2, 2, 3).mean((1, 3))
        image = np.round(image)
    elif short != crop_size:
        raise ValueError(f"No exact reference for a {height}x{width} frame.")
    height, width = image.shape[:2]
    top = (height - crop_size) // 2
    left = (width - crop_size) // 2
    return image[top : top + crop_size, left : left + crop_size]


def reference_frames_clip(frames, crop_size):
    """(B, T) JPEGs -> (B, T, crop, crop, 3) float32 clip in [0, 255]."""
    return np.stack(
        [
            np.stack([reference_frame(jpeg, crop_size) for jpeg in row])
            for row in frames
        ]
    ).astype(np.float32)


def frames_array(rows):
    array = np.empty((len(rows), len(rows[0])), dtype=object)
    for b, row in enumerate(rows):
        for t, jpeg in enumerate(row):
            array[b, t] = jpeg
    return array


def clean_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def run_tf_serving_runner(saved_model_dir, jobs, tmp_dir):
    """Runs tf_serving_runner.py in a fresh process; returns its result."""
    jobs_path = os.path.join(tmp_dir, "jobs.pkl")
    result_path = os.path.join(tmp_dir, "result.pkl")
    with open(jobs_path, "wb") as f:
        pickle.dump(jobs, f)
    completed = subprocess.run(
        [sys.executable, RUNNER, saved_model_dir, jobs_path, result_path],
        cwd=tmp_dir,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    with open(result_path, "rb") as f:
        return pickle.load(f)  # noqa: S301 - written by our runner
