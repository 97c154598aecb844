"""`VideoClassifier.fit`, Keras's own loop: on `build_dataset` output and on
in-memory uint8 arrays, with the default `compile()` and Keras callbacks."""

import keras
import numpy as np
import pytest

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import build_dataset
from nonlocal_tf.models import VideoClassifier
from nonlocal_tf.models import no_decay_variables
from tests.data import helpers

SPEC = ClipSpec(
    num_frames=4,
    sampling_rate=1,
    temporal_sampling="pyslowfast",
    crop_size=32,
    jitter_scales=(32, 40),
    test_crop_size=32,
    num_test_clips=1,
    num_test_crops=1,
)


def _model():
    keras.utils.set_random_seed(0)
    return VideoClassifier(
        depth=50, width_per_group=2, num_classes=3, clip_spec=SPEC
    )


def _videos(count, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (count, 6, 40, 48, 3)).astype("uint8")
    labels = np.arange(count) % 3
    return frames, labels


def test_default_compile_is_the_papers_recipe():
    model = _model()
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.nesterov and optimizer.momentum == 0.9
    assert optimizer.weight_decay == 1e-4
    excluded = no_decay_variables(model)
    paths = {v.path for v in excluded}
    assert "res2_0_branch2a_bn/gamma" in paths and "pred/bias" in paths
    assert "pred/kernel" not in paths and "conv1/kernel" not in paths
    assert all(not optimizer._use_weight_decay(v) for v in excluded)
    assert optimizer._use_weight_decay(model.get_layer("pred").kernel)


def test_fit_on_build_dataset_output_with_callbacks(tmp_path):
    frames, labels = _videos(6)
    records = helpers.write_records(
        tmp_path / "train.tfrecord",
        [(f"v{i}", frames[i], [int(labels[i])]) for i in range(6)],
    )
    dataset = build_dataset(
        str(records), SPEC, num_classes=3, batch_size=2, seed=0, repeat=False
    )
    model = _model()
    history = keras.callbacks.History()
    seen = []
    model.fit(
        dataset,
        epochs=2,
        verbose=0,
        callbacks=[
            history,
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: seen.append(epoch)
            ),
        ],
    )
    assert seen == [0, 1]
    assert len(history.history["loss"]) == 2
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.slow
def test_fit_and_evaluate_on_in_memory_uint8_arrays(tmp_path):
    frames, labels = _videos(6)
    clips = frames[:, :4]  # 4 raw frames of 40x48: the test transform
    model = _model()
    before = keras.ops.convert_to_numpy(model.get_layer("pred").kernel)
    checkpoint = tmp_path / "best.weights.h5"
    model.fit(
        clips,
        labels,
        batch_size=3,
        epochs=1,
        verbose=0,
        callbacks=[
            keras.callbacks.ModelCheckpoint(
                str(checkpoint), save_weights_only=True
            )
        ],
    )
    after = keras.ops.convert_to_numpy(model.get_layer("pred").kernel)
    assert not np.array_equal(before, after)
    assert checkpoint.exists()
    loss, accuracy = model.evaluate(clips, labels, batch_size=3, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
