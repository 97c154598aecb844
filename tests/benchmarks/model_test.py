"""Smoke run of `python -m benchmarks.model --quick` (`make bench` times it).

One run on TensorFlow without XLA: the JAX run works the same
(`KERAS_BACKEND=jax`, Keras rows only), and XLA, other strategies and dtype
policies are more settings of the same loop, each a compilation of the
whole step.
"""

import json
import os

import pytest

from tests.benchmarks import run_benchmark

STEPS = [
    ("inference", "predict_on_batch", None),
    ("training", "train_on_batch", None),
    ("training", "trainer", "default"),
]


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


def test_quick_benchmark_writes_table_ratios_and_json(tmp_path):
    backend = "tensorflow"
    output = tmp_path / "model.json"
    completed = _run_quick(
        output, "--strategies=default", "--jit_compile=false", backend=backend
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"device: {backend}" in completed.stdout
    assert "GFLOP/s" in completed.stdout
    assert "speed/train_on_batch" in completed.stdout
    results = json.loads(output.read_text())
    rows = results["rows"]
    assert [
        (r["mode"], r["step"], r.get("strategy"), r["jit_compile"])
        for r in rows
    ] == [(*s, False) for s in STEPS]
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
    by_step = {
        (r["step"], r.get("strategy"), r["jit_compile"]): r for r in rows
    }
    ratios = results["ratios"]
    assert len(ratios) == 2
    for entry in ratios:
        row = by_step[(entry["step"], entry["strategy"], entry["jit_compile"])]
        inference = by_step[("predict_on_batch", None, entry["jit_compile"])]
        assert entry["train_over_inference_gflops"] == pytest.approx(
            row["achieved_gflops_per_s"] / inference["achieved_gflops_per_s"]
        )
        if entry["step"] == "trainer":
            keras_row = by_step[("train_on_batch", None, entry["jit_compile"])]
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
