"""Counting inference requests: one call when a request arrives, one when it is answered.

The transport calls `start` (which starts the clock and counts the request in flight), hands the
`Observation` to the data plane, which fills in what answers as it resolves it (`Served`), and
calls `finish` with the outcome. The label children of each (endpoint, model, version, variant)
are looked up once and kept, so a request costs a tuple, a dict look-up and two metric updates;
requests in flight are a plain count (everything runs on the event loop), read when sampled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from prometheus_client import Counter
from starlette.requests import ClientDisconnect

from berth.core.errors import BerthError, ErrorCode
from berth.dataplane.served import Served
from berth.server.metrics.families import MetricFamilies

OK: Final = "ok"
"""The ``code`` label of an answered request; a failed one has its error code."""
CLIENT_CLOSED: Final = "client_closed"
"""The ``code`` label of a request whose caller went away before it was answered."""
MAX_SERIES: Final = 10_000
"""Cached label sets per protocol before the cache starts over (models come and go)."""

Key = tuple[str, str, str, str]


class Observation(Served):
    """One request being answered: what answers it (filled in by the data plane) and when it began."""

    __slots__ = ("started",)

    def __init__(self) -> None:  # Served's fields set here too: one call less per request
        self.endpoint = self.model = self.version = self.variant = ""
        self.started = time.perf_counter()


def outcome(error: BaseException) -> str:
    """The ``code`` label of a request that raised `error`."""
    if isinstance(error, BerthError):
        return error.code.value
    if isinstance(error, asyncio.CancelledError | ClientDisconnect):
        return CLIENT_CLOSED
    return ErrorCode.INTERNAL.value


class RequestCounter(Protocol):
    """What a transport calls per inference request (metrics on, or off)."""

    def start(self) -> Observation | None: ...

    def finish(self, observation: Observation | None, code: str = OK) -> None: ...


class NoRequestMetrics:
    """Metrics off: nothing is created or counted."""

    def start(self) -> Observation | None:
        return None

    def finish(self, observation: Observation | None, code: str = OK) -> None:
        return None


@dataclass(slots=True)
class _Series:
    observe: Callable[[float], None]
    ok: Counter
    counter: Counter
    labels: tuple[str, ...]
    errors: dict[str, Counter] = field(default_factory=dict)


class RequestMetrics:
    """The request metrics of one protocol ("rest", "grpc", "v1")."""

    def __init__(self, families: MetricFamilies, protocol: str) -> None:
        self._families = families
        self._protocol = protocol
        self._series: dict[Key, _Series] = {}
        self.inflight = 0
        """Requests started and not finished (the ``berth_inflight_requests`` gauge reads it)."""

    def start(self) -> Observation:
        self.inflight += 1
        return Observation()

    def finish(self, observation: Observation | None, code: str = OK) -> None:
        if observation is None:
            return
        elapsed = time.perf_counter() - observation.started
        self.inflight -= 1
        key = (observation.endpoint, observation.model, observation.version, observation.variant)
        series = self._series.get(key)
        if series is None:
            series = self._add(key)
        series.observe(elapsed)
        if code == OK:
            series.ok.inc()
            return
        child = series.errors.get(code)
        if child is None:
            child = series.errors[code] = series.counter.labels(*series.labels, code)
        child.inc()

    def forget(self, names: frozenset[str]) -> None:
        """Drop the cached series of deleted endpoints and models (their families remove them)."""
        for key in [k for k in self._series if k[0] in names or k[1] in names]:
            del self._series[key]

    def _add(self, key: Key) -> _Series:
        if len(self._series) >= MAX_SERIES:
            self._series.clear()
        labels = (*key, self._protocol)
        families = self._families
        series = _Series(
            families.request_duration.labels(*labels).observe,
            families.requests.labels(*labels, OK),
            families.requests,
            labels,
        )
        self._series[key] = series
        return series
