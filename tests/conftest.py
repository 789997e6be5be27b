"""Every valid combination of options is baked once per test session and shared."""

from __future__ import annotations

import time

import pytest

from .baking import COMBINATIONS, bake, combination_id

# Every check of one bake runs in one xdist worker (make test-fast runs two): each
# combination is baked once, not once per worker.
BAKES = [
    pytest.param(c, id=combination_id(c), marks=pytest.mark.xdist_group(combination_id(c)))
    for c in COMBINATIONS
]


@pytest.fixture(scope="session", params=BAKES)
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(answers, path) of one bake per valid combination, shared by every check."""
    combination = request.param
    return combination, bake(tmp_path_factory.mktemp("bake"), **combination)


SESSION_STARTED = time.monotonic()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Each tier's test count and test time (set-up, call and tear-down added up over the
    workers) at the end, and the session's wall-clock time."""
    tiers: dict[str, list[float]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if isinstance(report, pytest.TestReport):
                tier = tiers.setdefault("slow" if "slow" in report.keywords else "fast", [0, 0])
                tier[0] += report.when == "call"
                tier[1] += report.duration
    for name, (count, seconds) in sorted(tiers.items()):
        terminalreporter.write_line(f"{name} tier: {count:.0f} tests, {seconds:.1f} s of test time")
    wall = time.monotonic() - SESSION_STARTED
    terminalreporter.write_line(f"whole session: {wall:.1f} s wall clock")


# The slow tier in two halves of about equal length, one per xdist worker, each half's tests
# one after another: the default bake's suite and MLServer on Seldon's (about 20 minutes each
# on two cores); the open-licence bake's suite, both platforms', the demo and the set-up
# checks. Each test starts servers of its own on free ports.
SLOW_HALVES = {"seldon-alibi-tuning": "slow-1", "seldon-mlserver": "slow-1"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow"):
            half = next((g for key, g in SLOW_HALVES.items() if key in item.nodeid), "slow-2")
            item.add_marker(pytest.mark.xdist_group(half))
