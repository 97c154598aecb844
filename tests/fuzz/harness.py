"""What every fuzz harness shares: profiles, the per-example budget, byte
mutations.

A harness passes when each input gives a valid result or one of the
library's own error types. It fails on any other exception, on an example
that runs past its deadline (a hang), and on one that grows the process's
peak memory by more than its memory bound (an input that makes the library
allocate what its size does not justify). A hang in native code, which a
signal cannot interrupt, ends the process with every thread's traceback
(`faulthandler`), and pytest reports the crash.

Environment (read when the profiles are registered):
    HYPOTHESIS_PROFILE: "quick" (default) or "fuzz".
    FUZZ_EXAMPLES: examples per harness in the fuzz profile (default 2000;
        a harness divides it by its cost).
    FUZZ_DEADLINE: seconds one example may take (default 60 quick, 20 fuzz).
    FUZZ_MEMORY_MB: the peak-RSS growth one example may cause (default 1024).
"""

import contextlib
import faulthandler
import os
import resource
import signal
import struct
import threading
import time

from hypothesis import settings
from hypothesis import strategies as st

QUICK = "quick"
FUZZ = "fuzz"
# The fuzz profile caps the process's data segment (heap and anonymous
# maps) so that an allocation bomb fails in the fuzzer instead of pushing a
# shared machine into the OOM killer.
_FUZZ_DATA_LIMIT = 8 << 30


def profile():
    return os.environ.get("HYPOTHESIS_PROFILE", QUICK)


def fuzz_examples():
    return int(os.environ.get("FUZZ_EXAMPLES", "2000"))


def examples(quick, cost=1):
    """Settings of one harness: `quick` examples in the quick profile, the
    fuzz profile's count divided by `cost` (seconds per example, roughly,
    relative to the cheapest harnesses) in the fuzz profile."""
    if profile() == FUZZ:
        return settings(max_examples=max(quick, fuzz_examples() // cost))
    return settings(max_examples=quick)


def limit_process_memory():
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = _FUZZ_DATA_LIMIT
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise KeyError(field)


def _reset_peak_rss():
    """Resets the kernel's peak-RSS mark (Linux), so that each example's own
    peak is measured and a failing one fails again when replayed. Returns
    False where it cannot (then the process-wide high-water mark is used)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb():
    try:
        return _status_mb("VmHWM")
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class ExampleHang(BaseException):  # noqa: N818
    """Raised by the deadline's alarm. A BaseException, so that library code
    catching `Exception` cannot turn a hang into a clean error."""


class Budget:
    """The per-example deadline and memory bound, and the example count.

    Example:
        >>> budget = Budget()
        >>> budget.check(lambda: int("x"), ValueError)
        ValueError("invalid literal for int() with base 10: 'x'")
    """

    def __init__(self):
        default = 60 if profile() == QUICK else 20
        self.deadline = float(os.environ.get("FUZZ_DEADLINE", default))
        self.memory_mb = float(os.environ.get("FUZZ_MEMORY_MB", "1024"))
        self.examples = 0
        self.seconds = 0.0
        self.peak_growth = 0.0

    @contextlib.contextmanager
    def _deadline(self):
        # A hard stop for native code the alarm cannot interrupt.
        faulthandler.dump_traceback_later(3 * self.deadline + 30, exit=True)
        alarm = threading.current_thread() is threading.main_thread()
        if alarm:

            def hang(signum, frame):
                raise ExampleHang()

            previous = signal.signal(signal.SIGALRM, hang)
            signal.setitimer(signal.ITIMER_REAL, self.deadline)
        try:
            yield
        except ExampleHang:
            raise AssertionError(
                f"hang: the example ran past its {self.deadline:.0f} s deadline"
            ) from None
        finally:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            faulthandler.cancel_dump_traceback_later()

    def check(self, fn, *allowed):
        """`fn()`'s result, or the exception it raised if of an `allowed`
        type; any other exception propagates (the harness fails)."""
        self.examples += 1
        before = _status_mb("VmRSS") if _reset_peak_rss() else _peak_rss_mb()
        start = time.monotonic()
        try:
            with self._deadline():
                try:
                    return fn()
                except allowed as error:
                    return error
        finally:
            self.seconds += time.monotonic() - start
            after = _peak_rss_mb()
            self.peak_growth = max(self.peak_growth, after - before)
            if after - before > self.memory_mb:
                raise AssertionError(
                    f"unbounded memory: one example grew the peak RSS by "
                    f"{after - before:.0f} MB (bound {self.memory_mb:.0f} MB)"
                )


# Byte mutations of a valid file: what a fuzzer does to a seed.

INTERESTING_INTS = (
    0,
    1,
    -1,
    2,
    255,
    256,
    65535,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**63 - 1,
    10**12,
)


def interesting_ints():
    return st.sampled_from(INTERESTING_INTS) | st.integers(-(2**63), 2**63 - 1)


def _packed(value, width, order):
    return (value % (1 << (8 * width))).to_bytes(width, order)


@st.composite
def mutated(draw, seed, max_steps=4):
    """`seed` after a few random edits: byte flips and overwrites,
    interesting integers written in place, cuts, insertions, deletions,
    duplicated spans."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_steps))):
        size = len(data)
        at = draw(st.integers(0, max(size - 1, 0)))
        kind = draw(
            st.sampled_from(
                ["flip", "byte", "int", "cut", "insert", "delete", "repeat"]
            )
        )
        if kind == "flip" and size:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and size:
            data[at] = draw(st.integers(0, 255))
        elif kind == "int":
            width = draw(st.sampled_from([1, 2, 4, 8]))
            order = draw(st.sampled_from(["little", "big"]))
            value = _packed(draw(interesting_ints()), width, order)
            data[at : at + width] = value
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "repeat":
            span = bytes(data[at : at + draw(st.integers(1, 256))])
            data[at:at] = span * draw(st.integers(1, 8))
    return bytes(data)


def seeded_bytes(seed, max_size=4096):
    """A mutation of `seed`, or arbitrary bytes: the two inputs every byte
    reader is fuzzed with."""
    return mutated(seed) | st.binary(max_size=max_size)


def le_uint(value, width):
    return struct.pack({4: "<I", 8: "<Q"}[width], value)
