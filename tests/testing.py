"""Shared test helpers for layers and models, in the spirit of Keras's
(private) `run_layer_test`; backend-agnostic (TensorFlow, JAX, torch).

Use from any test module:

    from tests.testing import run_layer_test, run_model_saving_test

`run_layer_test` checks, in order: config and serialization round trips,
weight counts after `build`, the symbolic call (shape and dtype), an eager
call, one `fit` step, mixed-precision calls, and a `.keras` save / reload
with `safe_mode=True`. `run_model_saving_test` does the last check for a
whole model. Each helper raises `AssertionError` with the failing check named.
"""

import json
import os
import tempfile

import keras
import numpy as np

MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


def random_inputs(shape, seed=0, scale=1.0, dtype="float32"):
    """Standard-normal NumPy inputs of `shape` times `scale`."""
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(shape)).astype(dtype)


def to_numpy(x):
    """A backend tensor (or nested structure) as NumPy float arrays."""
    if isinstance(x, (list, tuple)):
        return type(x)(to_numpy(t) for t in x)
    x = keras.ops.convert_to_numpy(x)
    return x.astype("float32") if x.dtype.name == "bfloat16" else x


def _shape_matches(actual, expected):
    actual, expected = tuple(actual), tuple(expected)
    if len(actual) != len(expected):
        return False
    return all(
        e is None or a == e for a, e in zip(actual, expected, strict=True)
    )


def check_serialization(layer):
    """get_config/from_config and serialize/deserialize (through JSON)."""
    config = layer.get_config()
    json.dumps(config)  # must be JSON-serializable
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config, (
        "from_config(get_config()) changed the config:\n"
        f"{clone.get_config()}\n!=\n{config}"
    )
    serialized = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(serialized))
    )
    assert type(restored) is type(layer), (
        f"deserialize_keras_object gave {type(restored)}, not {type(layer)}"
    )
    assert restored.get_config() == config, (
        "serialize/deserialize changed the config:\n"
        f"{restored.get_config()}\n!=\n{config}"
    )


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape,
    expected_output_shape,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    input_scale=1.0,
    run_training=True,
    run_mixed_precision=True,
    mixed_precision_input_scale=1.0,
    run_saving=True,
    seed=0,
):
    """Runs the standard checks on one layer configuration.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_shape: full, concrete input shape, batch included (test
            `None` dims separately, by calling one built model on inputs of
            two sizes).
        expected_output_shape: full output shape (`None` entries match
            anything).
        expected_num_trainable_weights: checked after `build` when given.
        expected_num_non_trainable_weights: checked after `build` when given.
        input_scale: multiplies the standard-normal eager inputs.
        run_training: run one `fit` step (MSE to a zero target) and check the
            loss is finite and some trainable weight changed.
        run_mixed_precision: call under `mixed_float16` and `mixed_bfloat16`
            and check the output dtype, that it is finite and that every
            variable stays float32.
        mixed_precision_input_scale: input scale for the mixed-precision calls
            (large values check the numerics, e.g. 1e3).
        run_saving: save a one-layer model to `.keras`, reload it with
            `safe_mode=True` and compare outputs (exact equality).
        seed: NumPy seed of the inputs.

    Returns:
        The eager output of the float32 layer, as NumPy.

    Example:

        run_layer_test(
            NonLocalBlock, {"inner_dim": 4}, (2, 4, 6, 6, 8),
            (2, 4, 6, 6, 8), expected_num_trainable_weights=10,
            expected_num_non_trainable_weights=2)
    """
    input_shape = tuple(input_shape)
    x = random_inputs(input_shape, seed=seed, scale=input_scale)

    # 1. Serialization round trips, before and after building.
    layer = layer_cls(**init_kwargs)
    check_serialization(layer)

    # 2. Weight counts after build.
    layer.build(input_shape)
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights, (
            f"{len(layer.trainable_weights)} trainable weights, expected "
            f"{expected_num_trainable_weights}: "
            f"{[w.path for w in layer.trainable_weights]}"
        )
    if expected_num_non_trainable_weights is not None:
        count = len(layer.non_trainable_weights)
        assert count == expected_num_non_trainable_weights, (
            f"{count} non-trainable weights, expected "
            f"{expected_num_non_trainable_weights}: "
            f"{[w.path for w in layer.non_trainable_weights]}"
        )
    check_serialization(layer)

    # 3. Symbolic call on a fresh layer.
    symbolic = keras.KerasTensor(input_shape, dtype="float32")
    fresh = layer_cls(**init_kwargs)
    output_spec = fresh(symbolic)
    assert _shape_matches(output_spec.shape, expected_output_shape), (
        f"symbolic output shape {output_spec.shape}, expected "
        f"{expected_output_shape}"
    )
    assert output_spec.dtype == fresh.compute_dtype, (
        f"symbolic output dtype {output_spec.dtype}, expected "
        f"{fresh.compute_dtype}"
    )

    # 4. Eager call.
    output = to_numpy(layer(x))
    assert _shape_matches(output.shape, expected_output_shape), (
        f"eager output shape {output.shape}, expected {expected_output_shape}"
    )
    assert np.all(np.isfinite(output)), "eager output is not finite"

    model = None
    if run_training or run_saving:
        inputs = keras.Input(batch_shape=(None,) + input_shape[1:])
        model = keras.Model(inputs, layer_cls(**init_kwargs)(inputs))

    # 5. One fit step.
    if run_training:
        before = [to_numpy(w) for w in model.trainable_weights]
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        target = np.zeros(output.shape, "float32")
        history = model.fit(x, target, batch_size=len(x), epochs=1, verbose=0)
        loss = history.history["loss"][0]
        assert np.isfinite(loss), f"fit loss is not finite: {loss}"
        after = [to_numpy(w) for w in model.trainable_weights]
        changed = [
            not np.array_equal(b, a) for b, a in zip(before, after, strict=True)
        ]
        assert any(changed), "one fit step changed no trainable weight"

    # 6. Mixed precision.
    if run_mixed_precision:
        x_large = random_inputs(
            input_shape, seed=seed, scale=mixed_precision_input_scale
        )
        for policy in MIXED_POLICIES:
            mixed = layer_cls(**{**init_kwargs, "dtype": policy})
            result = mixed(x_large)
            compute_dtype = keras.DTypePolicy(policy).compute_dtype
            assert keras.backend.standardize_dtype(result.dtype) == (
                compute_dtype
            ), f"{policy}: output dtype {result.dtype}, not {compute_dtype}"
            assert np.all(np.isfinite(to_numpy(result))), (
                f"{policy}: output not finite for inputs of scale "
                f"{mixed_precision_input_scale}"
            )
            wrong = [
                (w.path, w.dtype) for w in mixed.weights if w.dtype != "float32"
            ]
            assert not wrong, f"{policy}: variables not float32: {wrong}"

    # 7. .keras save and reload.
    if run_saving:
        run_model_saving_test(model, x)
    return output


