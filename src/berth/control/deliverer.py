"""The deliverer: sends team-inbox messages to each team's webhook and/or NATS subject.

It runs in the monitor process (`berth.wiring.monitor_process`), on a thread of its own, never on
a serving path: an answer never waits for a delivery. Every `interval_s` it takes the messages due
(`SqlInbox.claim_due`, a compare-and-set lease, so several monitors share the work) and makes one
attempt each:

- no webhook and no subject for the team: the inbox is the delivery (``delivered_to = "inbox"``);
- a webhook: one signed POST (`berth.control.alerts.webhook`, Standard Webhooks headers, the
  message's key as ``webhook-id``), to an address the destination policy allows (public, or opened
  by ``webhook_allow``), redirects refused;
- a NATS subject: one JetStream publish with the key as ``Nats-Msg-Id``, acknowledged by the server.

A message is delivered when every destination took it; otherwise it is retried after `backoff_s`
(doubling, at most `max_backoff_s`) and dead-lettered after `attempts` attempts, or at once when a
receiver refuses it for good (an HTTP 4xx other than 408 and 429). A retry sends to every
destination again, under the same key: delivery is at least once, and receivers drop duplicates
by the key. The reason a message failed is kept in generic words (the HTTP status class, the kind
of error), never a receiver's answer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from berth.control.alerts.webhook import WebhookSender
from berth.core.delivery import EVENT, InboxSettings, backoff_s
from berth.core.errors import BerthError
from berth.storage.sql_inbox import Claimed, SqlInbox

log = logging.getLogger(__name__)

Publish = Callable[[str, str, bytes], Awaitable[bool]]
"""``publish(subject, key, payload)``: True when NATS already had it; BerthError when it cannot."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    interval_s: float = 0.5
    attempts: int = 8
    backoff_s: float = 2.0
    max_backoff_s: float = 600.0
    lease_s: float = 60.0
    """How long a deliverer holds a message it took (longer than one attempt can last)."""
    batch: int = 100


class Deliverer:
    """One pass at a time over the messages due (see the module docs)."""

    def __init__(
        self,
        inbox: SqlInbox,
        sender: WebhookSender,
        publish: Publish | None,
        policy: DeliveryPolicy = DeliveryPolicy(),
    ) -> None:
        self._inbox = inbox
        self._sender = sender
        self._publish = publish
        self.policy = policy
        self.delivered = 0
        self.failed = 0

    async def run_pass(self, now: datetime | None = None) -> int:
        """Attempt every message due now; returns how many were attempted."""
        now = now or datetime.now(UTC)
        claimed = self._inbox.claim_due(now, limit=self.policy.batch, lease_s=self.policy.lease_s)
        settings: dict[str, InboxSettings] = {}
        for item in claimed:
            team = item.message.team
            if team and team not in settings:
                settings[team] = self._inbox.settings(team)
            await self._attempt(item, settings.get(team))
        return len(claimed)

    async def _attempt(self, item: Claimed, settings: InboxSettings | None) -> None:
        message = item.message
        if settings is None:
            self._fail(item, "the answer names no team to deliver to", final=True)
            return
        if settings.webhook_url is None and settings.nats_subject is None:
            self._inbox.delivered(item, "inbox")
            self.delivered += 1
            return
        payload = message.payload()
        errors: list[str] = []
        final = False
        done: list[str] = []
        if settings.webhook_url is not None:
            delivery = await asyncio.to_thread(
                self._sender.send,
                settings.webhook_url,
                settings.webhook_secret or "",
                EVENT,
                payload,
                message_id=message.key,
            )
            if delivery.delivered:
                done.append("webhook")
            else:
                shown = delivery.to_json()["status_class"]
                errors.append(f"webhook: {f'HTTP {shown}' if shown else 'no answer, or refused destination'}")
                status = delivery.status
                final = status is not None and 400 <= status < 500 and status not in (408, 429)
        if settings.nats_subject is not None:
            if self._publish is None:
                errors.append("nats: this server delivers to no NATS (delivery_nats is not set)")
            else:
                try:
                    await self._publish(settings.nats_subject, message.key, orjson.dumps(payload))
                    done.append("nats")
                except BerthError as exc:
                    errors.append(f"nats: {exc.message}")
        if errors:
            self._fail(item, "; ".join(errors), final=final)
        else:
            self._inbox.delivered(item, "+".join(done))
            self.delivered += 1

    def _fail(self, item: Claimed, error: str, *, final: bool) -> None:
        message = item.message
        self.failed += 1
        if final or message.attempts >= self.policy.attempts:
            log.warning(
                "inbox message %s dead-lettered after %d attempts: %s", message.key, message.attempts, error
            )
            self._inbox.failed(item, error, None)
            return
        wait = backoff_s(message.attempts, self.policy.backoff_s, self.policy.max_backoff_s)
        log.info(
            "inbox message %s attempt %d failed (%s); again in %.1f s",
            message.key,
            message.attempts,
            error,
            wait,
        )
        self._inbox.failed(item, error, datetime.now(UTC) + timedelta(seconds=wait))

    async def run(self, stop: threading.Event) -> None:
        """Passes until `stop` is set: at once again after a full batch, else after `interval_s`."""
        while not stop.is_set():
            attempted = 0
            try:
                attempted = await self.run_pass()
            except BerthError as exc:
                log.warning("inbox delivery pass failed: %s", exc)
            except Exception:  # the deliverer keeps going whatever one pass met
                log.exception("inbox delivery pass failed")
            if attempted < self.policy.batch:
                await asyncio.to_thread(stop.wait, self.policy.interval_s)
