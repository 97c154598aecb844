"""Smoke run of `python -m benchmarks.model --quick` (`make bench` times it).

One run on TensorFlow without XLA, with the library's 2D rewrites and with
Keras's plain 3D ops: the JAX run works the same (`KERAS_BACKEND=jax`,
Keras rows only), and XLA, other strategies and dtype policies are more
settings of the same loop, each a compilation of the whole step. Fast
tests: the ratios from hand-made rows, and `plain_keras_ops` on the layers."""

import json
import os

import pytest

from tests.benchmarks import run_benchmark

STEPS = [
    ("inference", "predict_on_batch", None),
    ("training", "train_on_batch", None),
    ("training", "trainer", "default"),
]
OPS = ["rewritten", "plain"]


def _run_quick(output, *flags, backend="tensorflow"):
    return run_benchmark(
        [
            "model",
            "--quick",
            "--models=C2D_NLN_8x8_R50",
            f"--output={output}",
            *flags,
        ],
        env=dict(os.environ, KERAS_BACKEND=backend),
    )


@pytest.mark.slow
def test_quick_benchmark_writes_table_ratios_and_json(tmp_path):
    backend = "tensorflow"
    output = tmp_path / "model.json"
    completed = _run_quick(
        output,
        "--strategies=default",
        "--jit_compile=false",
        "--ops=rewritten,plain",
        backend=backend,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"device: {backend}" in completed.stdout
    assert "GFLOP/s" in completed.stdout
    assert "speed/train_on_batch" in completed.stdout
    assert "speed/plain ops" in completed.stdout
    results = json.loads(output.read_text())
    rows = results["rows"]
    assert [
        (r["mode"], r["step"], r.get("strategy"), r["jit_compile"], r["ops"])
        for r in rows
    ] == [(*s, False, ops) for ops in OPS for s in STEPS]
    for row in rows:
        assert row["backend"] == backend
        assert row["mixed_precision"] == "float32"
        assert row["compute_dtype"] == "float32"
        assert row["model"] == "c2d_nl5_r50_8x8_pyslowfast"
        assert row["input_shape"] == [4, 32, 32, 3]
        assert row["batch_size"] == 2
        assert row["gmacs_per_clip"] > 0 and row["median_s"] > 0
        assert row["peak_memory_mib"] > 0
        factor = 3 if row["mode"] == "training" else 1
        assert row["flops_per_clip_factor"] == factor
        assert row["clips_per_s"] == pytest.approx(
            row["batch_size"] / row["median_s"]
        )
        assert row["achieved_gflops_per_s"] == pytest.approx(
            2 * factor * row["clips_per_s"] * row["gmacs_per_clip"]
        )
    # Same model and clip shape: one MAC count.
    assert len({r["gmacs_per_clip"] for r in rows}) == 1
    by_step = {(r["step"], r.get("strategy"), r["ops"]): r for r in rows}
    ratios = results["ratios"]
    # Each training row, and the rewritten inference row (its plain ratio).
    assert [(e["step"], e["ops"]) for e in ratios] == [
        ("predict_on_batch", "rewritten"),
        ("train_on_batch", "rewritten"),
        ("trainer", "rewritten"),
        ("train_on_batch", "plain"),
        ("trainer", "plain"),
    ]
    for entry in ratios:
        ops = entry["ops"]
        row = by_step[(entry["step"], entry["strategy"], ops)]
        if ops == "rewritten":
            plain = by_step[(entry["step"], entry["strategy"], "plain")]
            assert entry["speed_over_plain_ops"] == pytest.approx(
                row["clips_per_s"] / plain["clips_per_s"]
            )
        else:
            assert entry["speed_over_plain_ops"] is None
        if entry["step"] == "predict_on_batch":
            assert entry["train_over_inference_gflops"] is None
            assert entry["speed_over_train_on_batch"] is None
            continue
        inference = by_step[("predict_on_batch", None, ops)]
        assert entry["train_over_inference_gflops"] == pytest.approx(
            row["achieved_gflops_per_s"] / inference["achieved_gflops_per_s"]
        )
        if entry["step"] == "trainer":
            keras_row = by_step[("train_on_batch", None, ops)]
            assert entry["speed_over_train_on_batch"] == pytest.approx(
                row["clips_per_s"] / keras_row["clips_per_s"]
            )
        else:
            assert entry["speed_over_train_on_batch"] is None


def test_an_unknown_dtype_policy_names_the_flag_and_the_choices():
    from benchmarks import model as benchmark_model

    with pytest.raises(ValueError, match=r"--mixed_precision: .*\['fp8'\]"):
        benchmark_model._flag_policies(["float32", "fp8"])
    assert benchmark_model._flag_policies(["mixed_bfloat16"]) == [
        "mixed_bfloat16"
    ]


def _hand_made_rows(todo, clips_per_s):
    """Rows of `settings`' settings as `run_setting` makes them."""
    return [
        dict(
            setting,
            mode="inference"
            if setting["step"] == "predict_on_batch"
            else "training",
            clips_per_s=speed,
            achieved_gflops_per_s=10 * speed,
        )
        for setting, speed in zip(todo, clips_per_s, strict=True)
    ]


def test_ratios_give_rewritten_over_plain_ops_speed_of_each_setting():
    from benchmarks import model as benchmark_model

    common = dict(
        models=["C2D_8x8_R50"],
        batch_sizes=[1],
        train_batch_sizes=[2],
        steps=["train_on_batch", "trainer"],
        strategies=["default"],
        jit_settings=[False],
    )
    default = benchmark_model.settings(**common)
    assert [s["ops"] for s in default] == ["rewritten"] * 4
    todo = benchmark_model.settings(**common, ops=["rewritten", "plain"])
    assert todo == default + [dict(s, ops="plain") for s in default]
    # (step, batch): predict 1, predict 2, train_on_batch 2, trainer 2.
    rows = _hand_made_rows(todo, [8.0, 6.0, 3.0, 2.0, 2.0, 4.0, 1.5, 1.6])
    # A row from before --ops existed counts as rewritten.
    del rows[0]["ops"]

    entries = {
        (e["step"], e["batch_size"], e["ops"]): e
        for e in benchmark_model.ratios(rows)
    }

    assert {k: e["speed_over_plain_ops"] for k, e in entries.items()} == {
        ("predict_on_batch", 1, "rewritten"): pytest.approx(8 / 2),
        ("predict_on_batch", 2, "rewritten"): pytest.approx(6 / 4),
        ("train_on_batch", 2, "rewritten"): pytest.approx(3 / 1.5),
        ("trainer", 2, "rewritten"): pytest.approx(2 / 1.6),
        ("train_on_batch", 2, "plain"): None,
        ("trainer", 2, "plain"): None,
    }
    inference = entries[("predict_on_batch", 1, "rewritten")]
    assert inference["train_over_inference_gflops"] is None
    assert inference["speed_over_train_on_batch"] is None
    # The other ratios stay within one ops setting.
    assert entries[("trainer", 2, "plain")][
        "speed_over_train_on_batch"
    ] == pytest.approx(1.6 / 1.5)
    assert entries[("train_on_batch", 2, "plain")][
        "train_over_inference_gflops"
    ] == pytest.approx(1.5 / 4)
    table = benchmark_model.format_ratios(benchmark_model.ratios(rows))
    assert "speed/plain ops" in table.splitlines()[0]
    assert "4.000" in table and "2.000" in table


def test_without_plain_rows_ratios_and_rounds_are_as_before():
    from benchmarks import model as benchmark_model

    todo = benchmark_model.settings(
        ["C2D_8x8_R50"], [1], [2], ["train_on_batch"], [], [False]
    )
    rows = _hand_made_rows(todo, [8.0, 6.0, 3.0])
    assert [e["step"] for e in benchmark_model.ratios(rows)] == [
        "train_on_batch"
    ]
    assert benchmark_model.ratios(rows)[0]["speed_over_plain_ops"] is None
    # Rounds merge per ops: a plain row is not a round of a rewritten one.
    timed = dict(
        rows[0],
        times_s=[1.0],
        peak_memory_mib=1.0,
        gmacs_per_clip=1.0,
        flops_per_clip_factor=1,
    )
    merged = benchmark_model.merge_rounds(
        [timed, dict(timed, ops="plain", times_s=[4.0])]
    )
    assert [(r["ops"], r["median_s"]) for r in merged] == [
        ("rewritten", 1.0),
        ("plain", 4.0),
    ]


def test_plain_keras_ops_swaps_in_the_keras_methods_and_restores_them():
    import keras

    from benchmarks import model_timing
    from nonlocal_tf.layers import FrameConv3D
    from nonlocal_tf.layers import FrameMaxPooling3D

    conv_op = vars(FrameConv3D)["convolution_op"]
    pool_call = vars(FrameMaxPooling3D)["call"]
    with model_timing.plain_keras_ops():
        assert FrameConv3D.convolution_op is keras.layers.Conv3D.convolution_op
        assert FrameMaxPooling3D.call is keras.layers.MaxPooling3D.call
    assert vars(FrameConv3D)["convolution_op"] is conv_op
    assert vars(FrameMaxPooling3D)["call"] is pool_call
    with pytest.raises(RuntimeError), model_timing.plain_keras_ops():
        raise RuntimeError("a failed setting")
    assert vars(FrameConv3D)["convolution_op"] is conv_op
    assert vars(FrameMaxPooling3D)["call"] is pool_call


def _forward_backward_op_types(layer, x):
    """Op types of the TF graph of `layer`'s output and its gradients."""
    import tensorflow as tf

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) ** 2)
        return tape.gradient(loss, [x, *layer.trainable_variables])

    graph = step.get_concrete_function(tf.TensorSpec(x.shape)).graph
    return {op.type for op in graph.get_operations()}


