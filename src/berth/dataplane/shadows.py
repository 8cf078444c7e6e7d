"""Shadow traffic: copies of requests sent to shadow variants after the caller's answer is settled.

A copy never delays or fails the caller: it is queued (bounded) and answered by a few workers per
shadow variant; when the queue is full the copy is dropped and counted. Each shadow answer is
timed, counted (errors included) and compared with the caller's answer (the first output that
both have: the share of equal rows is the variant's agreement).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from berth.core.errors import BerthError
from berth.core.tensors import Tensor
from berth.engine.variant_stats import TrafficStats

log = logging.getLogger(__name__)

QUEUE_SIZE: Final = 1024
WORKERS_PER_SHADOW: Final = 16


@dataclass(frozen=True, slots=True)
class ShadowCall:
    endpoint: str
    variant: str
    answer: Callable[[], Awaitable[list[Tensor]]]
    primary: list[Tensor]


class ShadowRunner:
    def __init__(
        self, stats: TrafficStats, *, queue_size: int = QUEUE_SIZE, workers: int = WORKERS_PER_SHADOW
    ) -> None:
        self._stats = stats
        self._queue_size = queue_size
        self._workers = workers
        self._queues: dict[tuple[str, str], asyncio.Queue[ShadowCall]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def submit(self, call: ShadowCall) -> None:
        """Queue a copy (never waits); a full queue drops it."""
        key = (call.endpoint, call.variant)
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

    async def _work(self, queue: asyncio.Queue[ShadowCall]) -> None:
        while True:
            call = await queue.get()
            start = time.perf_counter()
            try:
                outputs = await call.answer()
            except BerthError:
                self._stats.record(call.endpoint, call.variant, time.perf_counter() - start, False)
            except Exception:
                log.exception("shadow %s of %s failed unexpectedly", call.variant, call.endpoint)
                self._stats.record(call.endpoint, call.variant, time.perf_counter() - start, False)
            else:
                self._stats.record(call.endpoint, call.variant, time.perf_counter() - start, True)
                agreed = _agreement(call.primary, outputs)
                if agreed is not None:
                    self._stats.shadow_compared(call.endpoint, call.variant, agreed)
            finally:
                queue.task_done()

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
