"""Two steps timed in alternation, their speed ratio with an interval.

On a shared machine the time a call takes moves with what its neighbours
do: the hypervisor gives other guests the CPU for a while ("steal"). A
ratio of medians taken over separate stretches mixes that into the result.
Here each round times both calls back to back (in alternating order), so a
round's ratio sees the same conditions; the result is the median of the
per-round ratios with a bootstrap 95% interval, and the same over the
quiet rounds only (little stolen time in both calls) where the kernel
reports steal (`/proc/stat`, Linux).
"""

import os
import statistics
import time

import numpy as np

# A round counts as quiet when at most this share of each call's wall time
# was stolen.
QUIET_STEAL_SHARE = 0.02


def steal_seconds():
    """CPU seconds stolen from this machine so far (all CPUs), or None.

    Example:
        >>> before = steal_seconds()
    """
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def timed_call(call):
    """`(wall seconds, stolen CPU seconds or None)` of one `call()`."""
    steal = steal_seconds()
    start = time.perf_counter()
    call()
    wall = time.perf_counter() - start
    after = steal_seconds()
    stolen = None if steal is None or after is None else after - steal
    return wall, stolen


def rotated(items, by):
    """`items` turned left by `by` places: round `by`'s order of the calls.

    Turning the order by one each round puts every call first, last and in
    between equally often, so a slow start (or end) of a round falls on all.

    Example:
        >>> rotated(["a", "b", "c"], 1)
        ['b', 'c', 'a']
    """
    items = list(items)
    if not items:
        return items
    by %= len(items)
    return items[by:] + items[:by]


def bootstrap_median_interval(values, *, samples=2000, seed=0):
    """A bootstrap 95% interval of the median of `values`."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    medians = np.median(
        rng.choice(values, size=(samples, values.size), replace=True), axis=1
    )
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(low), float(high)


def paired_ratio(slow_times, fast_times, slow_steals=None, fast_steals=None):
    """Per-round `slow / fast` time ratios: median, interval, quiet rounds.

    Args:
        slow_times: Wall seconds of the reference call per round.
        fast_times: Wall seconds of the call compared, same rounds.
        slow_steals: Stolen CPU seconds during each reference call (None
            entries or None: unknown).
        fast_steals: The same for the compared call.

    Returns:
        A dict: `ratios` (per round), `median`, `interval_95` (bootstrap
        of the median), `quiet_rounds` (indices), `quiet_median` and
        `quiet_interval_95` (None without at least 3 quiet rounds). A
        ratio above 1 means the compared call is the faster.

    Example:
        >>> paired_ratio([2.0, 2.2, 2.1], [1.9, 2.0, 2.1])["median"]
        1.05
    """
    if len(slow_times) != len(fast_times) or not slow_times:
        raise ValueError(
            f"paired_ratio needs the same number (>0) of rounds for both "
            f"calls, got {len(slow_times)} and {len(fast_times)}"
        )
    ratios = [s / f for s, f in zip(slow_times, fast_times, strict=True)]
    result = {
        "ratios": ratios,
        "median": statistics.median(ratios),
        "interval_95": bootstrap_median_interval(ratios),
        "quiet_rounds": [],
        "quiet_median": None,
        "quiet_interval_95": None,
    }
    if slow_steals is None or fast_steals is None:
        return result
    quiet = [
        i
        for i, parts in enumerate(
            zip(slow_times, fast_times, slow_steals, fast_steals, strict=True)
        )
        if _quiet(*parts)
    ]
    result["quiet_rounds"] = quiet
    if len(quiet) >= 3:
        quiet_ratios = [ratios[i] for i in quiet]
        result["quiet_median"] = statistics.median(quiet_ratios)
        result["quiet_interval_95"] = bootstrap_median_interval(quiet_ratios)
    return result


def _quiet(slow_time, fast_time, slow_steal, fast_steal):
    if slow_steal is None or fast_steal is None:
        return False
    return (
        slow_steal <= QUIET_STEAL_SHARE * slow_time
        and fast_steal <= QUIET_STEAL_SHARE * fast_time
    )
