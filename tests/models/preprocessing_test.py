"""The `keras.ops` test transform against independent references.

`tests.models.reference_views` (NumPy, from the formulas) and
`tf.image.resize` itself are the references: the same frames must give the
same uint8 views (pixel for pixel, on every backend) and the same
normalised clips.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.clip_spec import PIXEL_MEAN
from nonlocal_tf.clip_spec import PIXEL_STD
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.models import preprocessing
from nonlocal_tf.models.preprocessing import VideoClassifierPreprocessor
from nonlocal_tf.models.preprocessing import VideoResNetVideoConverter
from tests.models import reference_views
from tests.testing import check_serialization
from tests.testing import to_numpy

BACKEND = keras.backend.backend()

# (height, width, S): landscape, odd sizes down and up, portrait, frames
# already at S (one and three identical crops), smaller than S (upscaled).
CASES = [
    (240, 320, 224),
    (37, 61, 24),
    (37, 61, 56),
    (320, 240, 224),
    (61, 37, 30),
    (320, 752, 256),
    (256, 340, 256),
    (224, 224, 224),
    (100, 150, 128),
]
CASE_IDS = [f"{h}x{w}-S{s}" for h, w, s in CASES]


def _frames(height, width, num_frames=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (num_frames, height, width, 3), "uint8")


def _tf_resize(frames, short_side):
    """`tf.image.resize` (bilinear) to the floor rule's size, NumPy."""
    size = reference_views.scaled_size(*frames.shape[-3:-1], short_side)
    return tf.image.resize(frames, size, method="bilinear").numpy()


def _keras_views(frames, crop_size, num_crops):
    """The `keras.ops` resize, round and crop of one clip, uint8 NumPy."""
    resized = preprocessing.resize_short_side(frames[None], crop_size)
    views = preprocessing.test_crops(
        preprocessing.to_uint8(resized), crop_size, num_crops
    )
    return keras.ops.convert_to_numpy(views)


def _assert_same_pixels(actual, expected):
    assert actual.dtype == np.uint8, actual.dtype
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    diff = np.abs(actual.astype("int32") - expected.astype("int32"))
    assert diff.max() == 0, (
        f"{BACKEND}: {np.count_nonzero(diff)} of {diff.size} pixels differ, "
        f"by up to {diff.max()}"
    )


@pytest.mark.multibackend
@pytest.mark.parametrize(
    ("height", "width", "short_side"),
    [(320, 752, 256), (752, 320, 256), (240, 320, 224), (37, 61, 24)]
    + [(h, w, 256) for h in (1, 255, 256, 257, 480) for w in (1, 256, 853)],
)
def test_scaled_size_matches_reference(height, width, short_side):
    expected = reference_views.scaled_size(height, width, short_side)
    got = preprocessing.scaled_size(height, width, short_side)
    assert got == expected
    assert all(type(v) is int for v in got)


@pytest.mark.multibackend
def test_scaled_size_floors_the_long_side():
    # 752 * 256 / 320 = 601.6 and 480 * 224 / 360 = 298.67.
    assert preprocessing.scaled_size(320, 752, 256) == (256, 601)
    assert preprocessing.scaled_size(752, 320, 256) == (601, 256)
    assert preprocessing.scaled_size(360, 480, 224) == (224, 298)
    assert preprocessing.scaled_size(300, 300, 256) == (256, 256)


@pytest.mark.multibackend
@pytest.mark.parametrize("num_crops", [1, 3])
def test_crop_offsets_match_reference(num_crops):
    for height, width in [(256, 455), (455, 256), (256, 256), (256, 257)]:
        for crop_size in (224, 256):
            if crop_size > min(height, width):
                continue
            expected = reference_views.crop_offsets(
                height, width, crop_size, num_crops
            )
            got = preprocessing.crop_offsets(
                height, width, crop_size, num_crops
            )
            assert got == expected
    assert preprocessing.crop_offsets(256, 455, 256, 3) == [
        (0, 0),
        (0, 99),
        (0, 198),
    ]
    with pytest.raises(ValueError, match="num_crops"):
        preprocessing.crop_offsets(256, 455, 256, 2)


