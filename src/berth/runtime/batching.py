"""Adaptive batching: concurrent requests to one version run as one ``predict``.

The policy is continuous batching, counted in rows, not requests:

- an idle version runs a request at once (a lone request never waits);
- while a batch runs, arriving requests queue; when it finishes, the queue is taken up to
  ``max_batch_size`` rows and run as the next batch — so the batch size follows the load;
- under load (the previous batch had company), a batch waits for more rows: up to a quarter of the
  time this version's batches take to run (measured, a moving average), at least one tick of the
  event loop's timers (`MIN_WAIT_S`), at most ``max_latency_ms``, and no longer than it takes
  ``max_batch_size`` rows to queue. A model whose every call costs milliseconds whatever its size (a
  random forest) then runs full batches instead of alternating full and nearly empty ones; a model
  answering in microseconds waits one tick, which fills its batches where requests reach the loop
  one at a time (grpc.aio accepts one call per trip through the loop: 3 rows a batch without the
  tick, bench/README.md); an idle version never waits, nor one whose ``max_latency_ms`` is below a
  tick;
- a request of ``max_batch_size`` rows or more is never held back: it runs on its own;
- each request is validated before it joins a batch, gets back only the outputs it asked for, and
  if a merged batch fails, its requests are retried one by one, so one bad request never fails
  the others batched with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import ModelOutput

Array = np.ndarray[Any, Any]
MIN_WAIT_S = 0.0005
"""The shortest wait for rows under load: the event loop's timers tick in milliseconds, so a shorter
one would cost as much; a version whose ``max_latency_ms`` is below it never waits."""
Execute = Callable[[list[Array], tuple[str, ...]], Awaitable[ModelOutput]]
"""Runs the model on conformed input arrays (one per signature input) and the named outputs."""
ObserveRows = Callable[[int], None]
"""Told the rows of every predict call a batcher makes (for metrics)."""


def _ignore(rows: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class BatchingConfig:
    """How one version batches. Stored per version under ``runtime_config["batching"]``."""

    enabled: bool = True
    max_batch_size: int = 64
    max_latency_ms: float = 2.0

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.max_latency_ms < 0:
            raise BerthError(
                ErrorCode.INVALID_REQUEST, "batching needs max_batch_size >= 1 and max_latency_ms >= 0"
            )

    def updated(self, overrides: dict[str, Any] | None) -> BatchingConfig:
        """A copy with a version's own settings applied (unknown keys are an error)."""
        if not overrides:
            return self
        unknown = set(overrides) - {"enabled", "max_batch_size", "max_latency_ms"}
        if unknown:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"unknown batching settings {sorted(unknown)}")
        return BatchingConfig(
            enabled=bool(overrides.get("enabled", self.enabled)),
            max_batch_size=int(overrides.get("max_batch_size", self.max_batch_size)),
            max_latency_ms=float(overrides.get("max_latency_ms", self.max_latency_ms)),
        )


@dataclass(eq=False, slots=True)
class _Pending:
    arrays: list[Array]
    rows: int
    outputs: tuple[str, ...]
    future: asyncio.Future[ModelOutput]

    def fits_with(self, other: _Pending) -> bool:
        """Arrays concatenate along rows only when every other dimension agrees."""
        return all(a.shape[1:] == b.shape[1:] for a, b in zip(self.arrays, other.arrays, strict=True))


@dataclass(eq=False)
class BatchStats:
    """Counters for monitoring: batches run, requests and rows they held."""

    batches: int = 0
    requests: int = 0
    rows: int = 0
    sizes: deque[int] = field(default_factory=lambda: deque(maxlen=1024))


