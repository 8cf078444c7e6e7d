"""The token bucket behind the per-principal rate limit, on a clock the test moves: the burst, the
refill at the rate, the Retry-After it computes, and the long-run rate over any pattern of requests.

(`test_limits.py` checks the same limiter through a real server: the 429, its headers, gRPC.)
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from berth.server.auth.rate_limit import MAX_TRACKED, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_burst_then_one_request_per_token_as_the_bucket_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)

    assert [limiter.retry_after("ann") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.retry_after("ann") == 0.5  # one token at 2 per second
    clock.now += 0.25
    assert limiter.retry_after("ann") == 0.25  # half a token has come back; a refusal takes none
    clock.now += 0.25
    assert limiter.retry_after("ann") == 0.0
    assert limiter.retry_after("ann") == 0.5


def test_each_principal_has_its_own_bucket() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=Clock())

    assert limiter.retry_after("ann") == 0.0
    assert limiter.retry_after("ann") == 1.0
    assert limiter.retry_after("ben") == 0.0


def test_an_idle_bucket_refills_to_the_burst_and_no_further() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10.0, burst=4, clock=clock)
    for _ in range(4):
        limiter.retry_after("ann")
    clock.now += 3_600.0

    assert [limiter.retry_after("ann") for _ in range(5)] == [0.0] * 4 + [0.1]


def test_without_a_burst_the_bucket_holds_one_seconds_worth() -> None:
    limiter = RateLimiter(rate=3.0, clock=Clock())

    assert [limiter.retry_after("ann") == 0.0 for _ in range(4)] == [True, True, True, False]


def test_past_the_tracked_limit_the_oldest_half_is_forgotten_with_a_full_bucket() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=Clock())
    for key in range(MAX_TRACKED):
        limiter.retry_after(str(key))
    assert limiter.retry_after("0") == 1.0  # still tracked, spent

    limiter.retry_after("new")

    assert limiter.retry_after("0") == 0.0  # forgotten: a new, full bucket
    assert limiter.retry_after(str(MAX_TRACKED - 1)) == 1.0  # among the newer half: still spent


@given(
    rate=st.floats(min_value=0.01, max_value=1_000.0),
    burst=st.integers(min_value=1, max_value=50),
    gaps=st.lists(st.floats(min_value=0.0, max_value=5.0), max_size=300),
)
def test_over_any_pattern_of_requests_at_most_the_burst_plus_the_rate_are_allowed(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = Clock()
    started = clock.now
    limiter = RateLimiter(rate=rate, burst=burst, clock=clock)
    allowed = 0
    for gap in gaps:
        clock.now += gap
        allowed += limiter.retry_after("ann") == 0.0
        assert allowed <= burst + rate * (clock.now - started) + 1e-6


@given(
    rate=st.floats(min_value=0.01, max_value=1_000.0),
    burst=st.integers(min_value=1, max_value=5),
    spent=st.integers(min_value=0, max_value=10),
    waited=st.floats(min_value=0.0, max_value=1.0),
)
def test_a_refused_caller_that_waits_the_retry_after_is_let_in_and_not_before(
    rate: float, burst: int, spent: int, waited: float
) -> None:
    clock = Clock()
    limiter = RateLimiter(rate=rate, burst=burst, clock=clock)
    for _ in range(burst + spent):
        limiter.retry_after("ann")
    clock.now += waited / rate  # part of a token's time
    retry_after = limiter.retry_after("ann")
    if retry_after == 0.0:
        return  # that wait was enough
    assert 0.0 < retry_after <= 1.0 / rate + 1e-9
    assume(retry_after > 1e-6)  # a shorter wait is below the clock's float resolution

    clock.now += retry_after * (1 - 1e-6)
    assert limiter.retry_after("ann") > 0.0
    clock.now += retry_after * 2e-6
    assert limiter.retry_after("ann") == 0.0
