"""The drainer: records from the record stream (NATS JetStream) into the record store, exactly once.

It runs in the monitor role (``berth serve --role monitor``), any number of times: every drainer
pulls from one durable consumer, ``berth-drainer``, so JetStream hands each message to one of them
at a time. A batch is inserted in one transaction, **then** acknowledged:

- a drainer that dies before its commit acknowledged nothing: JetStream hands the messages out
  again after `ack_wait_s` (to another drainer, or to it when it comes back);
- a drainer that dies after its commit but before its acknowledgements reach NATS gets the same
  messages again: the insert is keyed on the record key (unique in the database, ON CONFLICT DO
  NOTHING), so they are stored once;
- a replica that retried a publish within the stream's duplicate window was de-duplicated by
  JetStream already (the ``Nats-Msg-Id`` header).

So every record the stream acknowledged to a replica is stored once. Failed requests (for error
rates) have no key: a redelivery after a crash between commit and acknowledgement counts them twice.
A message that cannot be read is logged and terminated (never redelivered); a record the database
refuses (a value it cannot store) likewise, one at a time, so one bad record never stops the
stream. While the database is away, nothing is acknowledged: the messages wait in the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.client import JetStreamContext

from berth.core.errors import BerthError, ErrorCode
from berth.core.records import FailedRequest, IngestBatch, PredictionRecord
from berth.storage.journal import decode_entry
from berth.storage.record_protocols import RecordStore
from berth.storage.record_stream import MSG_ID, StreamConnection

log = logging.getLogger(__name__)

DRAINER: Final = "berth-drainer"
"""The durable consumer every drainer of a stream shares."""
PURGE_EVERY_S: Final = 3600.0
REDELIVER_AFTER_S: Final = 1.0
"""A batch the database could not take is handed out again after this (not after the ack wait)."""
STALE_S: Final = 10.0
"""A drainer whose last fetch is older than this is not ready."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DrainOptions:
    batch: int = 500
    """Most messages fetched and inserted at a time (one transaction)."""
    fetch_timeout_s: float = 1.0
    ack_wait_s: float = 30.0
    """Unacknowledged messages are handed out again after this (a drainer died with them)."""
    retention_days: float = 0.0


class RecordDrainer:
    """Pulls record batches from the stream's durable consumer into `store` (see the module docs)."""

    def __init__(self, store: RecordStore, connection: StreamConnection, options: DrainOptions) -> None:
        self._store = store
        self._connection = connection
        self._options = options
        self._last_fetch: float | None = None
        self._last_purge = 0.0
        self._problem: str | None = None
        self.stored = 0
        self.duplicates = 0

    def ready(self) -> bool:
        """Connected, and fetching (a fetch answered, with messages or none, within `STALE_S`)."""
        last = self._last_fetch
        return (
            self._connection.connected
            and self._problem is None
            and last is not None
            and time.monotonic() - last < STALE_S
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set (then finish the batch in hand, close the connection, return)."""
        await self._connection.start()
        try:
            await self._connection.wait_connected(5.0)
            await self._loop(stop)
        finally:
            await self._connection.close()

    async def _loop(self, stop: asyncio.Event) -> None:
        subscription: JetStreamContext.PullSubscription | None = None
        while not stop.is_set():
            try:
                if subscription is None:
                    subscription = await self._subscribe()
                try:
                    messages = await subscription.fetch(
                        self._options.batch, timeout=self._options.fetch_timeout_s
                    )
                except TimeoutError:  # nothing to drain (nats-py raises its own and asyncio's)
                    messages = []
                self._last_fetch = time.monotonic()
                if messages:
                    await self._drain(messages)
                await self._purge_if_due()
                self._recovered()
            except BerthError as exc:
                self._failing(exc.message)
                await _pause(stop, 0.5)
            except (nats.errors.Error, OSError) as exc:
                self._failing(f"the record stream failed: {type(exc).__name__}: {exc}")
                subscription = None  # subscribed again once the connection is back
                await _pause(stop, 0.5)

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        js = self._connection.jetstream
        target = self._connection.target
        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._options.ack_wait_s,
            max_deliver=-1,
            max_ack_pending=max(10_000, 4 * self._options.batch),
            filter_subject=target.subject,
        )
        return await js.pull_subscribe(target.subject, durable=DRAINER, stream=target.stream, config=config)

    async def _drain(self, messages: list[Msg]) -> None:
        records: list[PredictionRecord] = []
        errors: list[FailedRequest] = []
        kept: list[Msg] = []
        for message in messages:
            try:
                entry = decode_entry(message.data)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("a record message cannot be read (%s); dropped", exc)
                await message.term()
                continue
            if isinstance(entry, FailedRequest):
                errors.append(entry)
            else:
                key = (message.headers or {}).get(MSG_ID)
                records.append(replace(entry, record_key=key))
            kept.append(message)
        try:
            try:
                stored = await asyncio.to_thread(self._store.ingest, IngestBatch(records, None, errors))
            except BerthError as exc:
                if exc.code is not ErrorCode.INVALID_REQUEST:
                    raise
                stored = await self._ingest_one_by_one(records, errors)
        except BerthError:  # the database is away: nothing acknowledged, the stream keeps the records
            for message in kept:
                with contextlib.suppress(nats.errors.Error):
                    await message.nak(delay=REDELIVER_AFTER_S)
            raise
        self.stored += stored
        self.duplicates += len(records) - stored
        for message in kept:
            await message.ack()  # after the commit (see the module docs)

    async def _ingest_one_by_one(self, records: list[PredictionRecord], errors: list[FailedRequest]) -> int:
        stored = 0
        for batch in [IngestBatch([r], None) for r in records] + [IngestBatch([], None, [e]) for e in errors]:
            try:
                stored += await asyncio.to_thread(self._store.ingest, batch)
            except BerthError as exc:
                if exc.code is not ErrorCode.INVALID_REQUEST:
                    raise
                log.error("a record was refused by the database (%s); dropped", exc)
        return stored

    async def _purge_if_due(self) -> None:
        days = self._options.retention_days
        if days <= 0 or time.monotonic() - self._last_purge < PURGE_EVERY_S:
            return
        cutoff = datetime.now(UTC) - timedelta(days=days)
        purged = await asyncio.to_thread(self._store.purge_before, cutoff)
        self._last_purge = time.monotonic()
        if purged:
            log.info("purged %d records older than %s", purged, cutoff.isoformat())

    def _failing(self, reason: str) -> None:
        if self._problem != reason:
            log.warning("record draining paused: %s", reason)
        self._problem = reason

    def _recovered(self) -> None:
        if self._problem is not None:
            log.info("record draining resumed")
        self._problem = None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