class AdaptiveBatcher:
    def __init__(
        self, execute: Execute, config: BatchingConfig, observe_rows: ObserveRows | None = None
    ) -> None:
        self._execute = execute
        self._config = config
        self._observe_rows = observe_rows or _ignore
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._full = asyncio.Event()
        self._busy = False
        self._loaded = False  # the last batch had more than one request
        self._run_time_s = 0.0  # moving average of the time a batch takes to run
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = BatchStats()

    @property
    def config(self) -> BatchingConfig:
        return self._config

    @property
    def queued_requests(self) -> int:
        """Requests waiting for the next batch."""
        return len(self._queue)

    async def submit(self, arrays: list[Array], rows: int, outputs: Sequence[str]) -> ModelOutput:
        """Predict `outputs` for one request's conformed input arrays of `rows` rows."""
        names = tuple(outputs)
        if not self._config.enabled or rows >= self._config.max_batch_size:
            self._observe_rows(rows)
            return await self._execute(arrays, names)
        future: asyncio.Future[ModelOutput] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(arrays, rows, names, future))
        self._queued_rows += rows
        if self._queued_rows >= self._config.max_batch_size:
            self._full.set()
        if not self._busy:
            self._start()
        return await future

    def _start(self) -> None:
        self._busy = True
        task = asyncio.ensure_future(self._run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                await self._gather_rows()
                batch = self._take()
                if batch:
                    self._loaded = len(batch) > 1
                    started = loop.time()
                    await self._run_batch(batch)
                    self._run_time_s += (loop.time() - started - self._run_time_s) * 0.2
        finally:
            self._busy = False

    async def _gather_rows(self) -> None:
        """Under load, give more rows a moment to arrive (see the module doc)."""
        wait_s = min(self._config.max_latency_ms / 1000, max(self._run_time_s / 4, MIN_WAIT_S))
        if not self._loaded or wait_s < MIN_WAIT_S or self._queued_rows >= self._config.max_batch_size:
            return
        self._full.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._full.wait(), wait_s)

    def _take(self) -> list[_Pending]:
        """The next batch: the oldest live request, then those after it that fit, up to the row limit."""
        while self._queue and self._queue[0].future.done():  # the caller went away
            self._queued_rows -= self._queue.popleft().rows
        if not self._queue:
            return []
        first = self._queue.popleft()
        self._queued_rows -= first.rows
        batch, rows, kept = [first], first.rows, deque[_Pending]()
        while self._queue:
            item = self._queue.popleft()
            if item.future.done():
                self._queued_rows -= item.rows
                continue
            if rows + item.rows <= self._config.max_batch_size and item.fits_with(first):
                batch.append(item)
                rows += item.rows
                self._queued_rows -= item.rows
            else:
                kept.append(item)
                if rows >= self._config.max_batch_size:
                    break
        kept.extend(self._queue)
        self._queue = kept
        return batch

    async def _run_batch(self, batch: list[_Pending]) -> None:
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.rows += sum(p.rows for p in batch)
        self.stats.sizes.append(len(batch))
        if len(batch) == 1:
            await self._run_one(batch[0])
            return
        names = tuple(dict.fromkeys(n for p in batch for n in p.outputs))
        merged = [np.concatenate([p.arrays[i] for p in batch]) for i in range(len(batch[0].arrays))]
        self._observe_rows(sum(p.rows for p in batch))
        try:
            result = await self._execute(merged, names)
        except Exception:
            for pending in batch:  # find the culprit: each request alone
                await self._run_one(pending)
            return
        total = sum(p.rows for p in batch)
        if any(np.ndim(v) == 0 or len(v) != total for v in result.values()):
            for pending in batch:  # a model whose outputs are not per row cannot be split
                await self._run_one(pending)
            return
        offset = 0
        for pending in batch:
            end = offset + pending.rows
            if not pending.future.done():
                pending.future.set_result({n: result[n][offset:end] for n in pending.outputs if n in result})
            offset = end

    async def _run_one(self, pending: _Pending) -> None:
        if pending.future.done():
            return
        self._observe_rows(pending.rows)
        try:
            result = await self._execute(pending.arrays, pending.outputs)
        except Exception as exc:
            if not pending.future.done():
                pending.future.set_exception(exc)
            return
        if not pending.future.done():
            pending.future.set_result(result)
