"""Tiny videos, records and a script runner for the end-to-end script tests.

Each video is 16 frames of 36 x 44 pixels whose dominant colour is its class
(red, green, blue), with per-pixel noise so that views differ.
"""

import os
import pathlib
import subprocess
import sys

import numpy as np

from tests.data.helpers import write_video

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
CLASS_NAMES = ("red", "green", "blue")
FRAMES, HEIGHT, WIDTH = 16, 36, 44


def colour_video(path, class_index, seed):
    """Writes a video whose channel `class_index` dominates; returns path."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 90, (FRAMES, HEIGHT, WIDTH, 3)).astype(np.uint8)
    frames[..., class_index] += 140
    # A bright square moving left to right: something to attend to.
    for t in range(FRAMES):
        x = 2 + 2 * t
        frames[t, 12:22, x : x + 10] = 250
    return write_video(path, frames, fps=10)


def script_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    return env


def run_script(name, *args, timeout=300):
    """Runs `scripts/<name>` with flags; asserts success; returns stdout."""
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / name), *map(str, args)],
        cwd=REPO_ROOT,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, (
        f"{name} failed ({completed.returncode}):\n"
        f"{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"
    )
    return completed.stdout
