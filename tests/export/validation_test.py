"""Bad models, arguments and inputs are refused with errors that say what
was received; labels round trip; static dims stay static."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.export import client
from nonlocal_tf.export import describe_signatures
from nonlocal_tf.export import export_saved_model
from nonlocal_tf.export import load_label_names
from tests.export import helpers


def _model(input_shape, outputs_fn):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, outputs_fn(inputs))


def _pooled_dense(classes, activation=None):
    def build(x):
        x = keras.layers.GlobalAveragePooling3D()(x)
        return keras.layers.Dense(classes, activation=activation)(x)

    return build


@pytest.mark.parametrize(
    "model_fn, kwargs, message",
    [
        (
            lambda: _model(
                (32, 32, 3),
                lambda x: keras.layers.Dense(4)(
                    keras.layers.GlobalAveragePooling2D()(x)
                ),
            ),
            {},
            r"RGB clips \(B, T, H, W, 3\).*Received input shape "
            r"\(None, 32, 32, 3\)",
        ),
        (
            lambda: _model((4, 8, 8, 1), _pooled_dense(4)),
            {},
            r"Received input shape \(None, 4, 8, 8, 1\)",
        ),
        (
            lambda: _model(
                (4, 8, 8, 3), lambda x: keras.layers.Dense(5)(x[:, :, 0, 0])
            ),
            {"from_logits": True},
            r"class scores \(B, classes\).*Received output shape "
            r"\(None, 4, 5\)",
        ),
        (
            lambda: _model((4, 8, 8, 3), _pooled_dense(7)),
            {"label_names": ["a", "b", "c"], "from_logits": True},
            r"predicts 7 classes\. Received 3 label names",
        ),
        (
            lambda: _model((4, 8, 8, 3), _pooled_dense(7)),
            {"num_frames": 8, "from_logits": True},
            r"clips of 4 frames\. Received num_frames=8",
        ),
        (
            lambda: _model((4, 8, 8, 3), _pooled_dense(7)),
            {"crop_size": 16, "from_logits": True},
            r"frames of 8x8; the frames signature makes 16x16 views",
        ),
        (
            lambda: _model((4, 8, 8, 3), _pooled_dense(7)),
            {},
            r"does not return probabilities.*from_logits=True",
        ),
        (
            lambda: _model((4, 8, 8, 3), _pooled_dense(7)),
            {"top_k": 0, "from_logits": True},
            r"top_k must be a positive integer\. Received: 0",
        ),
        (
            lambda: _model((4, 8, 8, 3), _pooled_dense(7)),
            {"version": 0, "from_logits": True},
            r"version must be a positive integer\. Received: 0",
        ),
        (
            lambda: _model((4, 8, 8, 3), _pooled_dense(7)),
            {"from_logits": "yes"},
            r"from_logits must be True, False or 'auto'\. Received: 'yes'",
        ),
    ],
    ids=[
        "image_model",
        "one_channel",
        "output_rank",
        "label_count",
        "num_frames",
        "crop_size",
        "logits_as_probabilities",
        "top_k",
        "version",
        "from_logits_value",
    ],
)
def test_python_api_rejects_with_what_it_received(
    tmp_path, model_fn, kwargs, message
):
    with pytest.raises(ValueError, match=f"(?s){message}"):
        export_saved_model(model_fn(), str(tmp_path), "m", **kwargs)
    # Nothing is written for a refused export.
    assert not os.path.exists(tmp_path / "m") or not os.listdir(tmp_path / "m")


def test_multi_input_model_is_refused(tmp_path):
    a = keras.Input((4, 8, 8, 3))
    b = keras.Input((4, 8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling3D()(keras.layers.Add()([a, b]))
    model = keras.Model([a, b], keras.layers.Dense(3)(pooled))
    with pytest.raises(ValueError, match="Received 2 inputs and 1 outputs"):
        export_saved_model(model, str(tmp_path), "m", from_logits=True)


def test_static_model_labels_round_trip_and_shape_checks(tmp_path):
    model = helpers.tiny_classifier(input_shape=(4, 16, 16, 3))
    path = export_saved_model(
        model,
        str(tmp_path),
        "static",
        label_names=helpers.LABELS,
        top_k=10,
        from_logits="auto",
        warmup=False,
    )
    assert path == os.path.join(str(tmp_path), "static", "1")
    # Without warm-up requests, assets.extra holds the clip spec and labels.
    assert sorted(os.listdir(os.path.join(path, "assets.extra"))) == [
        "clip_spec.json",
        "labels.json",
    ]
    text = describe_signatures(path)
    assert "input  video: float32 (-1, 4, 16, 16, 3)" in text
    assert "input  frames: string (-1, 4)" in text
    assert "output top_k_labels: string (-1, 7)" in text  # top_k capped

    loaded = tf.saved_model.load(path)
    video = loaded.signatures["serving_default"]
    clip = np.random.default_rng(5).uniform(0, 255, (3, 4, 16, 16, 3))
    clip = clip.astype(np.float32)
    outputs = video(video=tf.constant(clip))
    expected = helpers.reference_probabilities(model, clip)
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    labels = outputs["top_k_labels"].numpy()
    indices = outputs["top_k_indices"].numpy()
    for label_row, index_row in zip(labels, indices, strict=True):
        names = [label.decode("utf-8") for label in label_row]
        assert sorted(names) == sorted(helpers.LABELS)  # all 7, UTF-8 intact
        assert names == [helpers.LABELS[i] for i in index_row]

    with pytest.raises(tf.errors.InvalidArgumentError, match="float"):
        video(video=tf.zeros([1, 4, 16, 16, 3], tf.int32))
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"(?s)video.*\[1,3,16,16,3\] is not compatible.*\[\?,4,16,16,3\]",
    ):
        video(video=tf.zeros([1, 3, 16, 16, 3]))
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"(?s)\[1,4,16,16\] is not compatible",
    ):
        video(video=tf.zeros([1, 4, 16, 16]))
    frames = loaded.signatures["classify_frames"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="string"):
        frames(frames=tf.zeros([1, 4]))
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"(?s)frames.*\[1,2\] is not compatible.*\[\?,4\]",
    ):
        frames(
            frames=tf.fill(
                [1, 2], tf.io.encode_jpeg(tf.zeros([16, 16, 3], tf.uint8))
            )
        )


def test_probability_model_is_not_softmaxed_twice(tmp_path):
    model = _model((3, 8, 8, 3), _pooled_dense(4, activation="softmax"))
    path = export_saved_model(
        model, str(tmp_path), "probs", crop_size=8, from_logits="auto"
    )
    clip = np.random.default_rng(6).uniform(0, 255, (2, 3, 8, 8, 3))
    clip = clip.astype(np.float32)
    outputs = tf.saved_model.load(path).signatures["serving_default"](
        video=tf.constant(clip)
    )
    expected = keras.ops.convert_to_numpy(model((clip - 114.75) / 57.375))
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-6)
    top = [label.decode() for label in outputs["top_k_labels"].numpy()[0]]
    assert top == [f"class_{i}" for i in np.argsort(-expected[0])]


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"b": 1, "a": 0, "c": 2}', ["a", "b", "c"]),
        ('["x", "y"]', ["x", "y"]),
        ("walking\n\nrunning dog\n", ["walking", "running dog"]),
    ],
)
def test_label_files(tmp_path, content, expected):
    path = tmp_path / "labels"
    path.write_text(content)
    assert load_label_names(str(path)) == expected


@pytest.mark.parametrize(
    "content, message",
    [
        (json.dumps({"a": 0, "b": 2}), r"no gaps.*missing \[1\]"),
        (json.dumps({"a": 0, "b": 0}), r"'a' and 'b' share index 0"),
        (json.dumps({"a": "0"}), r"index of label 'a' must be an integer"),
        ("{not json", "looks like JSON but does not parse"),
        ("\n\n", "holds no class names"),
    ],
)
def test_bad_label_files(tmp_path, content, message):
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_label_names(str(path))


def test_client_input_checks():
    with pytest.raises(ValueError, match=r"Received shape \(8, 32, 32\)"):
        client.prepare_video_input(np.zeros((8, 32, 32)))
    with pytest.raises(ValueError, match=r"Received shape \(1, 8, 32, 32, 4\)"):
        client.prepare_video_input(np.zeros((1, 8, 32, 32, 4)))
    with pytest.raises(ValueError, match="Received dtype <U1"):
        client.prepare_video_input(np.full((8, 4, 4, 3), "x"))
    with pytest.raises(ValueError, match="Received str at clip 0, frame 1"):
        client.prepare_frames_input([b"jpeg", "jpeg"])
    with pytest.raises(ValueError, match=r"Received lengths \[1, 2\]"):
        client.prepare_frames_input([[b"a"], [b"b", b"c"]])
    assert client.prepare_frames_input([b"a", b"b"]).shape == (1, 2)
