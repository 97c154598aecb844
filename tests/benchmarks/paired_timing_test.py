"""paired_timing: per-round ratios, their interval and the quiet rounds."""

import numpy as np
import pytest

from benchmarks import paired_timing


def test_ratio_median_interval_and_quiet_rounds():
    slow = [2.0, 2.2, 3.0, 2.1, 2.4]
    fast = [1.0, 2.0, 1.5, 2.1, 2.0]
    steal_slow = [0.0, 0.01, 0.5, 0.0, 0.0]
    steal_fast = [0.0, 0.0, 0.0, 0.0, 0.5]
    result = paired_timing.paired_ratio(slow, fast, steal_slow, steal_fast)
    ratios = [2.0, 1.1, 2.0, 1.0, 1.2]
    np.testing.assert_allclose(result["ratios"], ratios)
    assert result["median"] == pytest.approx(np.median(ratios))
    low, high = result["interval_95"]
    assert min(ratios) <= low <= result["median"] <= high <= max(ratios)
    # Rounds 2 and 4 lost more than 2% of a call's time to steal.
    assert result["quiet_rounds"] == [0, 1, 3]
    assert result["quiet_median"] == pytest.approx(1.1)
    low, high = result["quiet_interval_95"]
    assert 1.0 <= low <= 1.1 <= high <= 2.0


def test_unknown_steal_gives_no_quiet_rounds():
    result = paired_timing.paired_ratio([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    assert result["median"] == 2.0
    assert result["quiet_rounds"] == [] and result["quiet_median"] is None
    with_none = paired_timing.paired_ratio(
        [1.0] * 3, [1.0] * 3, [None] * 3, [0.0] * 3
    )
    assert with_none["quiet_rounds"] == []


def test_too_few_quiet_rounds_give_no_quiet_median():
    result = paired_timing.paired_ratio(
        [1.0] * 4, [1.0] * 4, [0.0, 0.0, 1.0, 1.0], [0.0] * 4
    )
    assert result["quiet_rounds"] == [0, 1]
    assert result["quiet_median"] is None


def test_mismatched_rounds_are_refused():
    with pytest.raises(ValueError, match="same number"):
        paired_timing.paired_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="same number"):
        paired_timing.paired_ratio([], [])


def test_timed_call_measures_wall_and_steal():
    wall, stolen = paired_timing.timed_call(lambda: sum(range(10000)))
    assert wall > 0
    steal = paired_timing.steal_seconds()
    assert (stolen is None) == (steal is None)
    if stolen is not None:
        assert stolen >= 0