@pytest.mark.multibackend
@pytest.mark.parametrize(("height", "width", "short_side"), CASES, ids=CASE_IDS)
def test_resize_is_tf_image_resize_bit_for_bit(height, width, short_side):
    frames = _frames(height, width)
    expected = _tf_resize(frames, short_side)
    got = to_numpy(preprocessing.resize_short_side(frames, short_side))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    # The NumPy reference of the other tests is the same kernel's values.
    np.testing.assert_array_equal(
        reference_views.resize_bilinear(frames, *expected.shape[1:3]),
        expected,
    )


@pytest.mark.multibackend
@pytest.mark.parametrize("num_crops", [1, 3])
@pytest.mark.parametrize(("height", "width", "short_side"), CASES, ids=CASE_IDS)
def test_uint8_views_match_reference(height, width, short_side, num_crops):
    frames = _frames(height, width)
    _assert_same_pixels(
        _keras_views(frames, short_side, num_crops),
        reference_views.uint8_views(frames, short_side, num_crops),
    )


@pytest.mark.multibackend
@pytest.mark.parametrize(("height", "width", "short_side"), CASES, ids=CASE_IDS)
def test_single_frame_centre_view(height, width, short_side):
    # One (H, W, 3) frame, as the serving signature takes each JPEG.
    frames = _frames(height, width)
    expected = reference_views.uint8_views(frames, short_side, 1)[0]
    for i, frame in enumerate(frames):
        scaled = preprocessing.to_uint8(
            preprocessing.resize_short_side(frame, short_side)
        )
        view = preprocessing.test_crops(scaled[None], short_side, 1)[0]
        _assert_same_pixels(keras.ops.convert_to_numpy(view), expected[i])


@pytest.mark.multibackend
def test_to_uint8_rounds_half_to_even_and_clips():
    values = np.array([-3.0, 0.4, 0.5, 1.5, 126.5, 254.6, 300.0], "float32")
    got = keras.ops.convert_to_numpy(preprocessing.to_uint8(values))
    assert got.dtype == np.uint8
    assert got.tolist() == [0, 0, 0, 2, 126, 255, 255]


@pytest.mark.multibackend
def test_normalize_values():
    pixels = _frames(4, 5)
    mean, std = (100.0, 110.0, 120.0), (50.0, 60.0, 70.0)
    np.testing.assert_allclose(
        to_numpy(preprocessing.normalize(pixels, mean, std)),
        reference_views.normalize(pixels, mean, std),
        rtol=0,
        atol=1e-6,
    )
    # The default is mean 0.45, std 0.225 on [0, 1] (PySlowFast's numbers).
    values = np.repeat(np.arange(256, dtype="uint8")[:, None], 3, axis=1)
    np.testing.assert_allclose(
        to_numpy(preprocessing.normalize(values)),
        (values / 255.0 - 0.45) / 0.225,
        rtol=0,
        atol=1e-5,
    )


@pytest.mark.multibackend
@pytest.mark.parametrize("num_crops", [1, 3])
@pytest.mark.parametrize(
    ("height", "width", "short_side"),
    [(240, 320, 224), (61, 37, 30), (100, 150, 128)],
)
def test_converter_matches_normalized_test_views(
    height, width, short_side, num_crops
):
    spec = ClipSpec(
        crop_size=short_side,
        jitter_scales=(short_side, short_side),
        test_crop_size=short_side,
        mean=(110.0, 115.0, 120.0),
        std=(50.0, 57.0, 64.0),
    )
    converter = VideoResNetVideoConverter.from_clip_spec(spec, num_crops)
    videos = np.stack([_frames(height, width, 4, seed=s) for s in (1, 2)])
    expected = np.concatenate(
        [
            reference_views.normalize(
                reference_views.uint8_views(video, short_side, num_crops),
                spec.mean,
                spec.std,
            )
            for video in videos
        ]
    )
    for inputs in (videos, videos.astype("float32")):
        got = to_numpy(converter(inputs))
        assert got.dtype == np.float32
        assert got.shape == (2 * num_crops, 4, short_side, short_side, 3)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


