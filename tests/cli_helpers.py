"""Running a program as a user does and checking its one-line error.

`assert_user_error(completed, *fragments)` checks what `nonlocal_tf.cli.run`
promises for an ordinary mistake: a non-zero exit, no traceback, and a last
stderr line (log lines aside) `error: ...` naming the problem.

Example:

```python
from tests import cli_helpers

completed = cli_helpers.run_program(
    "convert_weights.py", "--model=c2d_r50", "--checkpoint=missing.pkl",
    "--output=out.weights.h5",
)
line = cli_helpers.assert_user_error(completed, "missing.pkl")
```
"""

import os
import pathlib
import re
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# absl (`E1121 12:00:00.123456 1234 file.py:12] ...`), TensorFlow C++
# (`2026-11-21 12:00:00.123456: W tensorflow/...`, `W0000 00:00:...`) and
# Python warnings (`...: UserWarning: ...` and the source line after it).
_LOG_LINE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    r"|WARNING: All log messages before absl::InitializeLog"
    r"|\S+:\d+: \w*Warning: )"
)


def program_env(**extra):
    """The environment programs run in: quiet TF, no GPU, this checkout."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run_program(name, *args, timeout=300, env=None):
    """Runs `scripts/<name>` with `args`; returns the `CompletedProcess`."""
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / name), *map(str, args)],
        cwd=REPO_ROOT,
        env=env or program_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def non_log_lines(stderr):
    """stderr's lines that are not log lines or warnings."""
    lines = []
    previous_was_warning = False
    for line in stderr.splitlines():
        if not line.strip():
            continue
        if _LOG_LINE.match(line):
            previous_was_warning = "Warning: " in line
            continue
        if previous_was_warning and line.startswith("  "):
            continue  # the source line Python prints under a warning
        previous_was_warning = False
        lines.append(line)
    return lines


def assert_user_error(completed, *fragments, status=1):
    """Asserts a one-line user error naming `fragments`; returns the line.

    Args:
        completed: a `subprocess.CompletedProcess` with text output.
        *fragments: strings the `error:` line must contain (case-sensitive).
        status: the expected exit status.
    """
    report = (
        f"exit {completed.returncode}\nstdout:\n{completed.stdout[-2000:]}\n"
        f"stderr:\n{completed.stderr[-4000:]}"
    )
    assert completed.returncode == status, report
    assert "Traceback" not in completed.stderr, report
    lines = non_log_lines(completed.stderr)
    assert lines, report
    line = lines[-1]
    assert line.startswith("error: "), report
    assert [x for x in lines if x.startswith("error: ")] == [line], report
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}\n{report}"
    return line
