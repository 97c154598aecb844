"""Smoke run of scripts/benchmark_nonlocal.py on tiny shapes."""

import json
import os
import subprocess
import sys


def test_quick_benchmark_writes_table_and_json(repo_root, tmp_path):
    output = tmp_path / "nonlocal.json"
    command = [
        sys.executable,
        str(repo_root / "scripts" / "benchmark_nonlocal.py"),
        "--quick",
        "--backend=tensorflow",
        "--implementations=full,chunked",
        "--modes=forward_backward",
        f"--output={output}",
    ]
    process = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert "chunked / full" in process.stdout
    payload = json.loads(output.read_text())
    assert payload["backend"] == "tensorflow"
    results = payload["results"]
    assert [r["implementation"] for r in results] == ["full", "chunked"]
    for result in results:
        assert "error" not in result, result
        assert result["mode"] == "forward_backward"
        assert result["median_s"] > 0 and result["peak_mib"] >= 0
    assert payload["ratios"][0]["numerator"] == "chunked"
