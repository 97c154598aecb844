"""`VideoClassifier`: config and clip spec kept by `.keras`, the test heads."""

import keras
import numpy as np
import pytest

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.layers import WindowAveragePooling3D
from nonlocal_tf.models import VideoClassifier
from nonlocal_tf.models import head_pool_size
from nonlocal_tf.models import insert_nonlocal
from tests.testing import run_model_saving_test
from tests.testing import to_numpy

NL5 = [[], [1, 3], [1, 3, 5], []]
SPEC = ClipSpec(
    num_frames=4,
    sampling_rate=2,
    temporal_sampling="pyslowfast",
    crop_size=64,
    jitter_scales=(64, 80),
    test_crop_size=96,
    num_test_clips=2,
    num_test_crops=1,
)


def _randomise(model, seed=0):
    """Non-zero weights everywhere (zero gammas hide the backbone)."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        leaf = weight.path.rsplit("/", 1)[-1]
        scale = 1.0 if leaf in ("gamma", "moving_variance") else 0.0
        weight.assign(
            (scale + rng.normal(0, 0.1, weight.shape)).astype(weight.dtype)
        )


def _sliding_mean(x, window):
    """NumPy: stride-1 mean over `window` of (B, T, H, W, C), clamped."""
    for axis, size in zip((1, 2, 3), window, strict=True):
        size = min(size, x.shape[axis])
        count = x.shape[axis] - size + 1
        x = np.stack(
            [
                np.take(x, range(i, i + size), axis).mean(axis)
                for i in range(count)
            ],
            axis=axis,
        )
    return x


@pytest.mark.multibackend
def test_keras_file_keeps_class_architecture_and_spec():
    model = VideoClassifier(
        depth=50,
        arch="i3d",
        width_per_group=2,
        num_classes=5,
        nonlocal_locations=NL5,
        nonlocal_kwargs={"instantiation": "dot_product"},
        clip_spec=SPEC,
        name="tiny_i3d",
    )
    _randomise(model)
    clip = np.random.default_rng(1).normal(size=(2, 4, 96, 96, 3))
    reloaded = run_model_saving_test(model, clip.astype("float32"), atol=1e-6)
    assert isinstance(reloaded, VideoClassifier)
    assert reloaded.clip_spec == SPEC
    assert reloaded.name == "tiny_i3d" and reloaded.num_classes == 5
    assert reloaded.architecture["nonlocal_kwargs"] == {
        "instantiation": "dot_product"
    }
    assert reloaded.get_config() == model.get_config()
    layer = reloaded.get_layer("nonlocal_conv3_1")
    assert layer.instantiation == "dot_product"


@pytest.mark.parametrize(
    "stem, frames, pool2, expected",
    [
        # res5 sizes of the paper's tables (tests/models/video_resnet_test).
        ("caffe2_org", 32, True, (4, 7, 7)),
        ("caffe2_org", 128, True, (16, 7, 7)),
        ("caffe2", 8, True, (4, 7, 7)),
        ("pyslowfast", 8, True, (4, 7, 7)),
        ("pyslowfast", 8, False, (8, 7, 7)),
    ],
)
def test_head_window_is_the_training_res5_map(stem, frames, pool2, expected):
    spec = ClipSpec(num_frames=frames)
    assert head_pool_size(spec, stem, pool2) == expected
    with keras.StatelessScope():
        model = VideoClassifier(
            depth=50,
            stem=stem,
            pool2=pool2,
            width_per_group=2,
            clip_spec=spec,
            input_shape=spec.train_input_shape,
        )
    assert tuple(model.get_layer("pool5").input.shape[1:4]) == expected
    assert tuple(model.get_layer("pool5").output.shape[1:4]) == (1, 1, 1)


@pytest.mark.multibackend
@pytest.mark.parametrize(
    "shape", [(1, 4, 8, 9, 3), (2, 3, 2, 10, 2), (1, 6, 7, 7, 1)]
)
def test_window_pooling_matches_numpy(shape):
    x = np.random.default_rng(2).normal(size=shape).astype("float32")
    layer = WindowAveragePooling3D((4, 7, 7))
    got = to_numpy(layer(x))
    np.testing.assert_allclose(got, _sliding_mean(x, (4, 7, 7)), atol=1e-6)
    assert got.shape[1:4] == layer.compute_output_shape(shape)[1:4]


def test_window_pooling_with_unknown_sizes_in_a_graph():
    import tensorflow as tf

    layer = WindowAveragePooling3D((2, 3, 3))
    fn = tf.function(
        layer, input_signature=[tf.TensorSpec([None] * 4 + [2], tf.float32)]
    )
    for shape in ((1, 4, 5, 2, 2), (1, 1, 3, 8, 2)):
        x = np.random.default_rng(3).normal(size=shape).astype("float32")
        np.testing.assert_allclose(
            fn(x).numpy(), _sliding_mean(x, (2, 3, 3)), atol=1e-6
        )


@pytest.mark.multibackend
def test_fully_convolutional_head_is_global_at_the_training_crop():
    def build(test_head):
        spec = ClipSpec(
            crop_size=64, jitter_scales=(64, 64), test_head=test_head
        )
        model = VideoClassifier(
            depth=50, width_per_group=2, num_classes=4, clip_spec=spec
        )
        _randomise(model, seed=4)
        return model

    fully, pooled = build("fully_convolutional"), build("global_average")
    rng = np.random.default_rng(5)
    train = rng.normal(size=(1, 8, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(fully(train)), to_numpy(pooled(train)), atol=1e-6
    )
    # At a 96 crop the res5 map is 3x3: the 2x2 window fits 2x2 times, and
    # the head is the mean of the softmax at each placement.
    test = rng.normal(size=(1, 8, 96, 96, 3)).astype("float32")
    features = keras.Model(fully.input, fully.get_layer("res5_2_relu").output)
    res5 = to_numpy(features(test)).astype(np.float64)
    assert res5.shape[1:4] == (4, 3, 3)
    kernel, bias = (
        to_numpy(w).astype(np.float64) for w in fully.get_layer("pred").weights
    )
    logits = _sliding_mean(res5, (4, 2, 2)) @ kernel + bias
    softmax = np.exp(logits - logits.max(-1, keepdims=True))
    softmax /= softmax.sum(-1, keepdims=True)
    expected = softmax.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(to_numpy(fully(test)), expected, atol=1e-5)
    assert np.abs(to_numpy(pooled(test)) - expected).max() > 1e-4


def test_insert_nonlocal_takes_a_video_classifier():
    model = VideoClassifier(depth=50, width_per_group=2, num_classes=3)
    inserted = insert_nonlocal(model, after=["res4_0_relu"])
    clip = np.random.default_rng(6).normal(size=(1, 2, 64, 64, 3))
    np.testing.assert_allclose(
        to_numpy(inserted(clip)), to_numpy(model(clip)), atol=1e-6
    )
    assert inserted.get_layer("res4_0_relu_nonlocal")