def run_model_saving_test(model, inputs, atol=0.0, custom_objects=None):
    """Saves `model` to `.keras`, reloads it with `safe_mode=True`, compares.

    Checks that the reloaded model has the same class, the same weights
    (by position and value) and gives the same outputs on `inputs` (exactly,
    unless `atol` is given). The file goes to a temporary directory that is
    removed afterwards.

    Args:
        model: a built Keras model.
        inputs: inputs accepted by `model.predict_on_batch` / `model(...)`.
        atol: absolute tolerance of the output comparison (0: identical).
        custom_objects: passed to `keras.saving.load_model`.

    Returns:
        The reloaded model.

    Example:

        model = keras.Model(inputs, NonLocalBlock()(inputs))
        run_model_saving_test(model, np.ones((1, 4, 8, 8, 16), "float32"))
    """
    expected = to_numpy(model(inputs, training=False))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        reloaded = keras.saving.load_model(
            path, custom_objects=custom_objects, safe_mode=True
        )
    assert type(reloaded) is type(model), (
        f"reloaded a {type(reloaded)}, saved a {type(model)}"
    )
    assert len(reloaded.weights) == len(model.weights), (
        f"reloaded {len(reloaded.weights)} weights, saved {len(model.weights)}"
    )
    for saved, loaded in zip(model.weights, reloaded.weights, strict=True):
        np.testing.assert_array_equal(
            to_numpy(loaded), to_numpy(saved), err_msg=f"weight {saved.path}"
        )
    actual = to_numpy(reloaded(inputs, training=False))
    for got, want in zip(_flatten(actual), _flatten(expected), strict=True):
        np.testing.assert_allclose(
            got, want, rtol=0, atol=atol, err_msg="reloaded model output"
        )
    return reloaded


def _flatten(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def randomise_batch_norms(model, seed=0):
    """Random, well-scaled BN parameters and statistics (finite outputs).

    The convolutions keep their He initialisation; every batch norm (the
    zero-initialised final gammas and the non-local blocks' too) gets gamma
    and variance in [0.5, 1.5] and beta and mean from N(0, 0.1), so no part
    of the network is hidden by a zero and activations stay finite.
    """
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        leaf = weight.path.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, weight.shape)
        elif leaf in ("beta", "moving_mean"):
            value = rng.normal(0.0, 0.1, weight.shape)
        else:
            continue
        weight.assign(value.astype(weight.dtype))
