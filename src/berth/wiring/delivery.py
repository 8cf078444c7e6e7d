"""The monitor's deliverer thread: team-inbox messages to webhooks and NATS (`berth.control.deliverer`)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from berth.control.alerts.destinations import DestinationPolicy
from berth.control.alerts.webhook import WebhookSender
from berth.control.deliverer import Deliverer, DeliveryPolicy, Publish
from berth.core.settings import Settings
from berth.storage.sql_inbox import SqlInbox

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 5.0


class DeliveryLoop:
    """Runs a `Deliverer` on a thread with an event loop of its own until stopped."""

    def __init__(self, settings: Settings, inbox: SqlInbox, policy: DestinationPolicy) -> None:
        self._settings = settings
        self._inbox = inbox
        self._sender = WebhookSender(attempts=1, policy=policy)  # the inbox table keeps the retries
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="berth-deliverer", daemon=True)

    def start(self) -> None:
        if self._settings.delivery_interval_s > 0 and not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception:
            log.exception("the inbox deliverer stopped")

    async def _run(self) -> None:
        s = self._settings
        policy = DeliveryPolicy(
            interval_s=s.delivery_interval_s,
            attempts=s.delivery_attempts,
            backoff_s=s.delivery_backoff_s,
            max_backoff_s=s.delivery_max_backoff_s,
        )
        connection = None
        publish: Publish | None = None
        if s.delivery_nats:
            from berth.core import extras

            extras.require("nats", "the setting delivery_nats")
            from berth.storage.inbox_stream import inbox_connection, publish_message

            connection = inbox_connection(
                s.delivery_nats,
                duplicate_window_s=s.record_stream_duplicate_window_s,
                name=f"berth-deliverer-{os.getpid()}",
            )
            await connection.start()
            nats = connection

            async def publish(subject: str, key: str, payload: bytes) -> bool:
                return await publish_message(nats, subject, key, payload, PUBLISH_TIMEOUT_S)

        try:
            await Deliverer(self._inbox, self._sender, publish, policy).run(self._stop)
        finally:
            if connection is not None:
                await connection.close()
