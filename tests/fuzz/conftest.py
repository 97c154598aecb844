"""The fuzz harnesses' two hypothesis profiles and their iteration table.

- `quick` (the default, what `make test` runs): derandomized, a few examples
  per harness, no example database: the same inputs on every run, seconds
  in all.
- `fuzz` (`make fuzz`, `HYPOTHESIS_PROFILE=fuzz`): random, `FUZZ_EXAMPLES`
  examples per harness (divided by a harness's cost), failures kept in
  `.hypothesis/` so that a rerun replays them first.

Either way every example runs under `harness.Budget` (a deadline and a
memory bound), and the run ends with a table of the examples each harness
ran.
"""

import pytest
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

from tests.fuzz import harness

_SLOW_IS_FINE = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.function_scoped_fixture,
]

settings.register_profile(
    harness.QUICK,
    derandomize=True,
    database=None,
    deadline=None,  # harness.Budget enforces the deadline
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.register_profile(
    harness.FUZZ,
    max_examples=harness.fuzz_examples(),
    derandomize=False,
    database=DirectoryBasedExampleDatabase(".hypothesis/fuzz"),
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.load_profile(harness.profile())
if harness.profile() == harness.FUZZ:
    harness.limit_process_memory()


@pytest.fixture
def budget(request):
    """Runs each example of a harness within its deadline and memory bound;
    counts the examples (reported in the table at the end)."""
    budget = harness.Budget()
    yield budget
    request.node.user_properties.append(("fuzz_examples", budget.examples))
    request.node.user_properties.append(("fuzz_seconds", budget.seconds))
    request.node.user_properties.append(("fuzz_peak_mb", budget.peak_growth))


def pytest_terminal_summary(terminalreporter):
    # The counts are attached at the fixture's teardown, the outcome at the
    # call; under xdist both come back from the workers in the reports.
    counts, outcomes = {}, {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            found = dict(getattr(report, "user_properties", ()))
            if "fuzz_examples" in found:
                counts[report.nodeid] = found
            if getattr(report, "when", None) == "call":
                outcomes[report.nodeid] = report.outcome
    if not counts:
        return
    terminalreporter.section(f"fuzz harnesses ({harness.profile()} profile)")
    terminalreporter.write_line(
        f"{'harness':<66} {'examples':>8} {'seconds':>8} {'ex/s':>7} "
        f"{'peakMB':>7} outcome"
    )
    for nodeid, found in sorted(counts.items()):
        examples, seconds = found["fuzz_examples"], found["fuzz_seconds"]
        rate = examples / seconds if seconds else 0.0
        terminalreporter.write_line(
            f"{nodeid.split('tests/fuzz/')[-1]:<66} {examples:>8} "
            f"{seconds:>8.1f} {rate:>7.1f} {found['fuzz_peak_mb']:>7.0f} "
            f"{outcomes.get(nodeid, '?')}"
        )
