"""Counting who calls what: each inference answer is one dict increment, flushed every few seconds.

Every transport (the REST fast path and routes, /v1, gRPC) calls `UsageMeter.count` as a request
ends, with the caller and what answered it (`Served`, filled in by the data plane). The count lives
in a dict keyed by (name called, model, version, principal); the caller's team is worked out once
per key and flush interval (`team_of`, from the in-memory access table). Everything runs on the
event loop: no lock.

A background task swaps the dict every `flush_s` seconds (and at shutdown) and adds the counts to
the database in one transaction (`ConsumerStore.add_usage`: ``calls = calls + n``), so replicas
and worker processes add up. A flush that fails is logged and its counts kept for the next one;
memory stays bounded (`max_keys`): past it, new keys are not counted and the loss is logged. A
prediction never waits for, or fails with, a flush.

Cost (``bench/usage_meter_bench.py``): a call on a known key is a tuple, a dict look-up, two
integer adds and a clock read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Final, Protocol

from berth.core.access import Principal
from berth.core.consumers import UsageCount
from berth.core.errors import BerthError
from berth.dataplane.served import Served
from berth.server.metrics.requests import CLIENT_CLOSED, OK, Observation, RequestCounter

log = logging.getLogger(__name__)

MAX_KEYS: Final = 100_000
"""Keys counted since the last flush at most, and keys waiting for a retry at most (each)."""

Key = tuple[str, str, str, str]
"""(name called, model, version, principal)."""
TeamOf = Callable[[Principal, str], str]
"""The team a principal's call to a name counts for ('' when none)."""


class _Entry:
    __slots__ = ("calls", "errors", "last_at", "team")

    def __init__(self, team: str) -> None:
        self.calls = 0
        self.errors = 0
        self.last_at = 0.0
        self.team = team


class UsageCounter(Protocol):
    """What a transport calls as an inference request ends (a meter, or none)."""

    def count(self, principal: Principal, served: Served | None, code: str = OK) -> None: ...


class NoUsage:
    """No meter (a server without a registry to write to, tests): nothing is counted."""

    def count(self, principal: Principal, served: Served | None, code: str = OK) -> None:
        return None


NO_USAGE: Final = NoUsage()


class Observed:
    """A request counter whose `start` always gives an `Observation` (metrics off too): the meter
    reads what answered from it."""

    def __init__(self, inner: RequestCounter) -> None:
        self._inner = inner

    def start(self) -> Observation | None:
        observation = self._inner.start()
        return observation if observation is not None else Observation()

    def finish(self, observation: Observation | None, code: str = OK) -> None:
        self._inner.finish(observation, code)


def no_team(principal: Principal, name: str) -> str:
    """Authentication off: calls count for no team."""
    return ""


class UsageMeter:
    def __init__(
        self,
        add_usage: Callable[[Sequence[UsageCount]], None],
        executor: Executor,
        *,
        team_of: TeamOf = no_team,
        flush_s: float = 5.0,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._add_usage = add_usage
        self._executor = executor
        self._team_of = team_of
        self._flush_s = flush_s
        self._max_keys = max_keys
        self._clock = clock
        self._counts: dict[Key, _Entry] = {}
        self._unsent: dict[tuple[str, str, int, str, str, str], UsageCount] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.dropped = 0
        """Calls not counted because memory was full (the database away for long)."""
        self.flushed = 0
        """Calls written to the database by this meter."""

    # -- the hot path ---------------------------------------------------------------------------------
    def count(self, principal: Principal, served: Served | None, code: str = OK) -> None:
        """Count one request that ended with `code`; one a model answered (or failed in), only."""
        if served is None or not served.version or code == CLIENT_CLOSED:
            return
        key = (served.endpoint, served.model, served.version, principal.name)
        entry = self._counts.get(key)
        if entry is None:
            if len(self._counts) >= self._max_keys:
                self.dropped += 1
                return
            entry = self._counts[key] = _Entry(self._team_of(principal, served.endpoint))
        entry.calls += 1
        if code != OK:
            entry.errors += 1
        entry.last_at = self._clock()

    # -- flushing -------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="berth-usage-flush")

    async def stop(self) -> None:
        """Stop flushing, then flush what is left (once: a database away at shutdown loses it)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()
        if self._unsent:
            log.warning("%d counted calls could not be written at shutdown", _calls(self._unsent))

    async def flush(self) -> int:
        """Write what was counted (and what an earlier flush could not); the calls written."""
        async with self._lock:
            counts, self._counts = self._counts, {}
            dropped = self.dropped
            for count in _usage(counts):
                self._keep(count)
            if self.dropped > dropped:
                log.warning(
                    "%d calls not counted: too many callers waiting to be written", self.dropped - dropped
                )
            if not self._unsent:
                return 0
            batch = list(self._unsent.values())
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._executor, self._add_usage, batch)
            except BerthError as exc:
                log.warning("cannot write consumer usage (kept for the next flush): %s", exc.message)
                return 0
            except Exception:
                log.exception("cannot write consumer usage (kept for the next flush)")
                return 0
            self._unsent = {}
            written = _calls_of(batch)
            self.flushed += written
            return written

    def _keep(self, count: UsageCount) -> None:
        seen = self._unsent.get(count.key)
        if seen is not None:
            self._unsent[count.key] = UsageCount(
                *count.key[:5],
                count.day,
                seen.calls + count.calls,
                seen.errors + count.errors,
                max(seen.last_at, count.last_at),
            )
        elif len(self._unsent) < self._max_keys:
            self._unsent[count.key] = count
        else:
            self.dropped += count.calls

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            await self.flush()

    @property
    def pending(self) -> int:
        """Calls counted and not written yet."""
        return sum(e.calls for e in self._counts.values()) + _calls(self._unsent)


def _usage(counts: dict[Key, _Entry]) -> list[UsageCount]:
    """The counts as rows; each is dated by its last call (a flush spans seconds)."""
    found = []
    for (endpoint, model, version, principal), entry in counts.items():
        last_at = datetime.fromtimestamp(entry.last_at, UTC)
        day = last_at.date().isoformat()
        number = int(version)
        found.append(
            UsageCount(
                endpoint, model, number, principal, entry.team, day, entry.calls, entry.errors, last_at
            )
        )
    return found


def _calls(unsent: dict[tuple[str, str, int, str, str, str], UsageCount]) -> int:
    return _calls_of(unsent.values())


def _calls_of(counts: Iterable[UsageCount]) -> int:
    return sum(c.calls for c in counts)
