"""Smoke run of `python -m benchmarks.nonlocal_block` on tiny shapes."""

import json
import os

import pytest

from tests.benchmarks import run_benchmark


@pytest.mark.slow
def test_quick_benchmark_writes_table_and_json(repo_root, tmp_path):
    output = tmp_path / "nonlocal.json"
    command = [
        "nonlocal_block",
        "--quick",
        "--backend=tensorflow",
        "--implementations=full,chunked",
        "--modes=forward_backward",
        f"--output={output}",
    ]
    process = run_benchmark(
        command, timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
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


def test_pyslowfast_needs_a_checkout(repo_root, tmp_path):
    command = [
        "nonlocal_block",
        "--quick",
        "--implementations=pyslowfast",
        f"--pyslowfast_dir={tmp_path}",
    ]
    process = run_benchmark(command, timeout=120)
    assert process.returncode != 0
    assert "slowfast/models/nonlocal_helper.py" in process.stderr
    assert str(tmp_path) in process.stderr


def test_pyslowfast_step_runs_the_checkouts_module(tmp_path):
    pytest.importorskip("torch")
    from benchmarks import nonlocal_block_steps as steps

    module = tmp_path / "slowfast" / "models" / "nonlocal_helper.py"
    module.parent.mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    # A stand-in with PySlowFast's constructor; it logs its arguments and
    # every forward's input shape.
    module.write_text(
        "import torch\n"
        "class Nonlocal(torch.nn.Module):\n"
        "    def __init__(self, dim, dim_inner, pool_size=None):\n"
        "        super().__init__()\n"
        "        self.conv = torch.nn.Conv3d(dim, dim, 1)\n"
        f"        open({str(calls)!r}, 'a').write(\n"
        "            f'init {dim} {dim_inner} {pool_size}\\n')\n"
        "    def forward(self, x):\n"
        f"        open({str(calls)!r}, 'a').write(\n"
        "            f'forward {list(x.shape)} {self.training}\\n')\n"
        "        return x + self.conv(x)\n"
    )
    step = steps.pyslowfast_step(
        (2, (3, 4, 5, 6)), "forward_backward", str(tmp_path)
    )
    step()
    step()
    assert calls.read_text().splitlines() == [
        "init 6 3 [1, 2, 2]",
        "forward [2, 6, 3, 4, 5] True",
        "forward [2, 6, 3, 4, 5] True",
    ]
