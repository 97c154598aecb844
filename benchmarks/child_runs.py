"""A benchmark's measurement in a fresh Python process of the same code.

The benchmarks time each setting in a child process (its own peak memory,
no state left from the last setting). The child must import the
`nonlocal_tf` and `benchmarks` this process runs, not one the working
directory or an installed copy may hold, and hands its result back as one
prefixed JSON line on stdout.
"""

import json
import os
import subprocess
import sys

import nonlocal_tf


def run_module(module, args, *, env=None, timeout=None):
    """`python -m module *args`, importing this process's packages.

    Args:
        module: Dotted module name with an `if __name__ == "__main__"` entry.
        args: Command-line arguments.
        env: The child's environment (default this process's).
        timeout: Seconds, as `subprocess.run` (raises `TimeoutExpired`).

    Returns:
        The `subprocess.CompletedProcess`, with text stdout and stderr.
    """
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=_child_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_module(module, args, *, env=None, stderr=None):
    """`python -m module *args` left running, its stdin and stdout piped.

    For a child kept alive across rounds (it reads requests on stdin and
    answers on stdout); imports this process's packages, as `run_module`.

    Args:
        module: Dotted module name with an `if __name__ == "__main__"` entry.
        args: Command-line arguments.
        env: The child's environment (default this process's).
        stderr: A file for the child's stderr (default: inherited).

    Returns:
        The `subprocess.Popen`, binary pipes, unbuffered.
    """
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=_child_environment(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        bufsize=0,
    )


def _child_environment(env):
    roots = [
        os.path.dirname(os.path.dirname(os.path.abspath(package.__file__)))
        for package in (nonlocal_tf, sys.modules[__package__])
    ]
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys(p for p in (*roots, env.get("PYTHONPATH")) if p)
    )
    return env


def print_result(prefix, value):
    """The child's side: `value` as one `prefix`ed JSON line on stdout."""
    print(prefix + json.dumps(value), flush=True)


def read_result(stdout, prefix):
    """The last `prefix`ed JSON line of a child's stdout, or None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(prefix):
            return json.loads(line[len(prefix) :])
    return None
