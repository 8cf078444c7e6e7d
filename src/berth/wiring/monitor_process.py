"""The monitor: prediction records into the record store, and the alert rules, off the serving path.

It runs two ways:

- as the child process of a server (``python -m berth.wiring.monitor_process --parent-pid N``,
  started by `berth.server.monitor_supervisor`), with the local journal: of the monitors sharing a
  journal folder only the holder of the ingester lock works (`berth.storage.record_ingest`). A
  server's monitor waits for that lock as `berth.wiring.monitor_waiter`, with nothing of berth
  loaded, and becomes this module holding it (``--held-lock-fd FD``); it exits when its server dies;
- as a role of its own, ``berth serve --role monitor`` (`run_monitor_role`): no parent, health
  endpoints on ``--port`` (``/v2/health/live``, ``/v2/health/ready``, ``/healthz``, ``/readyz``).
  With a ``nats://`` record sink it is the stream's drainer (`berth.storage.record_drain`), and
  any number of them share the stream's durable consumer; ready while connected and draining.

Once it works (holds the journal lock, or drains the stream) it also evaluates the alert rules
every `alert_interval_s` (`berth.control.alerts.evaluator`) and fires the job triggers that listen
to a fired rule (retraining on a drift alert). Several may run: a rule's state change is a
compare-and-set, so one of them fires each alert.

Settings come from the ``BERTH_*`` environment (a child's from its server, `Settings.as_environment`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from berth.control.alerts.destinations import DestinationPolicy, WebhookAllowList
from berth.control.alerts.evaluator import AlertEvaluator, Transition
from berth.control.alerts.webhook import WebhookSender
from berth.core.errors import BerthError
from berth.core.settings import Settings
from berth.storage.record_ingest import run as run_ingester
from berth.storage.record_protocols import RecordStore
from berth.wiring.delivery import DeliveryLoop
from berth.wiring.health_server import HealthServer
from berth.wiring.implementations import record_stream
from berth.wiring.tracing import open_tracing
from berth.wiring.workspace import Workspace, open_workspace

if TYPE_CHECKING:
    from berth.storage.record_stream import StreamTarget

log = logging.getLogger(__name__)

MONITOR_NICENESS = 10
"""The monitor runs at a lower CPU priority than its server: under sustained saturation its lag
(``berth_record_writer_lag_seconds``) grows, and recovers when the load drops; the journal holds
the records meanwhile."""


class AlertLoop:
    """Evaluates every rule each `interval_s` on a thread of its own, until stopped."""

    def __init__(self, workspace: Workspace, interval_s: float, sender: WebhookSender | None = None) -> None:
        self._workspace = workspace
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._evaluator = AlertEvaluator(
            workspace.alerts, workspace.monitor, sender, on_fired=[self._fire_jobs]
        )
        self._thread = threading.Thread(target=self._loop, name="berth-alerts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._evaluator.close()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                for t in self._evaluator.evaluate_all(datetime.now(UTC)):
                    log.warning("alert %s %s: %s", t.rule, t.kind, t.message)
            except BerthError as exc:
                log.warning("alert rules not evaluated: %s", exc)
            except Exception:  # a monitor keeps ingesting whatever an evaluation did
                log.exception("alert evaluation failed")

    def _fire_jobs(self, transition: Transition) -> None:
        jobs = self._workspace.jobs.fire_alert(transition.rule_uid, transition.message)
        for job in jobs:
            log.info("alert %s started job %s (%s)", transition.rule, job.id, job.kind)


class Readiness:
    """Whether the monitor works now: set by what it runs (the ingester's turns, the drainer)."""

    def __init__(self, stale_s: float) -> None:
        self._stale_s = stale_s
        self._last_turn: float | None = None
        self._check: Callable[[], bool] | None = None

    def turned(self) -> None:
        self._last_turn = time.monotonic()

    def follow(self, check: Callable[[], bool]) -> None:
        self._check = check

    def __call__(self) -> bool:
        if self._check is not None:
            return self._check()
        last = self._last_turn
        return last is not None and time.monotonic() - last < self._stale_s


def run_monitor(
    settings: Settings,
    *,
    parent_pid: int | None,
    stop: threading.Event,
    readiness: Readiness | None = None,
    held_lock: int | None = None,
) -> None:
    """Records into the record store and the alert rules until `stop` is set (or the parent is gone).
    `held_lock`: the journal's ingester lock, taken already (`berth.wiring.monitor_waiter`)."""
    workspace = open_workspace(settings)
    policy = DestinationPolicy(WebhookAllowList.parse(settings.webhook_allow))
    tracing = open_tracing(settings, process="monitor")
    alerts = AlertLoop(workspace, settings.alert_interval_s, WebhookSender(policy=policy, tracing=tracing))
    delivery = DeliveryLoop(settings, workspace.inbox, policy)

    def start_alerts() -> None:  # once this monitor works: alert rules, and delivery to team inboxes
        if settings.alert_interval_s > 0:
            alerts.start()
        delivery.start()

    try:
        stream = record_stream(settings)
        if stream is None:
            run_ingester(
                workspace.records.store,
                settings.resolved_journal_dir,
                parent_pid=parent_pid,
                interval_s=settings.ingest_interval_s,
                retention_days=settings.record_retention_days,
                stop=stop,
                on_lock=start_alerts,
                on_turn=readiness.turned if readiness is not None else None,
                held_lock=held_lock,
            )
        else:
            start_alerts()
            asyncio.run(_drain(settings, stream, workspace.records.store, parent_pid, stop, readiness))
    finally:
        delivery.stop()
        alerts.stop()
        workspace.close()
        tracing.close()
        log.debug("monitor %d stopped", os.getpid())


async def _drain(
    settings: Settings,
    stream: StreamTarget,
    store: RecordStore,
    parent_pid: int | None,
    stop: threading.Event,
    readiness: Readiness | None,
) -> None:
    from berth.storage.record_drain import DrainOptions, RecordDrainer
    from berth.storage.record_stream import StreamConnection

    connection = StreamConnection(
        stream,
        duplicate_window_s=settings.record_stream_duplicate_window_s,
        name=f"berth-monitor-{os.getpid()}",
    )
    drainer = RecordDrainer(store, connection, DrainOptions(retention_days=settings.record_retention_days))
    if readiness is not None:
        readiness.follow(drainer.ready)
    stopping = asyncio.Event()
    drain = asyncio.create_task(drainer.run(stopping), name="berth-record-drainer")
    try:
        while not (stop.is_set() or (parent_pid is not None and os.getppid() != parent_pid) or drain.done()):
            await asyncio.sleep(0.2)
        stopping.set()
        await drain
    finally:
        log.info(
            "drainer stopped: %d records stored, %d duplicates skipped", drainer.stored, drainer.duplicates
        )


def run_monitor_role(settings: Settings) -> None:
    """``berth serve --role monitor``: the monitor with health endpoints on the settings' host and
    port, until SIGTERM or SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    readiness = Readiness(stale_s=max(10.0, 5 * settings.ingest_interval_s))
    health = HealthServer(settings.host, settings.port, readiness)
    health.start()
    log.info(
        "berth monitor: health on http://%s:%d, records from %s",
        settings.host,
        health.port,
        settings.record_sink,
    )
    try:
        run_monitor(settings, parent_pid=None, stop=stop, readiness=readiness)
    finally:
        health.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m berth.wiring.monitor_process")
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument(
        "--held-lock-fd",
        type=int,
        default=None,
        help="an open file holding the journal's ingester lock (from `berth.wiring.monitor_waiter`)",
    )
    args = parser.parse_args(argv)
    os.nice(MONITOR_NICENESS)  # serving wins the CPU; ingestion catches up when load drops
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_monitor(settings, parent_pid=args.parent_pid, stop=stop, held_lock=args.held_lock_fd)


if __name__ == "__main__":
    main()
