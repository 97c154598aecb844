"""Child processes kept alive across paired rounds, and their timed calls.

`child_runs` starts a fresh process per measurement; a model whose set-up
(build, tracing, first calls) takes minutes is better built once per
process and timed on request, round after round. The parent starts a
`Child`, reads its set-up report, then sends it one request per timed
step; the child (`serve`) answers each with the wall, stolen and CPU
seconds of its calls. Both speak one JSON object per line: requests on the
child's stdin, answers on its stdout after a prefix (other output of the
libraries it runs is skipped).
"""

import json
import os
import select
import sys
import time

from benchmarks import child_runs
from benchmarks import paired_timing

READY_PREFIX = "KEPT_CHILD_READY "
RESULT_PREFIX = "KEPT_CHILD_RESULT "


class ChildError(RuntimeError):
    """A child died, did not answer in time, or answered nothing."""


def time_calls(call, iters):
    """Wall, stolen and CPU seconds of `iters` calls of `call()`.

    CPU seconds are this process's (all its threads): over the wall
    seconds, they say how many cores a call really kept busy.

    Returns:
        A dict of lists: `times_s`, `steal_s` (None entries: unknown),
        `cpu_s`.

    Example:
        >>> time_calls(lambda: sum(range(10**6)), 2)["times_s"]
        [0.021, 0.020]
    """
    times, steals, cpu = [], [], []
    for _ in range(iters):
        cpu_start = time.process_time()
        wall, stolen = paired_timing.timed_call(call)
        cpu.append(time.process_time() - cpu_start)
        times.append(wall)
        steals.append(stolen)
    return {"times_s": times, "steal_s": steals, "cpu_s": cpu}


def _error_text(error):
    return f"{type(error).__name__}: {error}"


def serve(calls, info, *, warmup=1, extra=None, requests=None):
    """The child's side: warm up `calls`, report, then time on request.

    Runs each call `warmup` times untimed (its first call's seconds go in
    `info["first_call_s"]`; a call that raises is reported in
    `info["step_errors"]` and answers every request with its error), prints
    `info` after `READY_PREFIX`, then for each request line
    `{"step": key, "iters": n}` prints `time_calls(calls[key], n)` (or
    `{"error": ...}`) after `RESULT_PREFIX`, with `extra()`'s fields
    added. An empty line or the end of the input ends it.

    Args:
        calls: `{key: fn}`, each `fn()` one call to time.
        info: A JSON-serialisable dict, reported with the warm-up's results.
        warmup: Untimed calls of each step first (at least 1).
        extra: `fn() -> dict` of fields added to every answer (e.g. the
            process's peak memory).
        requests: Lines to read (default `sys.stdin`).
    """
    extra = extra or dict
    info = dict(info, first_call_s={}, step_errors={})
    errors = info["step_errors"]
    for key, call in calls.items():
        try:
            start = time.perf_counter()
            call()
            info["first_call_s"][key] = time.perf_counter() - start
            for _ in range(warmup - 1):
                call()
        except Exception as error:  # noqa: BLE001 (reported per step)
            errors[key] = _error_text(error)
    child_runs.print_result(READY_PREFIX, {**info, **extra()})
    for line in sys.stdin if requests is None else requests:
        if not line.strip():
            break
        request = json.loads(line)
        key = request["step"]
        if key in errors:
            result = {"error": errors[key]}
        elif key not in calls:
            result = {"error": f"no step {key!r} in this child"}
        else:
            try:
                result = time_calls(calls[key], request["iters"])
            except Exception as error:  # noqa: BLE001 (reported per step)
                result = {"error": _error_text(error)}
        child_runs.print_result(RESULT_PREFIX, {**result, **extra()})


class Child:
    """A `python -m module *args` child that `serve`s, kept alive.

    Its stderr goes to `log_path` (its last lines name a failure).

    Example:
        >>> child = Child("ours", "benchmarks.pyslowfast", ["--worker={...}"],
        ...               env, "/tmp/logs")
        >>> info = child.ready(timeout=600)
        >>> child.request({"step": "trainer@2", "iters": 1}, timeout=600)
        >>> child.close()
    """

    def __init__(self, name, module, args, env, log_dir):
        self.name = name
        self.error = None
        self.log_path = os.path.join(log_dir, name.replace("/", "_") + ".log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in close)
        self._process = child_runs.start_module(
            module, args, env=env, stderr=self._log
        )
        self._buffer = b""

    def ready(self, timeout):
        """The child's set-up report (`serve`'s `info`)."""
        return self._read(READY_PREFIX, timeout)

    def request(self, message, timeout):
        """Sends `message` (a dict) and returns the child's answer."""
        try:
            self._process.stdin.write((json.dumps(message) + "\n").encode())
            self._process.stdin.flush()
        except OSError as error:
            raise ChildError(f"cannot write to the child: {error}") from None
        return self._read(RESULT_PREFIX, timeout)

    def _read(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        stdout = self._process.stdout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                text = line.decode("utf-8", "replace")
                if text.startswith(prefix):
                    return json.loads(text[len(prefix) :])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChildError(f"no answer within {timeout} s")
            ready, _, _ = select.select([stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(stdout.fileno(), 1 << 16)
            if not chunk:
                status = self._process.wait()
                raise ChildError(
                    f"process exited with status {status}: {self.log_tail()}"
                )
            self._buffer += chunk

    def log_tail(self, lines=3):
        """The last `lines` lines of the child's stderr, joined."""
        self._log.flush()
        with open(self.log_path, errors="replace") as log:
            tail = log.read().strip().splitlines()[-lines:]
        return " | ".join(tail) or "(no stderr)"

    def close(self, timeout=60):
        """Ends the child (an empty line; killed if it does not exit)."""
        try:
            self._process.stdin.write(b"\n")
            self._process.stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=timeout)
        except Exception:  # noqa: BLE001 (subprocess.TimeoutExpired)
            self._process.kill()
            self._process.wait()
        self._log.close()
