"""The canary verdict, as a function of the canary's and the stable targets' statistics."""

from __future__ import annotations

import pytest

from berth.control.canary import judge
from berth.core.endpoints import CanaryPolicy, TargetRef
from berth.runtime.variant_stats import StatsSummary

POLICY = CanaryPolicy(
    TargetRef("m", version=2),
    steps=(10.0, 50.0),
    interval_s=60,
    min_requests=100,
    max_error_rate_increase=0.02,
    max_latency_ratio=2.0,
)


def summary(requests: int, errors: int = 0, p95_ms: float = 5.0) -> StatsSummary:
    return StatsSummary(requests, errors, p95_ms / 1000, p95_ms / 2000, p95_ms / 1000, p95_ms / 1000)


@pytest.mark.parametrize(
    ("mine", "stable", "elapsed", "action", "fragment"),
    [
        (summary(50, errors=50), summary(500), 5, "wait", ""),  # too few answers to judge
        (summary(100, errors=4), summary(900, errors=9), 5, "rollback", "error rate 4.0% vs 1.0%"),
        (summary(100, errors=2), summary(900, errors=9), 5, "wait", ""),  # +1 point: within 2
        (summary(100, p95_ms=10.5), summary(900, p95_ms=5.0), 5, "rollback", "p95 latency"),
        (summary(100, p95_ms=9.5), summary(900, p95_ms=5.0), 5, "wait", ""),
        (summary(100, p95_ms=50), summary(50, p95_ms=5.0), 5, "wait", ""),  # stable too small to compare
        (summary(100), summary(900), 61, "advance", "50%"),
        (summary(99), summary(900), 61, "wait", ""),
    ],
)
def test_verdicts(
    mine: StatsSummary, stable: StatsSummary, elapsed: float, action: str, fragment: str
) -> None:
    verdict = judge(POLICY, mine, stable, elapsed)

    assert verdict.action == action
    assert fragment in verdict.reason


def test_after_the_last_step_it_is_promoted() -> None:
    last = CanaryPolicy(TargetRef("m", version=2), steps=(10.0, 50.0), step=1, min_requests=10, interval_s=1)

    verdict = judge(last, summary(10), summary(10), 2)

    assert (verdict.action, verdict.reason.endswith("promote")) == ("advance", True)
