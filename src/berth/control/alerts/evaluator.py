"""Evaluating alert rules: each rule's metric over its window, state changes, log, webhook.

Runs in the monitor process next to the record ingester (`berth.wiring.monitor_process`), every
`alert_interval_s`. Webhook calls go to a small thread pool, so a receiver that hangs delays only
its own deliveries (retried with back-off), never the evaluation of other rules, never serving.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from berth.control.alerts.rules import AlertRule, AlertState, Metric
from berth.control.alerts.webhook import WebhookSender
from berth.core.errors import BerthError
from berth.storage.sql_alerts import SqlAlertStore, StoredRule

if TYPE_CHECKING:
    from opentelemetry.context import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Observation:
    """A metric's value over a window and how many samples it rests on (None: no data)."""

    value: float | None
    samples: int


class MetricSource(Protocol):
    def observe(
        self,
        target: str,
        metric: Metric,
        window_s: int,
        now: datetime,
        *,
        view: str | None = None,
        feature: str | None = None,
    ) -> Observation: ...


@dataclass(frozen=True, slots=True)
class Transition:
    rule: str
    rule_uid: str
    """The rule's identity (what job triggers listen to; its name may be another rule's later)."""
    target: str
    kind: str
    """'fired' or 'resolved'."""
    value: float
    message: str
    event_id: int


FiredHook = Callable[[Transition], None]
"""Called for every fired alert (e.g. to start a retraining job)."""


class AlertEvaluator:
    def __init__(
        self,
        store: SqlAlertStore,
        metrics: MetricSource,
        sender: WebhookSender | None = None,
        *,
        on_fired: Sequence[FiredHook] = (),
        delivery_threads: int = 2,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._sender = sender or WebhookSender()
        self._on_fired = list(on_fired)
        self._pool = ThreadPoolExecutor(max_workers=delivery_threads, thread_name_prefix="berth-webhook")

    def evaluate_all(self, now: datetime) -> list[Transition]:
        transitions: list[Transition] = []
        for stored in self._store.list_rules():
            try:
                changed = self.evaluate(stored, now)
            except BerthError as exc:  # one broken rule (e.g. its endpoint is gone) does not stop the others
                log.warning("alert rule %s not evaluated: %s", stored.spec.get("name"), exc)
                continue
            if changed is not None:
                transitions.append(changed)
        return transitions

    def evaluate(self, stored: StoredRule, now: datetime) -> Transition | None:
        rule = AlertRule.from_json(stored.spec)
        if not rule.enabled:
            return None
        seen = self._metrics.observe(
            rule.target, rule.metric, rule.window_s, now, view=rule.view, feature=rule.feature
        )
        if seen.value is None or seen.samples < rule.min_samples:
            self._store.transition(
                stored.uid, stored.revision, _keep_or_no_data(stored.state), seen.value, now
            )
            return None
        state = AlertState.FIRING if rule.holds(seen.value) else AlertState.OK
        was_firing = stored.state == AlertState.FIRING
        if not self._store.transition(stored.uid, stored.revision, state.value, seen.value, now):
            return None  # another monitor evaluated it first, or the rule changed meanwhile
        if (state is AlertState.FIRING) == was_firing:
            return None
        kind = "fired" if state is AlertState.FIRING else "resolved"
        message = rule.describe(seen.value)
        event_id = self._store.append_event(rule.name, rule.target, kind, seen.value, message, now)
        transition = Transition(rule.name, stored.uid, rule.target, kind, seen.value, message, event_id)
        if rule.webhook_url:
            parent = self._sender.tracing.capture()  # the trace this evaluation is part of, if any
            self._pool.submit(self._deliver, rule.webhook_url, rule, transition, now, parent)
        if kind == "fired":
            for hook in self._on_fired:
                try:
                    hook(transition)
                except Exception:  # a hook's failure is logged, the alert stands
                    log.exception("alert hook failed for %s", rule.name)
        return transition

    def _deliver(
        self, url: str, rule: AlertRule, transition: Transition, at: datetime, parent: Context | None = None
    ) -> None:
        payload: dict[str, Any] = {
            "event": f"alert.{transition.kind}",
            "rule": rule.name,
            "target": rule.target,
            "metric": rule.metric.value,
            "value": transition.value,
            "threshold": rule.threshold,
            "op": rule.op,
            "window_s": rule.window_s,
            "message": transition.message,
            "at": at.isoformat(),
            "alert_id": transition.event_id,
        }
        if rule.view is not None:
            payload |= {"view": rule.view, "feature": rule.feature}
        delivery = self._sender.send(
            url,
            rule.secret,
            f"alert.{transition.kind}",
            payload,
            message_id=delivery_id(transition.event_id),
            parent=parent,
        )
        try:
            self._store.set_delivery(transition.event_id, delivery.to_json())
        except BerthError:
            log.warning("could not save the delivery of alert %s", transition.event_id)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


def delivery_id(event_id: int) -> str:
    """The ``webhook-id`` of an alert's delivery: one per alert log entry, the same on every retry."""
    return f"berth-alert-{event_id}"


def _keep_or_no_data(state: str) -> str:
    """Too little data: a firing alert stays firing (it is not resolved by silence)."""
    return state if state == AlertState.FIRING else AlertState.NO_DATA.value
