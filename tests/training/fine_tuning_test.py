"""Fine-tuning: frozen parts stay exactly as they were, the head's rate.

A narrow zoo model (width 2, res2..res5 with non-local blocks) is trained
for 2 steps on random clips; the test compares every variable before and
after, one by one.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf import training
from nonlocal_tf import zoo
from nonlocal_tf.models import fine_tuning

SHAPE = (4, 32, 32, 3)
CLASSES = 3


def _model():
    keras.utils.set_random_seed(0)
    model = zoo.get_model(
        "C2D_NLN_8x8_R50",
        width_per_group=2,
        num_classes=CLASSES,
        input_shape=SHAPE,
    )
    # Non-zero gammas, so every variable gets a gradient.
    for weight in model.weights:
        if weight.path.endswith("gamma"):
            weight.assign(np.ones(weight.shape, weight.dtype))
    return model


def _dataset_fn(context):
    rng = np.random.default_rng(0)
    clips = rng.normal(size=(8,) + SHAPE).astype("float32")
    labels = rng.integers(0, CLASSES, 8)
    batch = context.get_per_replica_batch_size(4)
    return tf.data.Dataset.from_tensor_slices((clips, labels)).batch(batch)


def _train(tmp_path, **overrides):
    model = _model()
    before = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
    config = training.TrainConfig(
        model_dir=str(tmp_path),
        batch_size_per_replica=4,
        train_steps=2,
        base_learning_rate=0.1,
        weight_decay=0.0,
        progress_bar=False,
        **overrides,
    )
    result = training.train(config, lambda: model, _dataset_fn)
    after = {
        v.path: keras.ops.convert_to_numpy(v) for v in result.model.weights
    }
    changed = {k for k in before if not np.array_equal(before[k], after[k])}
    return result.model, changed, before, after


def _frozen_paths(model, predicate):
    return {
        v.path
        for layer in model.layers
        if predicate(layer)
        for v in layer.weights
    }


@pytest.mark.parametrize(
    "mode",
    ["backbone", "stages:stem,res2,res3", "bn"],
)
def test_each_freeze_mode_leaves_exactly_the_frozen_variables(mode, tmp_path):
    model, changed, _, _ = _train(tmp_path, freeze=mode)
    all_paths = {v.path for v in model.weights}
    if mode == "backbone":
        frozen = all_paths - {"pred/kernel", "pred/bias"}
    elif mode == "bn":
        frozen = {
            v.path
            for layer in model.layers
            for sub in layer._flatten_layers()
            if isinstance(sub, keras.layers.BatchNormalization)
            for v in sub.weights
        }
        assert any("nonlocal_conv3_1" in p for p in frozen)
        assert any(p.endswith("moving_mean") for p in frozen)
    else:
        frozen = _frozen_paths(
            model,
            lambda layer: (
                layer.name.split("_")[0]
                in ("conv1", "res", "res2", "res3", "nonlocal")
                and not layer.name.startswith(
                    ("res4", "res5", "nonlocal_conv4")
                )
                and not layer.name.startswith("nonlocal_conv5")
            ),
        )
        assert "res3_0_branch2a/kernel" in frozen
        assert "res_conv1_bn/moving_mean" in frozen
        assert not any(p.startswith("res4") for p in frozen)
    assert frozen and not frozen & changed
    # Everything else trains: every trainable variable outside the frozen
    # part moved, and so did the BN statistics outside it.
    trainable = {v.path for v in model.trainable_weights}
    assert trainable == all_paths - frozen - _nontrainable_outside(
        model, frozen
    )
    assert trainable <= changed


def _nontrainable_outside(model, frozen):
    return {v.path for v in model.non_trainable_weights if v.path not in frozen}


def test_unfrozen_training_changes_everything(tmp_path):
    model, changed, _, _ = _train(tmp_path)
    assert {v.path for v in model.trainable_weights} <= changed


def test_head_learning_rate_multiplier_scales_the_head_step(tmp_path):
    # Frozen backbone, SGD without momentum: a step is -rate * gradient.
    # The gradient of `pred` is the same at the first step of both runs, so
    # the head's first step is 10x as long with the multiplier.
    def first_step(path, multiplier):
        model = _model()
        start = keras.ops.convert_to_numpy(model.get_layer("pred").kernel)
        config = training.TrainConfig(
            model_dir=str(path),
            batch_size_per_replica=4,
            train_steps=1,
            base_learning_rate=0.01,
            momentum=0.0,
            weight_decay=0.0,
            freeze="backbone",
            head_learning_rate_multiplier=multiplier,
            progress_bar=False,
        )
        result = training.train(config, lambda: model, _dataset_fn)
        end = result.model.get_layer("pred").kernel
        return keras.ops.convert_to_numpy(end) - start

    plain = first_step(tmp_path / "plain", 1.0)
    fast = first_step(tmp_path / "fast", 10.0)
    assert np.abs(plain).max() > 0
    np.testing.assert_allclose(fast, 10.0 * plain, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize(
    "mode, message",
    [
        ("stages:res6", "unknown part"),
        ("heads", "expected one of"),
    ],
)
def test_bad_freeze_modes_name_the_choices(mode, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        fine_tuning.parse_freeze(mode)
    with pytest.raises(ValueError, match="freeze="):
        training.TrainConfig(
            model_dir=str(tmp_path),
            batch_size_per_replica=1,
            train_steps=1,
            freeze=mode,
        )


@pytest.mark.parametrize("field", ["train_steps", "epochs", "steps_per_epoch"])
def test_a_negative_length_names_its_own_setting(field, tmp_path):
    values = {"epochs": 2, "steps_per_epoch": 3, field: -1}
    if field == "train_steps":
        values = {"train_steps": -1}
    with pytest.raises(ValueError, match=f"^{field} must be >= 1, got -1"):
        training.TrainConfig(
            model_dir=str(tmp_path), batch_size_per_replica=1, **values
        )
