"""`VideoClassifier.predict` on raw uint8 clips = the test pipeline's view.

`predict` runs the model's preprocessor (the clip spec's test transform:
short side to `test_crop_size`, uint8, centre crop, normalisation) on a raw
uint8 clip; evaluation runs the test pipeline on the same frames. Their
probabilities must agree to 1e-5 on every backend: with a NumPy reference
view (`tests.models.reference_views`, no `nonlocal_tf` code), and with
`build_dataset(mode="test")` itself, on records of the clip's frames.

The model is small but sensitive: random BN parameters, BN statistics
gathered on the clips (a model at initialisation averages its input away),
so one grey level of rounding on every pixel moves the probabilities by
about 1e-3 and a crop one pixel off by about 1e-2.
"""

import numpy as np
import pytest

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.models import VideoClassifier
from tests.models import reference_views

NUM_FRAMES = 4
SPEC = ClipSpec(
    num_frames=NUM_FRAMES,
    sampling_rate=1,
    crop_size=64,
    jitter_scales=(64, 64),
    test_crop_size=64,
    num_test_clips=1,
    num_test_crops=1,
    mean=(110.0, 115.0, 120.0),
    std=(50.0, 57.0, 64.0),
)
ATOL = 1e-5


def _clips(height, width, seeds=(1, 2)):
    """uint8 (len(seeds), T, H, W, 3): smooth moving waves, one per seed."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    clips = []
    for seed in seeds:
        waves = np.random.default_rng(seed).uniform(0.02, 0.2, (3, 2))
        clips.append(
            [
                np.stack(
                    [
                        127.5 + 120 * np.sin(wy * y + wx * x + 0.4 * t + c)
                        for c, (wy, wx) in enumerate(waves)
                    ],
                    axis=-1,
                )
                for t in range(NUM_FRAMES)
            ]
        )
    return np.clip(np.round(clips), 0, 255).astype(np.uint8)


def _reference_views(clips):
    """The NumPy reference centre views of `clips`, normalised."""
    views = np.concatenate(
        [reference_views.uint8_views(clip, 64, 1) for clip in clips]
    )
    return reference_views.normalize(views, SPEC.mean, SPEC.std)


def _model(calibration_clips):
    """A small C2D that the content of its input clips moves."""
    model = VideoClassifier(
        depth=50, arch="c2d", width_per_group=2, num_classes=5, clip_spec=SPEC
    )
    rng = np.random.default_rng(0)
    for weight in model.weights:
        leaf = weight.path.rsplit("/", 1)[-1]
        if leaf == "gamma":  # no zero gammas: every branch counts
            value = rng.normal(1.0, 0.2, weight.shape)
        elif leaf == "beta":
            value = rng.normal(0.0, 0.1, weight.shape)
        elif weight.path.startswith("pred/") and leaf == "kernel":
            value = rng.normal(0.0, 0.1, weight.shape)
        else:
            continue
        weight.assign(value.astype(weight.dtype))
    views = _reference_views(calibration_clips)
    for _ in range(10):  # BN statistics (momentum 0.9) of these clips
        model(views, training=True)
    return model


def _assert_informative(probabilities):
    # Neither one-hot nor uniform, and not the same for every clip.
    assert 0.02 < probabilities.min() and probabilities.max() < 0.9
    assert np.abs(probabilities[0] - probabilities[1]).max() > 1e-3


@pytest.mark.multibackend
def test_predict_on_uint8_clips_is_the_reference_centre_view():
    landscape = _clips(90, 120)
    model = _model(landscape)
    for clips in (landscape, _clips(120, 90, seeds=(3, 4))):
        got = model.predict(clips, verbose=0)
        assert got.shape == (2, 5)
        expected = model.predict(_reference_views(clips), verbose=0)
        _assert_informative(expected)
        np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)


@pytest.mark.multibackend
def test_predict_on_uint8_clips_is_the_test_pipelines_view(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from nonlocal_tf.data import build_dataset
    from nonlocal_tf.data import features

    clips = _clips(90, 120)
    jpegs = [
        [tf.io.encode_jpeg(frame, quality=95).numpy() for frame in clip]
        for clip in clips
    ]
    records = str(tmp_path / "test.tfrecord")
    with tf.io.TFRecordWriter(records) as writer:
        for i, clip in enumerate(jpegs):
            example = features.make_sequence_example(
                clip, video_id=f"video{i}", label_indices=[i]
            )
            writer.write(example.SerializeToString())
    views = np.concatenate(
        [
            element["views"].numpy()
            for element in build_dataset(records, SPEC, mode="test")
        ]
    )
    assert views.shape == (2, 1, NUM_FRAMES, 64, 64, 3)
    # The records' frames, decoded as the pipeline decodes them, raw.
    decoded = np.array(
        [
            [
                tf.io.decode_jpeg(jpeg, dct_method=SPEC.jpeg_dct_method)
                for jpeg in clip
            ]
            for clip in jpegs
        ]
    )
    assert decoded.shape == (2, NUM_FRAMES, 90, 120, 3)
    model = _model(decoded)
    expected = model.predict(views[:, 0], verbose=0)
    _assert_informative(expected)
    got = model.predict(decoded, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
