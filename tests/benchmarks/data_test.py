"""Smoke runs of `python -m benchmarks.data --quick` (pipeline, engines)."""

import json

import pytest

from tests.benchmarks import run_benchmark


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


def test_benchmark_engines_quick(tmp_path):
    pytest.importorskip("apache_beam", reason="the `beam` extra")
    output = tmp_path / "engines.json"
    run = run_benchmark(
        [
            "data",
            "--quick",
            "--nopipeline",
            "--prepare_engines",
            "--data_service",
            f"--output={output}",
        ],
    )
    assert run.returncode == 0, run.stderr
    assert "beam / local" in run.stdout
    assert "service_2_workers" in run.stdout
    report = json.loads(output.read_text())
    engines = report["prepare_engines"]["engines"]
    assert set(engines) == {"local", "beam_direct"}
    assert all(e["video_seconds_per_second"] > 0 for e in engines.values())
    assert set(report["data_service"]["readers"]) == {
        "local",
        "service_1_worker",
        "service_2_workers",
    }
