"""Prediction deadlines with one timer per time slot, not one per request.

`asyncio.timeout` schedules (and cancels) a timer per request: at thousands of requests a second
that was about 2.5% of a server's time (the event loop's timer heap fills with cancelled timers).
Here a request joins the set of its deadline's slot (`SLOT_S` wide, rounded up), and one timer per
slot cancels the requests still in it; a request that ends in time leaves the set. The
cancellation is delivered where the request waits (the only place it can be suspended while
watched) and turned into a timeout there, as `asyncio.timeout` does.
"""

from __future__ import annotations

import asyncio
import math
from typing import Final

SLOT_S: Final = 0.1
"""Deadline granularity: a request times out between its timeout and its timeout plus this."""


class Deadlines:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._slots: dict[int, set[asyncio.Task[object]]] = {}
        self._expired: set[asyncio.Task[object]] = set()

    def enter(self, task: asyncio.Task[object]) -> int:
        """Watch `task` from now on; the slot to `leave` with."""
        loop = asyncio.get_running_loop()
        slot = math.ceil((loop.time() + self.timeout_s) / SLOT_S)
        tasks = self._slots.get(slot)
        if tasks is None:
            tasks = self._slots[slot] = set()
            loop.call_at(slot * SLOT_S, self._expire, slot)
        tasks.add(task)
        return slot

    def leave(self, task: asyncio.Task[object], slot: int) -> bool:
        """Stop watching `task`; True when its deadline passed (its wait was cancelled for it)."""
        tasks = self._slots.get(slot)
        if tasks is not None:
            tasks.discard(task)
        if task in self._expired:
            self._expired.discard(task)
            task.uncancel()
            return True
        return False

    def _expire(self, slot: int) -> None:
        for task in self._slots.pop(slot, ()):
            self._expired.add(task)
            task.cancel()
