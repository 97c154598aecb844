"""Smoke run of `python -m benchmarks.step_breakdown` on a tiny zoo copy."""

import json

import numpy as np
import pytest

from tests.benchmarks import run_benchmark

TINY = ("--input_shape=4,32,32", "--width_per_group=4")


@pytest.mark.slow
def test_paired_parts_write_table_ratios_and_json(tmp_path):
    output = tmp_path / "breakdown.json"
    completed = run_benchmark(
        [
            "step_breakdown",
            "--model=C2D_8x8_R50",
            *TINY,
            "--parts=step,step+host,keras",
            "--rounds=2",
            f"--output={output}",
        ]
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    stdout = completed.stdout
    assert "paired rounds: median" in stdout
    result = json.loads(output.read_text())
    assert list(result["parts"]) == ["step", "step+host", "keras"]
    times = result["times_s"]
    assert all(len(t) == 2 and min(t) > 0 for t in times.values())
    assert all(len(s) == 2 for s in result["steal_s"].values())
    # Only the derived values whose parts were timed.
    assert set(result["derived"]) == {"host_work", "step_over_keras_speed"}
    assert result["derived"]["host_work"] == pytest.approx(
        np.median(times["step+host"]) - np.median(times["step"])
    )
    paired = result["paired"]
    np.testing.assert_allclose(
        paired["ratios"],
        np.array(times["keras"]) / np.array(times["step+host"]),
    )
    assert paired["median"] == pytest.approx(np.median(paired["ratios"]))


def test_unknown_part_is_a_one_line_error():
    completed = run_benchmark(["step_breakdown", "--parts=step,warp"])
    assert completed.returncode != 0
    assert "--parts: unknown or none ['warp']" in completed.stderr
    assert "Traceback" not in completed.stderr