@pytest.mark.multibackend
def test_converter_from_clip_spec_and_symbolic_shape():
    spec = ClipSpec(test_crop_size=224, mean=(1, 2, 3), std=(4, 5, 6))
    converter = VideoResNetVideoConverter.from_clip_spec(spec, num_crops=3)
    assert converter.crop_size == 224
    assert converter.num_crops == 3
    assert converter.mean == (1.0, 2.0, 3.0)
    assert converter.std == (4.0, 5.0, 6.0)
    dict_spec = VideoResNetVideoConverter.from_clip_spec(spec.to_dict())
    assert dict_spec.num_crops == 1
    symbolic = converter(keras.KerasTensor((2, 8, 240, 320, 3), "uint8"))
    assert tuple(symbolic.shape) == (6, 8, 224, 224, 3)
    assert symbolic.dtype == "float32"


@pytest.mark.multibackend
def test_converter_config_round_trip():
    converter = VideoResNetVideoConverter(
        crop_size=224, num_crops=3, mean=(1, 2, 3), std=(4, 5, 6), name="c"
    )
    check_serialization(converter)
    config = converter.get_config()
    assert config["crop_size"] == 224
    assert config["num_crops"] == 3
    assert config["mean"] == [1.0, 2.0, 3.0]
    assert config["std"] == [4.0, 5.0, 6.0]
    assert "image_size" not in config


@pytest.mark.multibackend
def test_preprocessor_config_round_trip():
    preprocessor = VideoClassifierPreprocessor.from_clip_spec(
        ClipSpec(test_crop_size=112), num_crops=3
    )
    check_serialization(preprocessor)
    restored = keras.saving.deserialize_keras_object(
        json.loads(
            json.dumps(keras.saving.serialize_keras_object(preprocessor))
        )
    )
    assert isinstance(restored, VideoClassifierPreprocessor)
    converter = restored.video_converter
    assert isinstance(converter, VideoResNetVideoConverter)
    assert (converter.crop_size, converter.num_crops) == (112, 3)
    check_serialization(VideoClassifierPreprocessor())


@pytest.mark.multibackend
def test_preprocessor_converts_uint8_and_passes_floats_through():
    converter = VideoResNetVideoConverter(crop_size=32)
    preprocessor = VideoClassifierPreprocessor(converter)
    videos = np.stack([_frames(40, 60, 2, seed=s) for s in (3, 4)])
    labels = np.array([1, 0])
    x, y = preprocessor(videos, labels)
    np.testing.assert_array_equal(to_numpy(x), to_numpy(converter(videos)))
    assert to_numpy(x).shape == (2, 2, 32, 32, 3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(y), labels)

    clips = np.random.default_rng(5).normal(size=(2, 2, 8, 8, 3))
    clips = clips.astype("float32")
    weights = np.array([0.5, 1.0], "float32")
    x, y, w = preprocessor(clips, labels, weights)
    np.testing.assert_array_equal(to_numpy(x), clips)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(y), labels)
    np.testing.assert_array_equal(to_numpy(w), weights)
    np.testing.assert_array_equal(to_numpy(preprocessor(clips)), clips)

    raw = VideoClassifierPreprocessor()(videos)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(raw), videos)


@pytest.mark.multibackend
@pytest.mark.parametrize(
    ("kwargs", "keyword"),
    [
        ({"crop_size": 0}, "crop_size"),
        ({"crop_size": 224.0}, "crop_size"),
        ({"crop_size": True}, "crop_size"),
        ({"num_crops": 2}, "num_crops"),
        ({"num_crops": "3"}, "num_crops"),
        ({"mean": (1.0, 2.0)}, "mean"),
        ({"mean": "abc"}, "mean"),
        ({"std": (1.0, 0.0, 1.0)}, "std"),
        ({"std": None}, "std"),
    ],
)
def test_converter_rejects_bad_arguments_by_name(kwargs, keyword):
    with pytest.raises(ValueError, match=f"`{keyword}`"):
        VideoResNetVideoConverter(**kwargs)


