"""CPU-heavy decoding of large request bodies, off the event loop and off its GIL.

Parsing JSON holds the interpreter for as long as it takes, in one C call (orjson does not release
the GIL): a few milliseconds for an ordinary body, hundreds for two megabytes of small objects,
seconds for the 64 MB a body may hold. A thread would not help (the loop waits for the GIL), so
`Offload.run` decodes bodies larger than ``BERTH_DECODE_PROCESS_BYTES`` in a small pool of worker
*processes* (spawned on first use), and smaller ones inline. What comes back is the decoded request:
numpy arrays cross the process boundary as buffers, and `BerthError` pickles with its code.

The decoder and its arguments must pickle: module-level functions, bytes, signatures, messages.
A pool whose worker died (say, out of memory) is replaced, and that request is UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from berth.core.errors import BerthError, ErrorCode

T = TypeVar("T")


class Offload:
    def __init__(self, threshold_bytes: int | None, workers: int = 2) -> None:
        """`threshold_bytes` None: everything is decoded inline (tools, tests without a server)."""
        self._threshold = threshold_bytes
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    async def run(self, size: int, decode: Callable[..., T], *args: Any) -> T:
        """`decode(*args)`, in a worker process when the body it decodes (`size` bytes) is large."""
        if self._threshold is None or size <= self._threshold:
            return decode(*args)
        pool = self._current()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, decode, *args)
        except BrokenProcessPool:
            self._replace(pool)
            raise BerthError(ErrorCode.UNAVAILABLE, "the request decoder stopped; try again") from None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_lower_priority,
                )
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)


def _lower_priority() -> None:
    """Decoders yield the CPU to the serving processes (a flood of large bodies must not starve
    the event loop of CPU either)."""
    os.nice(10)


INLINE = Offload(None)
"""Decodes everything inline."""
