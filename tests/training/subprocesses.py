"""Starting `tests.training.run_tiny` in child processes."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from tests.conftest import REPO_ROOT

TIMEOUT = 180


def free_port():
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def command(model_dir, result, **flags):
    args = [sys.executable, "-m", "tests.training.run_tiny"]
    args += [f"--model_dir={model_dir}", f"--result={result}"]
    for name, value in flags.items():
        if value is True:
            args.append(f"--{name}")
        elif value is not False:
            args.append(f"--{name}={value}")
    return args


def environment(tf_config=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def run(args, env=None):
    completed = subprocess.run(
        args,
        cwd=REPO_ROOT,
        env=env or environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    if completed.returncode:
        raise AssertionError(
            f"{' '.join(args)} failed ({completed.returncode}):\n"
            f"{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}"
        )
    return completed


def load_result(result):
    with open(result) as f:
        values = json.load(f)
    weights = np.load(str(result).replace(".json", ".npz"))
    values["weights"] = [weights[f"arr_{i}"] for i in range(len(weights))]
    return values
