"""The training loop in this process (default strategy): files, summaries,
mixed precision, XLA, initial weights, resume of a finished run, bad input."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf import training
from nonlocal_tf.training import trainer
from nonlocal_tf.training.checkpointing import load_run_weights
from tests.training import tiny


def _config(model_dir, **overrides):
    values = dict(
        model_dir=str(model_dir),
        batch_size_per_replica=4,
        epochs=2,
        steps_per_epoch=2,
        base_learning_rate=0.1,
        lr_boundaries=[3],
        log_every_steps=2,
        progress_bar=False,
        extra={"model": "tiny"},
    )
    values.update(overrides)
    return training.TrainConfig(**values)


def _train(config, **kwargs):
    step_losses = []
    result = training.train(
        config,
        lambda: tiny.tiny_model(batch_norm=True, dropout=0.5),
        tiny.make_dataset_fn(4, shuffle=True),
        callbacks=[lambda step, logs: step_losses.append(logs["loss"])],
        **kwargs,
    )
    return result, step_losses


def test_run_writes_config_summaries_and_weights(tmp_path):
    config = _config(tmp_path)
    result, step_losses = _train(config)
    assert result.step == 4 and result.resumed_from is None
    assert int(result.optimizer.iterations) == 4

    recorded = json.loads((tmp_path / "config.json").read_text())
    assert training.TrainConfig.from_dict(recorded) == config
    assert recorded["run"]["global_batch_size"] == 4
    assert recorded["extra"] == {"model": "tiny"}

    scalars = trainer.read_scalars(str(tmp_path / "train"))
    assert {"loss", "accuracy", "learning_rate", "examples_per_second"} <= set(
        scalars
    )
    assert [step for step, _ in scalars["loss"]] == [2, 4]
    # Interval means of the per-step losses the callbacks saw.
    np.testing.assert_allclose(
        [value for _, value in scalars["loss"]],
        [np.mean(step_losses[:2]), np.mean(step_losses[2:])],
        rtol=1e-6,
    )
    # Rate of the last step of each interval: steps 1 and 3 (0-based) of
    # StepSchedule(0.1, boundaries=[3]).
    np.testing.assert_allclose(
        [value for _, value in scalars["learning_rate"]],
        [0.1, 0.01],
        rtol=1e-6,
    )
    assert all(value > 0 for _, value in scalars["examples_per_second"])
    accuracy = [value for _, value in scalars["accuracy"]]
    assert all(0.0 <= value <= 1.0 for value in accuracy)

    reloaded = tiny.tiny_model(batch_norm=True, dropout=0.5)
    reloaded.load_weights(str(tmp_path / "final.weights.h5"))
    for a, b in zip(reloaded.weights, result.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not list(tmp_path.glob(".*tmp*"))

    # Same command again: nothing to do, same weights, resumed at the end.
    again, _ = _train(config)
    assert again.resumed_from == 4 and again.step == 4 and again.history == []
    for a, b in zip(again.model.weights, result.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_training_reduces_loss(tmp_path):
    config = _config(
        tmp_path,
        epochs=6,
        steps_per_epoch=6,
        lr_boundaries=[],
        log_every_steps=6,
    )
    result = training.train(
        config, tiny.tiny_model, tiny.make_dataset_fn(4, shuffle=True)
    )
    losses = [entry["loss"] for entry in result.history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.history[-1]["accuracy"] > 0.6


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_step(tmp_path, policy):
    config = _config(tmp_path, mixed_precision=policy, epochs=1)
    result, step_losses = _train(config)
    assert all(np.isfinite(step_losses))
    conv = result.model.get_layer("conv")
    assert conv.compute_dtype == policy.split("_")[1]
    assert conv.kernel.dtype == "float32"
    if policy == "mixed_float16":
        assert isinstance(result.optimizer, keras.optimizers.LossScaleOptimizer)
        assert result.history[-1]["loss_scale"] > 0
    assert keras.config.dtype_policy().name == "float32"


def test_initial_weights_callable_and_path(tmp_path):
    calls = []

    def constant_head(model):
        calls.append(model)
        kernel = model.get_layer("head").kernel
        kernel.assign(np.full(kernel.shape, 0.25, np.float32))

    config = _config(
        tmp_path / "a", epochs=1, steps_per_epoch=1, base_learning_rate=1e-9
    )
    result, _ = _train(config, initial_weights=constant_head)
    assert len(calls) == 1
    np.testing.assert_allclose(
        result.model.get_layer("head").kernel.numpy(), 0.25, atol=1e-6
    )
    # Resuming does not apply initial weights again.
    _train(config, initial_weights=lambda model: calls.append(model))
    assert len(calls) == 1

    # A previous run's directory initialises a new run: its final weights,
    # or (a run stopped early) the model part of its latest checkpoint.
    stopped = tmp_path / "stopped"
    shutil.copytree(tmp_path / "a", stopped)
    os.remove(stopped / "final.weights.h5")
    for source in (tmp_path / "a", stopped):
        target = tmp_path / f"b_{source.name}"
        result, _ = _train(
            _config(
                target, epochs=1, steps_per_epoch=1, base_learning_rate=1e-9
            ),
            initial_weights=lambda m, s=source: load_run_weights(m, str(s)),
        )
        np.testing.assert_allclose(
            result.model.get_layer("head").kernel.numpy(), 0.25, atol=1e-6
        )
    with pytest.raises(FileNotFoundError, match="no final.weights.h5"):
        load_run_weights(result.model, str(tmp_path / "none"))


def test_multi_label_training_with_label_smoothing(tmp_path):
    clips, labels = tiny.synthetic_examples()
    multi_hot = np.eye(tiny.NUM_CLASSES, dtype=np.float32)[labels]
    multi_hot[::3, 0] = 1.0

    def dataset_fn(context):
        return tf.data.Dataset.from_tensor_slices((clips, multi_hot)).batch(
            context.get_per_replica_batch_size(4), drop_remainder=True
        )

    config = _config(tmp_path, multi_label=True, label_smoothing=0.1, epochs=1)
    result = training.train(
        config,
        lambda: tiny.tiny_model(activation="sigmoid"),
        dataset_fn,
    )
    assert np.isfinite(result.history[-1]["loss"])


def test_bad_datasets_are_rejected_with_clear_errors(tmp_path):
    clips, labels = tiny.synthetic_examples()

    def wrong_batch(context):
        return tf.data.Dataset.from_tensor_slices((clips, labels)).batch(
            3, drop_remainder=True
        )

    with pytest.raises(ValueError, match="per-replica batch is 4"):
        training.train(_config(tmp_path / "a"), tiny.tiny_model, wrong_batch)

    def not_pairs(context):
        return tf.data.Dataset.from_tensor_slices(clips).batch(4)

    with pytest.raises(ValueError, match=r"\(clips, labels\) pairs"):
        training.train(_config(tmp_path / "b"), tiny.tiny_model, not_pairs)

    def empty(context):
        dataset = tf.data.Dataset.from_tensor_slices((clips, labels))
        return dataset.take(0).batch(4, drop_remainder=True)

    with pytest.raises(ValueError, match="produced no elements"):
        training.train(_config(tmp_path / "c"), tiny.tiny_model, empty)


def test_config_validation():
    with pytest.raises(ValueError, match="train_steps, or epochs"):
        training.TrainConfig(model_dir="x", batch_size_per_replica=1)
    with pytest.raises(ValueError, match="mixed_precision"):
        training.TrainConfig(
            model_dir="x",
            batch_size_per_replica=1,
            train_steps=1,
            mixed_precision="float16",
        )
    config = training.TrainConfig(
        model_dir="x", batch_size_per_replica=2, epochs=3, steps_per_epoch=5
    )
    assert config.train_steps == 15
    assert training.TrainConfig.from_json(config.to_json()) == config


def test_stateful_augmentation_still_checkpoints_with_a_warning(
    tmp_path, caplog
):
    clips, labels = tiny.synthetic_examples()

    def noisy(context):
        dataset = tf.data.Dataset.from_tensor_slices((clips, labels))
        dataset = dataset.map(
            lambda clip, label: (clip + tf.random.uniform([]), label)
        )
        return dataset.batch(4, drop_remainder=True)

    config = _config(tmp_path, epochs=1)
    with caplog.at_level("WARNING"):
        result = training.train(config, tiny.tiny_model, noisy)
    assert result.step == 2
    assert (tmp_path / "checkpoints" / "state-2.index").exists()
    assert "RandomUniform is stateful" in caplog.text
    assert "resumed run draws different augmentations" in caplog.text


def _xla_compiled_functions(step):
    """Names of the functions in `step`'s graph that XLA must compile."""
    graph = step.get_concrete_function().graph.as_graph_def()
    return [
        function.signature.name
        for function in graph.library.function
        if function.attr["_XlaMustCompile"].b
    ]


