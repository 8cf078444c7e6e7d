"""Rate limits: a token bucket per principal, in the memory of one server process.

Each principal may send `rate` requests per second on average and `burst` at once. Limits are per
process (a server with N workers or N replicas lets a principal send up to N times the rate): they
protect a server from one noisy caller, they are not a billing meter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

MAX_TRACKED: Final = 100_000
"""Buckets kept at most; past that, the oldest half is forgotten (they refill anyway)."""


class RateLimiter:
    def __init__(self, rate: float, burst: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst or max(1, round(rate)))
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}

    def retry_after(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0 when allowed, else seconds until one is."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED:
                for stale in list(self._buckets)[: MAX_TRACKED // 2]:
                    del self._buckets[stale]
            bucket = self._buckets[key] = [self._burst, now]
        tokens = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self._rate
