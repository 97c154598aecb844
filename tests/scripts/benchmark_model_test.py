"""Smoke run of scripts/benchmark_model.py (--quick).

TensorFlow backend only: the JAX run works the same (`KERAS_BACKEND=jax`)
but its XLA compilation of the training step alone takes about 25 s here.
"""

import json
import subprocess
import sys

import pytest

from tests.scripts import helpers


def test_quick_benchmark_writes_table_and_json(tmp_path):
    backend = "tensorflow"
    output = tmp_path / "model.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(helpers.REPO_ROOT / "scripts" / "benchmark_model.py"),
            "--quick",
            "--models=C2D_NLN_8x8_R50",
            f"--output={output}",
        ],
        cwd=helpers.REPO_ROOT,
        env=dict(helpers.script_env(), KERAS_BACKEND=backend),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"device: {backend}" in completed.stdout
    assert "GFLOP/s" in completed.stdout
    rows = json.loads(output.read_text())
    assert [(r["mode"], r["batch_size"]) for r in rows] == [
        ("inference", 1),
        ("training", 2),
    ]
    for row in rows:
        assert row["backend"] == backend
        assert row["model"] == "c2d_nl5_r50_8x8_pyslowfast"
        assert row["input_shape"] == [4, 32, 32, 3]
        assert row["gmacs_per_clip"] > 0 and row["median_s"] > 0
        factor = 3 if row["mode"] == "training" else 1
        assert row["flops_per_clip_factor"] == factor
        assert row["clips_per_s"] == pytest.approx(
            row["batch_size"] / row["median_s"]
        )
        assert row["achieved_gflops_per_s"] == pytest.approx(
            2 * factor * row["clips_per_s"] * row["gmacs_per_clip"]
        )
    # Same model and clip shape: one MAC count.
    assert rows[0]["gmacs_per_clip"] == rows[1]["gmacs_per_clip"]
