"""Per-variant counts, errors and latency, kept in memory by each server.

Each variant keeps its totals since the server started and one bucket per wall-clock second for
the last `WINDOW_S` seconds, so a canary can be judged on the seconds since its step began and
the API can show recent rates. Latencies go into fixed log-spaced buckets (each 25% wider than
the one before, 50 µs to 60 s); percentiles are read as the upper bound of the bucket they fall
in, so they are at most 25% high. Recording is a few integer increments (no locks: the event
loop is single-threaded).
"""

from __future__ import annotations

import bisect
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

WINDOW_S: Final = 900
_FIRST_BOUND_S: Final = 50e-6
_GROWTH: Final = 1.25
BOUNDS_S: Final = tuple(_FIRST_BOUND_S * _GROWTH**i for i in range(int(math.log(60 / 50e-6, _GROWTH)) + 2))


class _Counts:
    __slots__ = ("errors", "histogram", "requests", "total_latency_s")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.total_latency_s = 0.0
        self.histogram = [0] * (len(BOUNDS_S) + 1)

    def add(self, latency_s: float, ok: bool, bucket: int) -> None:
        self.requests += 1
        if not ok:
            self.errors += 1
        self.total_latency_s += latency_s
        self.histogram[bucket] += 1

    def merge(self, other: _Counts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.total_latency_s += other.total_latency_s
        for i, n in enumerate(other.histogram):
            self.histogram[i] += n


class _Second(_Counts):
    __slots__ = ("second",)

    def __init__(self, second: int) -> None:
        super().__init__()
        self.second = second


@dataclass(frozen=True, slots=True)
class StatsSummary:
    requests: int
    errors: int
    mean_s: float | None
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def to_json(self) -> dict[str, Any]:
        def ms(value: float | None) -> float | None:
            return round(value * 1000, 3) if value is not None else None

        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "latency_ms": {
                "mean": ms(self.mean_s),
                "p50": ms(self.p50_s),
                "p95": ms(self.p95_s),
                "p99": ms(self.p99_s),
            },
        }


def summarize(parts: Iterable[_Counts]) -> StatsSummary:
    total = _Counts()
    for part in parts:
        total.merge(part)
    if not total.requests:
        return StatsSummary(0, 0, None, None, None, None)
    return StatsSummary(
        total.requests,
        total.errors,
        total.total_latency_s / total.requests,
        _percentile(total.histogram, total.requests, 0.50),
        _percentile(total.histogram, total.requests, 0.95),
        _percentile(total.histogram, total.requests, 0.99),
    )


def _percentile(histogram: list[int], count: int, q: float) -> float:
    rank = max(1, math.ceil(q * count))
    seen = 0
    for index, n in enumerate(histogram):
        seen += n
        if seen >= rank:
            return BOUNDS_S[index] if index < len(BOUNDS_S) else math.inf
    return math.inf


class VariantStats:
    """One variant's statistics."""

    __slots__ = ("_clock", "_seconds", "total")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.total = _Counts()
        self._seconds: deque[_Second] = deque(maxlen=WINDOW_S)

    def record(self, latency_s: float, ok: bool) -> None:
        bucket = bisect.bisect_left(BOUNDS_S, latency_s)
        now = int(self._clock())
        seconds = self._seconds
        if not seconds or seconds[-1].second != now:
            seconds.append(_Second(now))
        seconds[-1].add(latency_s, ok, bucket)
        self.total.add(latency_s, ok, bucket)

    def since(self, start: float) -> StatsSummary:
        """What was recorded from wall-clock time `start` on (at most `WINDOW_S` seconds back)."""
        return summarize(self.seconds_since(start))

    @property
    def last_second(self) -> int | None:
        """The wall-clock second of the newest record (None: nothing recorded)."""
        return self._seconds[-1].second if self._seconds else None

    def seconds_since(self, start: float) -> list[_Counts]:
        first = int(start)
        return [s for s in self._seconds if s.second >= first]

    def overall(self) -> StatsSummary:
        return summarize([self.total])


class TrafficStats:
    """Every endpoint's variants' statistics, by (endpoint, variant label)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._stats: dict[tuple[str, str], VariantStats] = {}
        self._shadow_dropped: dict[tuple[str, str], int] = {}
        self._shadow_paused: dict[tuple[str, str], int] = {}
        self._shadow_agreement: dict[tuple[str, str], list[int]] = {}

    def of(self, endpoint: str, variant: str) -> VariantStats:
        key = (endpoint, variant)
        stats = self._stats.get(key)
        if stats is None:
            stats = self._stats[key] = VariantStats(self._clock)
        return stats

    def record(self, endpoint: str, variant: str, latency_s: float, ok: bool) -> None:
        self.of(endpoint, variant).record(latency_s, ok)

    def prune(self, active: set[tuple[str, str]]) -> int:
        """Forget variants no endpoint routes to any more once `WINDOW_S` seconds have passed
        without a request (a rolled-back canary stays readable that long); returns how many."""
        horizon = self._clock() - WINDOW_S
        stale = [
            key
            for key, stats in self._stats.items()
            if key not in active and (stats.last_second or 0) < horizon
        ]
        for key in stale:
            del self._stats[key]
            self._shadow_dropped.pop(key, None)
            self._shadow_paused.pop(key, None)
            self._shadow_agreement.pop(key, None)
        return len(stale)

    def shadow_dropped(self, endpoint: str, variant: str) -> None:
        key = (endpoint, variant)
        self._shadow_dropped[key] = self._shadow_dropped.get(key, 0) + 1

    def shadow_paused(self, endpoint: str, variant: str) -> None:
        key = (endpoint, variant)
        self._shadow_paused[key] = self._shadow_paused.get(key, 0) + 1

    def shadow_compared(self, endpoint: str, variant: str, agreed: bool) -> None:
        counts = self._shadow_agreement.setdefault((endpoint, variant), [0, 0])
        counts[0] += int(agreed)
        counts[1] += 1

    def since(self, endpoint: str, variants: Iterable[str], start: float) -> StatsSummary:
        """The summed statistics of several variants of `endpoint` since `start`."""
        parts: list[_Counts] = []
        for name in variants:
            stats = self._stats.get((endpoint, name))
            if stats is not None:
                parts.extend(stats.seconds_since(start))
        return summarize(parts)

    def report(self, endpoint: str, window_s: float = 60.0) -> dict[str, dict[str, Any]]:
        """Per variant: totals since this server started, the last `window_s` seconds, and for
        shadows the copies dropped (queue full), skipped while paused (failing), and the share of
        answers that agreed with the caller's."""
        start = self._clock() - window_s
        report: dict[str, dict[str, Any]] = {}
        for (name, variant), stats in sorted(self._stats.items()):
            if name != endpoint:
                continue
            entry: dict[str, Any] = {
                "total": stats.overall().to_json(),
                "recent": stats.since(start).to_json(),
            }
            agreement = self._shadow_agreement.get((name, variant))
            key = (name, variant)
            if agreement is not None or key in self._shadow_dropped or key in self._shadow_paused:
                agreed, compared = agreement or [0, 0]
                entry["shadow"] = {
                    "dropped": self._shadow_dropped.get(key, 0),
                    "paused": self._shadow_paused.get(key, 0),
                    "compared": compared,
                    "agreement": agreed / compared if compared else None,
                }
            report[variant] = entry
        return report
