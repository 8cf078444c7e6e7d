"""The server's own worker for record exports, so that exports run without a ``berth worker``.

It is the job system's `Worker`, limited to the ``records-export`` kind, one job at a time per
server process, on a thread of its own. It is woken when this process enqueues an export, and
polls every few seconds for those enqueued elsewhere (so an idle server barely touches the
database). On shutdown it lets a running export finish for a few seconds, then gives it back to
the queue. A ``berth worker`` sharing the berth home runs exports too.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path

from berth.control.jobs.runner import Worker, WorkerConfig
from berth.control.record_export_jobs import EXPORT_KIND
from berth.core.tracing import OFF, Tracing
from berth.wiring.workspace import Workspace


class ExportWorker:
    def __init__(
        self, workspace: Workspace, home: Path, *, poll_s: float = 5.0, tracing: Tracing = OFF
    ) -> None:
        config = WorkerConfig(
            worker_id=f"{socket.gethostname()}:{os.getpid()}:exports-{uuid.uuid4().hex[:6]}",
            kinds=(EXPORT_KIND,),
            concurrency=1,
            poll_s=poll_s,
            grace_s=5.0,
        )
        self._worker = Worker(
            workspace.jobs.store, workspace.jobs.kinds, workspace, home, config, tracing=tracing
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._worker.run, args=(self._stop,), name="berth-exports")

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """An export was just enqueued: claim it now (the worker polls only every few seconds)."""
        self._worker.wake()

    def stop(self) -> None:
        self._stop.set()
        self._worker.wake()  # out of its poll wait now: a server stops without waiting `poll_s`
        if self._thread.is_alive():
            self._thread.join(timeout=30)
