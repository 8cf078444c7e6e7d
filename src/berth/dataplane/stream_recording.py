"""Recording answered predictions into a record stream (NATS JetStream), with group commit.

The same shape as the journal's `berth.dataplane.recording.Recorder`: `record` only appends to a
pending list on the event loop; one flusher task takes the whole list, encodes it (orjson) and
publishes every record of the batch at once (`berth.storage.record_stream.publish_records`: one
asynchronous publish each, then one wait for all the acknowledgements), and resolves the future the
batch's callers share. Requests answered meanwhile form the next batch, so a round trip to NATS is
paid per batch, not per request; up to `MAX_IN_FLIGHT` batches wait for acknowledgements at once,
so a slow round trip does not hold the next batch back.

A caller is answered only after JetStream acknowledged its record: the record is then on the NATS
server, and the replica's own disk holds nothing that matters (``kill -9`` and a lost pod volume
lose no answered prediction). When the stream does not acknowledge (NATS away, the stream
refusing, no acknowledgement within ``record_publish_timeout_s``) the batch's callers are answered
503 ``recording_unavailable``; a request that arrives while the connection is down is refused at
once, never queued behind it. Each record carries its key (`berth.core.records.record_key`) in the
``Nats-Msg-Id`` header: a caller that retries with the same prediction id after a 503 whose record
did reach the stream is stored once.

With durability ``none`` nobody waits for the acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Final

from berth.core.errors import BerthError, ErrorCode
from berth.core.records import record_key
from berth.dataplane.recording import (
    BatchCommit,
    FailedPending,
    Pending,
    PredictionRecorder,
    failure_document,
    record_document,
)
from berth.storage.record_stream import StreamConnection, publish_records

log = logging.getLogger(__name__)

MAX_IN_FLIGHT: Final = 4
"""Batches waiting for JetStream's acknowledgements at once."""


class StreamRecorder(PredictionRecorder):
    """Group-committed recording into a record stream (see the module docs)."""

    def __init__(
        self,
        connection: StreamConnection,
        *,
        durability: str = "journal",
        sampling: float = 1.0,
        endpoint_sampling: Mapping[str, float] | None = None,
        publish_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(sampling, endpoint_sampling)
        self._connection = connection
        self._durable = durability != "none"
        self._timeout_s = publish_timeout_s
        self._pending: list[Pending | FailedPending] = []
        self._future: asyncio.Future[None] | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._publish_failure: str | None = None
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._in_flight: set[asyncio.Task[None]] = set()
        self.written = 0
        self.failed = 0
        self.duplicates = 0

    @property
    def write_failure(self) -> str | None:
        """Why records cannot be sent now (None: they can)."""
        return self._connection.failure or self._publish_failure

    def problems(self) -> list[str]:
        """Why this replica is not ready: its records cannot reach the stream."""
        failure = self.write_failure
        return [] if failure is None else [f"predictions cannot be recorded: {failure}"]

    async def start(self) -> None:
        """Connect, waiting up to the publish timeout for the first attempt (a server whose NATS is
        away starts at once, not ready, and connects when NATS comes)."""
        await self._connection.start()
        self._start_task()
        await self._connection.wait_connected(self._timeout_s)

    def _start_task(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._flush_loop(), name="berth-record-publisher")

    def queue_depth(self) -> float:
        return float(len(self._pending))

    def record(self, item: Pending) -> asyncio.Future[None] | None:
        if self._wake is None:
            self._start_task()
        assert self._wake is not None
        self._pending.append(item)
        future = self._future
        if future is None and self._durable:
            future = self._future = BatchCommit()
        self._wake.set()
        return future

    def record_failure(self, item: FailedPending) -> None:
        if self._wake is None:
            self._start_task()
        assert self._wake is not None
        self._pending.append(item)
        self._wake.set()

    async def _flush_loop(self) -> None:
        """Take the pending records as one batch whenever a publish slot is free: up to
        `MAX_IN_FLIGHT` batches wait for their acknowledgements at once (a round trip to NATS does
        not hold the next batch back), and records answered meanwhile join the next batch."""
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self._slots.acquire()
                batch, future = self._pending, self._future
                self._pending, self._future = [], None
                task = asyncio.create_task(self._publish(batch, future), name="berth-record-publish")
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    async def _publish(
        self, batch: list[Pending | FailedPending], future: asyncio.Future[None] | None
    ) -> None:
        try:
            self.duplicates += await publish_records(self._connection, _messages(batch), self._timeout_s)
        except asyncio.CancelledError:
            _fail(future, _stopped())
            raise
        except BerthError as exc:
            self.failed += len(batch)
            if self._publish_failure is None:
                log.error("%d prediction records refused: %s", len(batch), exc.message)
            self._publish_failure = exc.message
            _fail(future, exc)
        else:
            self.written += len(batch)
            self._publish_failure = None
            if future is not None and not future.done():
                future.set_result(None)
        finally:
            self._slots.release()

    async def flush(self) -> None:
        """Wait until every record queued so far is published (or refused)."""
        while self._pending or self._in_flight or (self._wake is not None and self._wake.is_set()):
            await asyncio.sleep(0.001)

    async def close(self) -> None:
        """Publish what is pending (10 s at most), stop, and close the connection."""
        if self._wake is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), 10.0)
        tasks = [t for t in (self._task, *self._in_flight) if t is not None]
        self._task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pending.clear()
        _fail(self._future, _stopped())
        await self._connection.close()


def _messages(batch: list[Pending | FailedPending]) -> list[tuple[str | None, bytes]]:
    return [
        (None, failure_document(i))
        if isinstance(i, FailedPending)
        else (record_key(i.endpoint, i.prediction_id, i.shadow_of), record_document(i))
        for i in batch
    ]


def _stopped() -> BerthError:
    return BerthError(
        ErrorCode.RECORDING_UNAVAILABLE, "the prediction could not be recorded: the recorder stopped"
    )


def _fail(future: asyncio.Future[None] | None, error: BerthError) -> None:
    if future is not None and not future.done():
        future.set_exception(error)
