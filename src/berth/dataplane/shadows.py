"""Shadow traffic: copies of requests sent to shadow variants after the caller's answer is settled.

A copy never delays or fails the caller: it is queued (bounded) and answered by a few workers per
shadow variant (a shadow takes at most that much of the server's CPU: under load it sees a sample
of the traffic); when the queue is full the copy is dropped and counted. A shadow that keeps
failing is paused (a circuit breaker: after `BREAKER_FAILURES` failures in a row it gets no copies
for `BREAKER_PAUSE_S` seconds, then one copy probes it), so a broken shadow costs next to nothing.
Each shadow answer is timed, counted (errors included) and compared with the caller's answer (the
first output both have: the share of equal answers is the variant's agreement).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from berth.core.errors import BerthError
from berth.core.tensors import Tensor
from berth.core.tracing import OFF, Tracing
from berth.runtime.variant_stats import TrafficStats

if TYPE_CHECKING:
    from opentelemetry.context import Context

log = logging.getLogger(__name__)

QUEUE_SIZE: Final = 256
WORKERS_PER_SHADOW: Final = 4
BREAKER_FAILURES: Final = 20
BREAKER_PAUSE_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class ShadowCall:
    endpoint: str
    variant: str
    answer: Callable[[], Awaitable[list[Tensor]]]
    primary: list[Tensor]
    trace: Context | None = None
    """The context of the request it copies, when that is traced: the shadow's span continues it."""


Dropped = Callable[[str, str], None]
"""Told (endpoint, variant) of each copy dropped because its shadow's queue was full (for metrics)."""


class ShadowRunner:
    def __init__(
        self,
        stats: TrafficStats,
        *,
        queue_size: int = QUEUE_SIZE,
        workers: int = WORKERS_PER_SHADOW,
        dropped: Dropped | None = None,
        tracing: Tracing = OFF,
    ) -> None:
        self._tracing = tracing
        self._stats = stats
        self._dropped = dropped
        self._queue_size = queue_size
        self._workers = workers
        self._queues: dict[tuple[str, str], asyncio.Queue[ShadowCall]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._failures: dict[tuple[str, str], int] = {}
        self._paused_until: dict[tuple[str, str], float] = {}

    def submit(self, call: ShadowCall) -> None:
        """Queue a copy (never waits); a full queue drops it, a paused shadow skips it."""
        key = (call.endpoint, call.variant)
        paused_until = self._paused_until.get(key)
        if paused_until is not None:
            if time.monotonic() < paused_until:
                self._stats.shadow_paused(call.endpoint, call.variant)
                return
            del self._paused_until[key]  # half-open: this copy probes the shadow
            self._failures[key] = BREAKER_FAILURES - 1
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue(self._queue_size)
            self._tasks.extend(
                asyncio.create_task(self._work(queue), name=f"berth-shadow-{call.variant}")
                for _ in range(self._workers)
            )
        try:
            queue.put_nowait(call)
        except asyncio.QueueFull:
            self._stats.shadow_dropped(call.endpoint, call.variant)
            if self._dropped is not None:
                self._dropped(call.endpoint, call.variant)

    def queue_depths(self) -> dict[tuple[str, str], int]:
        """Copies waiting, per (endpoint, shadow variant)."""
        return {key: queue.qsize() for key, queue in self._queues.items()}

    async def _work(self, queue: asyncio.Queue[ShadowCall]) -> None:
        while True:
            call = await queue.get()
            start = time.perf_counter()
            try:
                if call.trace is None:
                    outputs = await call.answer()
                else:
                    attributes = {"berth.endpoint": call.endpoint, "berth.variant": call.variant}
                    with self._tracing.background("berth.shadow", parent=call.trace, attributes=attributes):
                        outputs = await call.answer()
            except BerthError:
                self._failed(call, time.perf_counter() - start)
            except Exception:
                log.exception("shadow %s of %s failed unexpectedly", call.variant, call.endpoint)
                self._failed(call, time.perf_counter() - start)
            else:
                self._failures.pop((call.endpoint, call.variant), None)
                self._stats.record(call.endpoint, call.variant, time.perf_counter() - start, True)
                agreed = _agreement(call.primary, outputs)
                if agreed is not None:
                    self._stats.shadow_compared(call.endpoint, call.variant, agreed)
            finally:
                queue.task_done()

    def _failed(self, call: ShadowCall, seconds: float) -> None:
        key = (call.endpoint, call.variant)
        self._stats.record(call.endpoint, call.variant, seconds, False)
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        if failures >= BREAKER_FAILURES and key not in self._paused_until:
            self._paused_until[key] = time.monotonic() + BREAKER_PAUSE_S
            log.warning(
                "shadow %s of %s failed %d times in a row; paused for %.0f s",
                call.variant,
                call.endpoint,
                failures,
                BREAKER_PAUSE_S,
            )

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) for queued copies to be answered; for tests and shutdown."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self._queues.values())), timeout_s)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._queues.clear()


def _agreement(primary: list[Tensor], shadow: list[Tensor]) -> bool | None:
    """Whether the first output both answers share is equal (None: nothing to compare)."""
    theirs = {t.name: t for t in shadow}
    for mine in primary:
        other = theirs.get(mine.name)
        if other is not None:
            return bool(_equal(mine.data, other.data))
    return None


def _equal(a: Any, b: Any) -> bool:
    left, right = np.asarray(a), np.asarray(b)
    if left.shape != right.shape:
        return False
    if left.dtype.kind in "fc" and right.dtype.kind in "fc":
        return bool(np.allclose(left, right, equal_nan=True))
    return bool(np.array_equal(left, right))
