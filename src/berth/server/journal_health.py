"""Whether the prediction journal is flowing, measured from the journal itself, for readiness and metrics.

Every `CHECK_INTERVAL_S`, off the event loop, the server reads its journal folder against the
positions the database holds (`berth.storage.journal.measure_backlog`): the bytes and segments
not yet ingested and the age of the oldest record among them. It does not ask the ingester, so an
ingester that died, hangs or is stopped shows as a growing backlog. While the journal refuses
writes (a full disk) it probes for room, so readiness comes back without traffic.

The server is not ready (`problems` is not empty) while:

- the oldest record not yet in the database is older than ``journal_stall_s``;
- the monitor process has been down longer than ``monitor_down_grace_s`` (it is being restarted);
- the journal refuses writes (predictions answer 503 ``recording_unavailable`` meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Final

from berth.core.settings import Settings
from berth.dataplane.recording import Recorder
from berth.server.monitor_supervisor import MonitorSupervisor
from berth.storage.journal import JournalLag, measure_backlog

log = logging.getLogger(__name__)

CHECK_INTERVAL_S: Final = 0.5
_NONE_BEHIND: Final = JournalLag(oldest_unread_s=0.0, bytes_behind=0, segments=0, reported_at=None)


class JournalHealth:
    def __init__(
        self,
        settings: Settings,
        recorder: Recorder,
        monitor: MonitorSupervisor,
        ingested: Callable[[], Mapping[str, int]],
        executor: Executor,
    ) -> None:
        """`ingested`: each segment's offset the database holds (segment name -> byte offset)."""
        self._journal: Path = settings.resolved_journal_dir
        self._stall_s = settings.journal_stall_s
        self._grace_s = settings.monitor_down_grace_s
        self._recorder = recorder
        self._monitor = monitor
        self._ingested = ingested
        self._executor = executor
        self._task: asyncio.Task[None] | None = None
        self._positions_failing = False
        self.backlog = _NONE_BEHIND

    def problems(self) -> list[str]:
        """Why the journal keeps the server from being ready (empty: it does not)."""
        found = []
        failure = self._recorder.write_failure
        if failure is not None:
            found.append(f"predictions cannot be recorded: {failure}")
        down = self._monitor.down_for()
        if down > self._grace_s:
            found.append(f"the monitor process (journal ingester) has been down for {down:.0f} s")
        oldest = self.backlog.oldest_unread_s
        if oldest > self._stall_s:
            found.append(
                f"the journal is not being ingested: its oldest record is {oldest:.0f} s old "
                f"({self.backlog.bytes_behind} bytes behind)"
            )
        return found

    async def start(self) -> None:
        await self.check()
        self._task = asyncio.create_task(self._loop(), name="berth-journal-health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check(self) -> None:
        """Measure the backlog (and probe for room while writes fail) now."""
        loop = asyncio.get_running_loop()
        self.backlog = await loop.run_in_executor(self._executor, self._measure)
        if self._recorder.write_failure is not None:
            await loop.run_in_executor(self._executor, self._recorder.check_space)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL_S)
            try:
                await self.check()
            except Exception:  # a probe never takes the server down; the next one tries again
                log.exception("the journal could not be measured")

    def _measure(self) -> JournalLag:
        try:
            ingested = self._ingested()
        except Exception as exc:  # the database is away: count every segment as not ingested
            if not self._positions_failing:
                log.warning("journal positions unavailable (%s): the whole journal counts as behind", exc)
            self._positions_failing = True
            ingested = {}
        else:
            self._positions_failing = False
        return measure_backlog(self._journal, ingested)
