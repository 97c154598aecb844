"""Smoke tests of the checkout's benchmarks (`python -m benchmarks.<name>`)."""

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def run_benchmark(args, *, timeout=600, env=None):
    """Runs `python -m benchmarks.<args[0]> *args[1:]` from the checkout.

    Returns:
        The `subprocess.CompletedProcess` (text stdout and stderr).
    """
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONPATH", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    name, *flags = args
    return subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *map(str, flags)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
