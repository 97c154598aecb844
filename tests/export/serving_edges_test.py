"""Requests at the edges: empty batches, frames too small, NaN pixels."""

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf import zoo
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.export import export_saved_model
from tests.export import helpers


def test_an_empty_batch_gives_empty_outputs(loaded):
    video = loaded.signatures["serving_default"](
        video=tf.zeros([0, 2, 8, 8, 3])
    )
    frames = loaded.signatures["classify_frames"](
        frames=tf.zeros([0, 2], tf.string)
    )
    for outputs in (video, frames):
        assert outputs["probabilities"].shape == (0, len(helpers.LABELS))
        assert outputs["top_k_labels"].shape == (0, 5)


def test_frames_smaller_than_the_model_are_refused_by_name(loaded):
    # The tiny model's 3x3x3 valid convolution needs 3 pixels a side.
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        loaded.signatures["serving_default"](video=tf.zeros([1, 4, 2, 9, 3]))
    message = str(error.value)
    assert "video frames are" in message and "needs at least" in message
    assert "[3]" in message or " 3 " in message


def test_nan_pixels_are_refused(loaded):
    video = np.full((1, 4, 8, 8, 3), 100.0, np.float32)
    video[0, 1, 2, 3, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or infinite"):
        loaded.signatures["serving_default"](video=tf.constant(video))


@pytest.mark.slow
def test_a_one_pixel_frame_is_refused_by_a_non_local_model(tmp_path):
    spec = ClipSpec(
        num_frames=2, crop_size=32, jitter_scales=(32, 32), test_crop_size=32
    )
    model = zoo.get_model(
        "c2d_nl5_r50_8x8",
        width_per_group=2,
        num_classes=3,
        clip_spec=spec,
        input_shape=(2, None, None, 3),
    )
    path = export_saved_model(model, str(tmp_path), "nl", warmup=False)
    serving = tf.saved_model.load(path).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="needs at least"):
        serving(video=tf.zeros([1, 2, 1, 1, 3]))
    # Any side the model computes on is served (e.g. the test crop).
    assert serving(video=tf.zeros([1, 2, 32, 32, 3]))[
        "probabilities"
    ].shape == (
        1,
        3,
    )
