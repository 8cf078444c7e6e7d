"""The monitor process of a server: the journal ingester and the alert rules, off the serving path.

Each server process starts one (`berth.server.monitor_supervisor`); of those sharing a journal folder
only the holder of the ingester lock works (`berth.storage.record_ingest`). Once it holds the lock
it also evaluates the alert rules every `alert_interval_s` (`berth.control.alerts.evaluator`) and
fires the job triggers that listen to a fired rule (retraining on a drift alert). Several hosts may
each run one: a rule's state change is a compare-and-set, so one of them fires each alert.

Settings come from the ``BERTH_*`` environment its server sets (`Settings.as_environment`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from berth.control.alerts.destinations import DestinationPolicy, WebhookAllowList
from berth.control.alerts.evaluator import AlertEvaluator, Transition
from berth.control.alerts.webhook import WebhookSender
from berth.core.errors import BerthError
from berth.core.settings import Settings
from berth.storage.record_ingest import run as run_ingester
from berth.wiring.workspace import Workspace, open_workspace

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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m berth.wiring.monitor_process")
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    os.nice(MONITOR_NICENESS)  # serving wins the CPU; ingestion catches up when load drops
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    workspace = open_workspace(settings)
    policy = DestinationPolicy(WebhookAllowList.parse(settings.webhook_allow))
    alerts = AlertLoop(workspace, settings.alert_interval_s, WebhookSender(policy=policy))
    try:
        run_ingester(
            workspace.records.store,
            settings.resolved_journal_dir,
            parent_pid=args.parent_pid,
            interval_s=settings.ingest_interval_s,
            retention_days=settings.record_retention_days,
            stop=stop,
            on_lock=alerts.start if settings.alert_interval_s > 0 else None,
        )
    finally:
        alerts.stop()
        workspace.close()
        log.debug("monitor process %d stopped", os.getpid())


if __name__ == "__main__":
    main()