def test_layers_under_plain_keras_ops_run_the_3d_ops_same_outputs():
    import keras
    import numpy as np

    if keras.backend.backend() != "tensorflow":
        pytest.skip("inspects TensorFlow graphs")
    from benchmarks import model_timing
    from nonlocal_tf.layers import FrameConv3D
    from nonlocal_tf.layers import FrameMaxPooling3D

    x = np.random.default_rng(0).normal(size=(2, 5, 6, 7, 3))
    x = x.astype("float32")
    conv = FrameConv3D(4, (3, 1, 1), padding="same")
    pool = FrameMaxPooling3D((3, 3, 3), (2, 2, 2), padding="same")
    rewritten = [np.asarray(layer(x)) for layer in (conv, pool)]
    conv_ops = _forward_backward_op_types(conv, x)
    pool_ops = _forward_backward_op_types(pool, x)
    with model_timing.plain_keras_ops():
        plain = [np.asarray(layer(x)) for layer in (conv, pool)]
        plain_conv_ops = _forward_backward_op_types(conv, x)
        plain_pool_ops = _forward_backward_op_types(pool, x)
    assert "Conv3D" in plain_conv_ops and "Conv3D" not in conv_ops
    assert "MaxPool3D" in plain_pool_ops and "MaxPool3D" not in pool_ops
    np.testing.assert_allclose(plain[0], rewritten[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(plain[1], rewritten[1])
    # Restored: the rewrites again.
    assert "Conv3D" not in _forward_backward_op_types(conv, x)


def test_an_unknown_ops_setting_names_the_flag_and_the_choices():
    from benchmarks import model as benchmark_model

    with pytest.raises(ValueError, match=r"--ops: .*\['fast'\].*plain"):
        benchmark_model._flag_ops(["rewritten", "fast"])
    with pytest.raises(ValueError, match="--ops"):
        benchmark_model._flag_ops([])
    assert benchmark_model._flag_ops(["plain"]) == ["plain"]
