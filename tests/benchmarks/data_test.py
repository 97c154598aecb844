"""Smoke run of `python -m benchmarks.data --quick` (`make bench` times it)."""

import json

import pytest

from tests.benchmarks import run_benchmark


@pytest.mark.slow
def test_benchmark_quick(tmp_path):
    output = tmp_path / "bench.json"
    run = run_benchmark(
        [
            "data",
            "--quick",
            f"--output={output}",
        ],
    )
    assert run.returncode == 0, run.stderr
    assert "train_8x224x224_rate8" in run.stdout
    assert "train_32x224x224_rate2" in run.stdout
    assert "s of video per s" in run.stdout
    report = json.loads(output.read_text())
    assert set(report["clips_per_second"]) == {
        "bare_decode_8_jpegs",
        "train_8x224x224_rate8",
        "train_32x224x224_rate2",
    }
    assert report["prepare"]["videos"] == 2
    assert all(r["median"] > 0 for r in report["clips_per_second"].values())