def _train_with_batch_norm(config):
    step_losses = []
    result = training.train(
        config,
        lambda: tiny.tiny_model(batch_norm=True),
        tiny.make_dataset_fn(4, shuffle=True),
        callbacks=[lambda step, logs: step_losses.append(logs["loss"])],
    )
    return result, step_losses


def test_jit_compiled_training_follows_the_same_trajectory(tmp_path):
    # XLA compiles each replica's step (forward, loss, gradients, momentum
    # update); the graph executor's run of the same step is the reference.
    plain, plain_losses = _train_with_batch_norm(_config(tmp_path / "plain"))
    jit, jit_losses = _train_with_batch_norm(
        _config(tmp_path / "jit", jit_compile=True)
    )
    assert len(jit_losses) == 4
    np.testing.assert_allclose(jit_losses, plain_losses, rtol=1e-5)
    for a, b in zip(jit.model.weights, plain.model.weights, strict=True):
        np.testing.assert_allclose(
            a.numpy(), b.numpy(), atol=1e-5, err_msg=a.path
        )

    strategy = tf.distribute.get_strategy()
    built = {
        jit_compile: trainer.build_training_step(
            _config(tmp_path / "built", jit_compile=jit_compile),
            lambda: tiny.tiny_model(batch_norm=True),
            tiny.make_dataset_fn(4),
            strategy,
        )
        for jit_compile in (False, True)
    }
    assert _xla_compiled_functions(built[True].step)
    assert not _xla_compiled_functions(built[False].step)
