"""A ``berth worker`` process: the workspace opened from the settings, the job runner on it.

The runner claims jobs of the kinds it is given (default: every kind installed), fires due
triggers, and on `stop` claims nothing more, lets its jobs finish within the grace period and
gives the others back to the queue.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from berth.control.jobs.runner import Worker, WorkerConfig
from berth.control.jobs.triggers import TriggerEvaluator
from berth.core.settings import Settings
from berth.storage.queries import now
from berth.wiring.health_server import HealthServer
from berth.wiring.tracing import open_tracing
from berth.wiring.workspace import open_workspace


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    kinds: tuple[str, ...] | None = None
    concurrency: int = 1
    lease_s: float = 30.0
    poll_s: float = 1.0
    grace_s: float = 30.0
    health_port: int | None = None
    """Serve /v2/health/live and /v2/health/ready (and /healthz, /readyz) on this port."""
    health_host: str = "0.0.0.0"


def run_worker(settings: Settings, options: WorkerOptions, stop: threading.Event) -> None:
    """Run jobs until `stop` is set."""
    workspace = open_workspace(settings)
    tracing = open_tracing(settings, process="worker")
    try:
        config = WorkerConfig(
            worker_id=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
            kinds=options.kinds,
            concurrency=options.concurrency,
            lease_s=options.lease_s,
            poll_s=options.poll_s,
            grace_s=options.grace_s,
        )
        store = workspace.jobs.store
        triggers = TriggerEvaluator(store, workspace.record_stats.corrections_since, now)
        runner = Worker(
            store, workspace.jobs.kinds, workspace, settings.home, config, triggers, tracing=tracing
        )
        health = None
        if options.health_port is not None:
            stale_s = max(3 * options.poll_s, 10.0)

            def ready() -> bool:
                polled = runner.last_poll_at
                return polled is not None and time.monotonic() - polled < stale_s

            health = HealthServer(options.health_host, options.health_port, ready)
            health.start()
        try:
            runner.run(stop)
        finally:
            if health is not None:
                health.stop()
    finally:
        workspace.close()
        tracing.close()
