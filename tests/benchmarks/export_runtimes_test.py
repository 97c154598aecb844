"""Smoke run of `python -m benchmarks.export_runtimes --quick`.

C2D_8x8_R50 at width 4 on 4 x 32 x 32 clips, exported once per format and
timed at batch 1 in a process per runtime (`make bench` runs it at full
width). Most of its time is the exports (the SavedModel's tracing, tf2onnx)
and TensorFlow's start in three processes.
"""

import json
import re

import pytest

from tests.benchmarks import run_benchmark

RUNTIMES = ["keras", "saved_model", "onnx", "openvino", "litert"]
PARITY = 1e-4


@pytest.mark.slow
def test_quick_benchmark_times_every_runtime_with_parity(tmp_path):
    output = tmp_path / "export_runtimes.json"
    completed = run_benchmark(
        ["export_runtimes", "--quick", "--threads=1", f"--output={output}"]
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert re.search(
        r"^cpu: .* AVX2 (yes|no), AVX-512 (yes|no)", completed.stdout, re.M
    )
    assert "vs SavedModel" in completed.stdout
    assert "FAILED" not in completed.stdout, completed.stdout
    table = completed.stdout.split("threads set/used")[1]
    for runtime in RUNTIMES:
        assert f" {runtime} " in table
    results = json.loads(output.read_text())
    assert results["settings"]["input_shape"] == [4, 32, 32]
    assert results["settings"]["width_per_group"] == 4
    entries = results["entries"]
    assert [e["runtime"] for e in entries] == RUNTIMES
    for entry in entries:
        assert entry["model"] == "C2D_8x8_R50"
        assert entry["batch_size"] == 1
        assert entry["errors"] == []
        assert entry["rounds_ok"] == 1
        assert entry["clips_per_s"] > 0
        assert entry["peak_memory_mib"] > 0
        assert entry["threads_set"] == 1
        assert entry["max_abs_diff"] < PARITY
        assert entry["top1_agreement"] == 1.0
        ratio = entry["speed_over_saved_model"]["median"]
        assert ratio > 0
        # Only the TensorFlow runtimes load TensorFlow.
        assert entry["tensorflow_imported"] == (
            entry["runtime"] in ("keras", "saved_model")
        )
    by_runtime = {e["runtime"]: e for e in entries}
    assert by_runtime["saved_model"]["speed_over_saved_model"]["median"] == 1
    for runtime in ("keras", "saved_model", "onnx", "openvino"):
        assert by_runtime[runtime]["threads_reported"] == 1
    assert by_runtime["litert"]["threads_reported"] is None
    export = results["exports"]["C2D_8x8_R50"]
    assert {f: e["error"] for f, e in export["formats"].items()} == {
        f: None for f in RUNTIMES[1:]
    }
