"""Spatial transforms checked on frames with known content.

The pipeline's own (training crops, JPEG decoding) and the test transform it
calls (`nonlocal_tf.models.preprocessing`, as `tf.data` runs it: TensorFlow
tensors, unknown frame sizes in graphs). Coordinate frames (R = x, G = y)
make a crop's output name the source pixel it sampled, so geometry is
checked value by value against the formulas, and against an independent
NumPy bilinear resize (`helpers.bilinear_resize`).
"""

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.data import transforms
from nonlocal_tf.data import video
from nonlocal_tf.models import preprocessing
from tests.data import helpers


def coordinate_frames(num_frames, height, width):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.stack([x, y, np.zeros_like(x)], -1)
    return np.repeat(frame[None], num_frames, axis=0)


def test_normalize_values():
    pixels = tf.constant([[0.0], [114.75], [255.0], [57.375]])  # (4, 1)
    got = preprocessing.normalize(pixels).numpy()  # broadcast over R, G, B
    assert got.shape == (4, 3)
    np.testing.assert_allclose(
        got[:, 0], [-2.0, 0.0, 140.25 / 57.375, -1.0], atol=1e-6
    )
    # The same as mean 0.45, std 0.225 on [0, 1] (PySlowFast's numbers).
    values = np.repeat(np.arange(256, dtype=np.float32)[:, None], 3, axis=1)
    np.testing.assert_allclose(
        preprocessing.normalize(values.astype(np.uint8)).numpy(),
        (values / 255.0 - 0.45) / 0.225,
        atol=1e-5,
    )
    # Per-channel statistics, and their inverse.
    mean, std = (100.0, 110.0, 120.0), (50.0, 60.0, 70.0)
    one = tf.constant([[130.0, 170.0, 190.0]])
    normalised = preprocessing.normalize(one, mean, std)
    np.testing.assert_allclose(normalised.numpy(), [[0.6, 1.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(
        transforms.denormalize(normalised, mean, std).numpy(), one, atol=1e-4
    )


@pytest.mark.parametrize(
    "size, short, expected",
    [
        ((320, 752), 256, (256, 601)),  # 752 * 256 / 320 = 601.6 -> floor
        ((480, 270), 256, (455, 256)),  # portrait: 480 * 256 / 270 = 455.1
        ((272, 640), 320, (320, 752)),
        ((256, 256), 224, (224, 224)),
    ],
)
def test_scaled_size(size, short, expected):
    assert preprocessing.scaled_size(size[0], size[1], short) == expected
    assert video.scaled_size(size[0], size[1], short) == expected
    # As a graph computes it for frames of unknown size.
    in_graph = tf.function(
        lambda h, w: preprocessing.scaled_size(h, w, short),
        input_signature=[tf.TensorSpec([], tf.int32)] * 2,
    )
    assert tuple(int(v) for v in in_graph(*size)) == expected


def test_resize_short_side_matches_numpy_bilinear():
    frames = helpers.textured_frames(2, 60, 90)
    unknown_size = tf.function(
        lambda x: preprocessing.resize_short_side(x, 40),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
    )
    for got in (
        preprocessing.resize_short_side(tf.constant(frames), 40).numpy(),
        unknown_size(frames).numpy(),
    ):
        assert got.shape == (2, 40, 60, 3)
        for i in range(2):
            np.testing.assert_allclose(
                got[i], helpers.bilinear_resize(frames[i], 40, 60), atol=1e-3
            )


def test_crop_resize_samples_the_window():
    frames = coordinate_frames(2, 240, 320)
    out = transforms.crop_resize(frames, [10, 30, 200, 200], 100).numpy()
    j = np.arange(100)
    # Output pixel j of a 200 -> 100 resize samples source 30 + 2 j + 0.5.
    np.testing.assert_allclose(out[0, 5, :, 0], 30.5 + 2 * j, atol=1e-4)
    np.testing.assert_allclose(out[1, :, 7, 1], 10.5 + 2 * j, atol=1e-4)
    flipped = transforms.crop_resize(frames, [10, 30, 200, 200], 100, flip=True)
    np.testing.assert_allclose(
        flipped[0, 5, :, 0], (30.5 + 2 * j)[::-1], atol=1e-4
    )
    np.testing.assert_allclose(flipped[0, :, 7, 1], 10.5 + 2 * j, atol=1e-4)


def test_train_crop_window_range():
    windows = np.stack(
        [
            transforms.train_crop_window(
                320, 480, crop_size=224, jitter_scales=(256, 320), seed=[s, 3]
            ).numpy()
            for s in range(300)
        ]
    )
    y, x, h, w = windows.T
    assert np.all(h == w)
    # Short side 320 scaled to s in [256, 320]: the 224 crop is 224 * 320 / s
    # source pixels, from 224 (s = 320) to 280 (s = 256).
    assert h.min() == 224 and h.max() == 280
    assert np.all(y >= 0) and np.all(y + h <= 320)
    assert np.all(x >= 0) and np.all(x + w <= 480)
    assert x.max() > 200 and x.min() < 20


@pytest.mark.parametrize("scale", [256, 288, 320])
def test_window_crop_equals_scale_then_crop(scale):
    """The docstring's claim: within one source pixel of scale-then-crop."""
    height, width = 240, 320
    frames = coordinate_frames(1, height, width)
    new_h, new_w = video.scaled_size(height, width, scale)
    whole = helpers.bilinear_resize(frames[0], new_h, new_w)
    for s in range(5):
        y, x, h, w = transforms.train_crop_window(
            height,
            width,
            crop_size=224,
            jitter_scales=(scale, scale),
            seed=[s, 9],
        ).numpy()
        ys = min(int(round(y * new_h / height)), new_h - 224)
        xs = min(int(round(x * new_w / width)), new_w - 224)
        reference = whole[ys : ys + 224, xs : xs + 224]
        got = transforms.crop_resize(frames, [y, x, h, w], 224).numpy()[0]
        assert np.abs(got[..., :2] - reference[..., :2]).max() < 1.0


def test_decode_crop_resize_matches_decoding_then_cropping():
    frames = helpers.textured_frames(3, 120, 160)
    jpegs = tf.stack([tf.io.encode_jpeg(f, quality=95) for f in frames])
    window = [16, 40, 96, 96]
    for flip in (False, True):
        got = transforms.decode_crop_resize(jpegs, window, 64, flip).numpy()
        decoded = tf.stack(
            [tf.io.decode_jpeg(j, dct_method="INTEGER_ACCURATE") for j in jpegs]
        )
        expected = transforms.crop_resize(decoded, window, 64, flip).numpy()
        assert got.shape == (3, 64, 64, 3)
        assert np.abs(got - expected).mean() < 1.0
        # And it is the right part of the right frames, up to JPEG loss.
        reference = frames[:, 16:112, 40:136]
        if flip:
            reference = reference[:, :, ::-1]
        for i in range(3):
            small = helpers.bilinear_resize(reference[i], 64, 64)
            assert helpers.psnr(got[i], small) > 30


def test_decode_crop_resize_unknown_length():
    frames = helpers.textured_frames(2, 64, 64)
    jpegs = [tf.io.encode_jpeg(f) for f in frames]
    fn = tf.function(
        lambda j: transforms.decode_crop_resize(j, [0, 0, 32, 32], 16),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    assert fn(tf.stack(jpegs)).shape == (2, 16, 16, 3)


def test_crop_offsets():
    def offsets(h, w, n):
        got = preprocessing.crop_offsets(h, w, 256, n)
        # As a graph computes them for frames of unknown size.
        in_graph = tf.function(
            lambda height, width: preprocessing.crop_offsets(
                height, width, 256, n
            ),
            input_signature=[tf.TensorSpec([], tf.int32)] * 2,
        )
        assert [(int(y), int(x)) for y, x in in_graph(h, w)] == got
        return got

    # (455 - 256) // 2 = 99: left, centre, right along the long side.
    assert offsets(256, 455, 3) == [(0, 0), (0, 99), (0, 198)]
    assert offsets(455, 256, 3) == [(0, 0), (99, 0), (198, 0)]
    assert offsets(256, 455, 1) == [(0, 99)]
    assert offsets(256, 256, 3) == [(0, 0), (0, 0), (0, 0)]
    with pytest.raises(ValueError, match="num_crops"):
        preprocessing.crop_offsets(256, 455, 256, 2)


def test_test_views_geometry_and_order():
    # Frame f: R = 2 x, G = 2 y, B = 50 f, 64 x 96, scaled to 32 x 48.
    y, x = np.mgrid[0:64, 0:96]
    frames = np.stack(
        [
            np.stack([2 * x, 2 * y, np.full_like(x, 50 * f)], -1)
            for f in range(3)
        ]
    ).astype(np.uint8)
    positions = tf.constant([0, 1, 2, 0])  # clip 0: frames 0, 1; clip 1: 2, 0
    views = transforms.test_views(
        frames, positions, num_clips=2, num_frames=2, crop_size=32, num_crops=3
    ).numpy()
    assert views.shape == (6, 2, 32, 32, 3)
    assert views.dtype == np.uint8
    pixels = views.astype(np.float64)
    j = np.arange(32)
    for view in range(6):
        clip, crop = divmod(view, 3)
        x_offset = [0, 8, 16][crop]
        for t in range(2):
            frame = [[0, 1], [2, 0]][clip][t]
            # Scaled pixel c samples source 2 c + 0.5, so R = 4 c + 1.
            np.testing.assert_allclose(
                pixels[view, t, 3, :, 0], 4 * (x_offset + j) + 1, atol=1e-3
            )
            np.testing.assert_allclose(
                pixels[view, t, :, 5, 1], 4 * j + 1, atol=1e-3
            )
            np.testing.assert_allclose(
                pixels[view, t, ..., 2], 50 * frame, atol=1e-3
            )


def test_test_views_match_numpy_reference():
    frames = helpers.textured_frames(2, 90, 150)
    views = transforms.test_views(
        frames,
        tf.constant([1, 0]),
        num_clips=1,
        num_frames=2,
        crop_size=60,
        num_crops=3,
    ).numpy()
    pixels = views.astype(np.float64)
    for t, f in enumerate([1, 0]):
        scaled = np.round(helpers.bilinear_resize(frames[f], 60, 100))
        for c, x in enumerate([0, 20, 40]):
            np.testing.assert_allclose(
                pixels[c, t], scaled[:, x : x + 60], atol=1.0 + 1e-3
            )
