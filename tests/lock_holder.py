"""Another process that holds a folder's lock, for the one-writer tests.

`held_elsewhere(directory, purpose)` starts a light Python process (no
TensorFlow) that takes `nonlocal_tf.locks.hold(directory, purpose)` the way a
training run, an export or a preparation does, and keeps it until the test
kills it (`kill -9`, or at the end of the block).

Example:

```python
from tests import lock_holder

with lock_holder.held_elsewhere(tmp_path / "run", "training") as holder:
    with pytest.raises(locks.LockedError, match=f"pid {holder.pid}"):
        ...
```
"""

import contextlib
import signal
import subprocess
import sys

from tests import cli_helpers

PROGRAM = "holder.py"
_HOLD = f"""
import sys
sys.argv[0] = {PROGRAM!r}
from nonlocal_tf import locks
with locks.hold(sys.argv[1], sys.argv[2]) as held:
    print("holding" if held else "not held", flush=True)
    sys.stdin.read()
"""
# Takes the lock and exits 0, or prints the refusal and exits 3.
_TRY = """
import sys
from nonlocal_tf import locks
try:
    with locks.hold(sys.argv[1], "trying"):
        print("taken", flush=True)
except locks.LockedError as error:
    print(error, flush=True)
    sys.exit(3)
"""


@contextlib.contextmanager
def held_elsewhere(directory, purpose="training"):
    """Yields the `Popen` of a process holding `directory`'s lock."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(directory), purpose],
        cwd=cli_helpers.REPO_ROOT,
        env=cli_helpers.program_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line == "holding", (line, process.stderr.read()[-2000:])
        yield process
    finally:
        kill(process)
        process.stdin.close()
        process.stdout.close()
        process.stderr.close()


def kill(process):
    """`kill -9` of `process`; waits for it to be gone."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


def try_elsewhere(directory):
    """Tries the lock in another process: `(took it, its output line)`."""
    completed = subprocess.run(
        [sys.executable, "-c", _TRY, str(directory)],
        cwd=cli_helpers.REPO_ROOT,
        env=cli_helpers.program_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode in (0, 3), completed.stderr[-2000:]
    return completed.returncode == 0, completed.stdout.strip()