@pytest.mark.multibackend
def test_converter_rejects_non_video_input():
    with pytest.raises(ValueError, match=r"\(B, T, H, W, 3\)"):
        VideoResNetVideoConverter(crop_size=8)(np.zeros((2, 8, 8, 3)))


VIDEO_SPEC = tf.TensorSpec([None, None, None, None, 3], tf.uint8)


# A TensorFlow graph runs TensorFlow's ops whatever the Keras backend.


@pytest.mark.multibackend
@pytest.mark.parametrize(("height", "width", "short_side"), CASES, ids=CASE_IDS)
def test_unknown_frame_size_resize_is_bit_for_bit(height, width, short_side):
    traced = tf.function(
        lambda x: preprocessing.resize_short_side(x, short_side),
        input_signature=[VIDEO_SPEC],
    )
    frames = _frames(height, width)
    expected = _tf_resize(frames, short_side)
    np.testing.assert_array_equal(traced(frames[None]).numpy()[0], expected)


@pytest.mark.multibackend
@pytest.mark.parametrize("num_crops", [1, 3])
def test_unknown_frame_size_in_tf_function(num_crops):
    converter = VideoResNetVideoConverter(crop_size=24, num_crops=num_crops)
    traced = tf.function(converter, input_signature=[VIDEO_SPEC])
    output = traced.get_concrete_function().structured_outputs
    assert output.shape.as_list()[2:] == [24, 24, 3]
    uint8_views = tf.function(
        lambda x: preprocessing.test_crops(
            preprocessing.to_uint8(preprocessing.resize_short_side(x, 24)),
            24,
            num_crops,
        ),
        input_signature=[VIDEO_SPEC],
    )
    for height, width in [(37, 61), (61, 37), (24, 30), (20, 20)]:
        frames = _frames(height, width, 2)
        expected = reference_views.uint8_views(frames, 24, num_crops)
        _assert_same_pixels(uint8_views(frames[None]).numpy(), expected)
        np.testing.assert_allclose(
            traced(frames[None]).numpy(),
            reference_views.normalize(expected, PIXEL_MEAN, PIXEL_STD),
            rtol=0,
            atol=1e-5,
        )


@pytest.mark.multibackend
def test_preprocessor_in_tf_data_map():
    preprocessor = VideoClassifierPreprocessor.from_clip_spec(
        ClipSpec(crop_size=24, jitter_scales=(24, 24), test_crop_size=24)
    )
    videos = [_frames(37, 61, 2, seed=1), _frames(61, 37, 2, seed=2)]

    def generate():
        for i, video in enumerate(videos):
            yield video, i

    dataset = tf.data.Dataset.from_generator(
        generate,
        output_signature=(
            tf.TensorSpec([None, None, None, 3], tf.uint8),
            tf.TensorSpec([], tf.int32),
        ),
    )
    dataset = dataset.batch(1).map(preprocessor)
    for (x, y), video in zip(dataset, videos, strict=True):
        expected = reference_views.normalize(
            reference_views.uint8_views(video, 24, 1),
            PIXEL_MEAN,
            PIXEL_STD,
        )
        np.testing.assert_allclose(x.numpy(), expected, rtol=0, atol=1e-5)
        assert y.shape == (1,)


@pytest.mark.multibackend
def test_tf_data_map_passes_float_clips_through():
    preprocessor = VideoClassifierPreprocessor(
        VideoResNetVideoConverter(crop_size=24)
    )
    clips = np.random.default_rng(6).normal(size=(2, 2, 30, 40, 3))
    clips = clips.astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((clips, [0, 1])).batch(2)
    for x, _ in dataset.map(preprocessor):
        np.testing.assert_array_equal(x.numpy(), clips)
