"""The record stream: prediction records on NATS JetStream, a transport that outlives the replica.

A data-plane replica configured with ``record_sink = nats://host:port[/STREAM]`` publishes each
record to the subject ``berth.records.<STREAM>`` and answers its caller only once JetStream has
acknowledged it (the record is then stored by the NATS server, on its disk, replicated on a
cluster). Each message carries the record's key in the ``Nats-Msg-Id`` header: a publish retried
within the stream's duplicate window is stored once by JetStream, and the drainer
(`berth.storage.record_drain`) inserts by that key, so a record delivered twice is stored once.

`StreamConnection` connects in the background and keeps reconnecting (a replica starts, and stays
up, while NATS is away: its records are refused with ``recording_unavailable`` meanwhile, never
held); each (re)connection creates the stream or verifies the existing one (its subject and a
duplicate window at least as long as asked). An operator may create the stream beforehand with
other limits (replicas, storage, age): berth keeps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import PubAck, RetentionPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext

from berth.core.errors import BerthError, ErrorCode

log = logging.getLogger(__name__)

DEFAULT_STREAM: Final = "BERTH_RECORDS"
SUBJECT_PREFIX: Final = "berth.records"
MSG_ID: Final = "Nats-Msg-Id"
CONNECT_TIMEOUT_S: Final = 2
RECONNECT_WAIT_S: Final = 0.5
_STREAM_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class StreamTarget:
    """Where records go: the NATS servers and the JetStream stream (from a ``nats://`` URI)."""

    servers: tuple[str, ...]
    stream: str

    @property
    def subject(self) -> str:
        return f"{SUBJECT_PREFIX}.{self.stream}"

    @property
    def uri(self) -> str:
        """The URI without credentials (for messages and logs)."""
        hosts = ",".join(urlsplit(s).hostname or "" for s in self.servers)
        port = urlsplit(self.servers[0]).port
        return f"nats://{hosts}{f':{port}' if port else ''}/{self.stream}"


def parse_stream_uri(uri: str) -> StreamTarget:
    """``nats://host:port[,host2:port2][/STREAM]`` (credentials as ``nats://user:password@host``);
    the stream defaults to ``BERTH_RECORDS``. INVALID_REQUEST for anything else."""
    parts = urlsplit(uri)
    if parts.scheme != "nats" or not parts.netloc:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"a record stream URI is nats://host:port[/stream], got {uri!r}"
        )
    credentials, _, hosts = parts.netloc.rpartition("@")
    prefix = f"{credentials}@" if credentials else ""
    servers = tuple(f"nats://{prefix}{host}" for host in hosts.split(",") if host)
    stream = parts.path.strip("/") or DEFAULT_STREAM
    if not _STREAM_NAME.match(stream):
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"invalid stream name {stream!r}: letters, digits, '_' and '-', at most 64",
        )
    if not servers:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"the record stream URI {uri!r} names no server")
    return StreamTarget(servers=servers, stream=stream)


class StreamConnection:
    """A NATS connection that is made, and remade, in the background; `jetstream` once the stream
    is verified. `failure` says why records cannot be sent now (None: they can)."""

    def __init__(
        self,
        target: StreamTarget,
        *,
        duplicate_window_s: float,
        name: str,
        ensure: Callable[[JetStreamContext, StreamTarget, float], Awaitable[None]] | None = None,
    ) -> None:
        self.target = target
        self._ensure = ensure or ensure_stream
        """Creates or verifies the stream at every (re)connection (default: the record stream's)."""
        self._duplicate_window_s = duplicate_window_s
        self._name = name
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._task: asyncio.Task[None] | None = None
        self._verified = asyncio.Event()
        self._settled = asyncio.Event()
        """Set once the first attempt has ended: verified, or failed (then retried in the background)."""
        self._closing = False
        self.failure: str | None = f"not yet connected to {target.uri}"

    @property
    def jetstream(self) -> JetStreamContext:
        """The JetStream context; RECORDING_UNAVAILABLE while not connected or not verified."""
        client, js = self._client, self._js
        if js is None or client is None or not client.is_connected or not self._verified.is_set():
            reason = self.failure or f"the connection to {self.target.uri} is being re-established"
            raise BerthError(ErrorCode.RECORDING_UNAVAILABLE, f"the record stream is unavailable: {reason}")
        return js

    @property
    def connected(self) -> bool:
        client = self._client
        return client is not None and client.is_connected and self._verified.is_set()

    async def start(self) -> None:
        """Begin connecting (returns at once; `wait_connected` waits)."""
        if self._task is None:
            self._task = asyncio.create_task(self._connect(), name="berth-record-stream-connect")

    async def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the stream is verified, or the first attempt has failed (a NATS that refuses
        the connection is not waited for: the caller goes on, not ready, while the connection is
        retried), or `timeout_s`. True when connected."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), timeout_s)
        return self.connected

    async def _connect(self) -> None:
        self._client = await nats.connect(
            list(self.target.servers),
            name=self._name,
            connect_timeout=CONNECT_TIMEOUT_S,
            allow_reconnect=True,
            max_reconnect_attempts=-1,  # forever, initial connection included
            reconnect_time_wait=RECONNECT_WAIT_S,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self._js = self._client.jetstream()
        await self._verify_until_done()

    async def _verify_until_done(self) -> None:
        while True:
            try:
                await self._ensure(self.jetstream_unverified(), self.target, self._duplicate_window_s)
            except BerthError as exc:
                self._fail(exc.message)
            except (nats.errors.Error, TimeoutError, OSError) as exc:
                self._fail(f"the stream {self.target.stream} cannot be verified: {exc or type(exc).__name__}")
            else:
                if self.failure is not None:
                    log.info("record stream %s connected", self.target.uri)
                self.failure = None
                self._verified.set()
                self._settled.set()
                return
            await asyncio.sleep(1.0)

    def jetstream_unverified(self) -> JetStreamContext:
        if self._js is None:
            raise BerthError(ErrorCode.RECORDING_UNAVAILABLE, f"not connected to {self.target.uri}")
        return self._js

    def _fail(self, reason: str) -> None:
        if self.failure != reason:
            log.warning("record stream: %s", reason)
        self.failure = reason
        self._settled.set()

    async def _on_error(self, exc: Exception) -> None:
        self._fail(f"{self.target.uri} is unreachable: {exc or type(exc).__name__}")

    async def _on_disconnected(self) -> None:
        if not self._closing:
            self._fail(f"disconnected from {self.target.uri}")

    async def _on_reconnected(self) -> None:
        log.info("record stream %s: reconnected", self.target.uri)
        self._verified.clear()  # a server that came back without its storage has no stream
        self._task = asyncio.create_task(self._verify_until_done(), name="berth-record-stream-verify")

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        client, self._client = self._client, None
        if client is not None:  # every publish was awaited, every message acknowledged: nothing to drain
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5.0)


async def ensure_stream(js: JetStreamContext, target: StreamTarget, duplicate_window_s: float) -> None:
    """Create the stream (file storage, work-queue retention: a record leaves it once drained), or
    verify the one there takes the subject with a duplicate window at least `duplicate_window_s`."""
    try:
        info = await js.stream_info(target.stream)
    except nats.js.errors.NotFoundError:
        config = StreamConfig(
            name=target.stream,
            description="berth prediction records, drained into the record store",
            subjects=[target.subject],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=duplicate_window_s,
        )
        with contextlib.suppress(nats.js.errors.BadRequestError):  # created meanwhile by another process
            await js.add_stream(config)
        info = await js.stream_info(target.stream)
    subjects = info.config.subjects or []
    if target.subject not in subjects:
        raise BerthError(
            ErrorCode.RECORDING_UNAVAILABLE,
            f"the stream {target.stream} does not take the subject {target.subject} (it takes {subjects})",
        )
    window = info.config.duplicate_window or 0
    if window < duplicate_window_s:
        raise BerthError(
            ErrorCode.RECORDING_UNAVAILABLE,
            f"the stream {target.stream} keeps duplicates apart for {window:.0f} s, less than the "
            f"{duplicate_window_s:.0f} s asked (record_stream_duplicate_window_s)",
        )


async def publish_records(
    connection: StreamConnection, records: Sequence[tuple[str | None, bytes]], timeout_s: float
) -> int:
    """Publish (key, payload) pairs at once and wait until JetStream has acknowledged every one;
    returns how many it took as duplicates of messages it had (sent before, by a retry).
    RECORDING_UNAVAILABLE when not connected, refused, or not acknowledged within `timeout_s`."""
    js = connection.jetstream
    target = connection.target
    futures: list[asyncio.Future[PubAck]] = []
    try:
        async with asyncio.timeout(timeout_s):  # one deadline for the sends and the acknowledgements
            for key, payload in records:
                headers = {MSG_ID: key} if key is not None else None
                # wait_stall=None: no wait_for (a task) per message; the deadline above bounds a stall
                futures.append(
                    await js.publish_async(target.subject, payload, wait_stall=None, headers=headers)
                )
            acks = await asyncio.gather(*futures)
    except TimeoutError:
        raise BerthError(
            ErrorCode.RECORDING_UNAVAILABLE,
            f"the record stream {target.uri} did not acknowledge {len(records)} records "
            f"within {timeout_s:g} s",
        ) from None
    except (nats.errors.Error, OSError) as exc:
        raise BerthError(
            ErrorCode.RECORDING_UNAVAILABLE,
            f"the record stream {target.uri} refused the records: {exc or type(exc).__name__}",
        ) from None
    finally:
        for future in futures:
            future.cancel()  # those not acknowledged (a no-op on the others): their slots are freed
    return sum(1 for ack in acks if ack.duplicate)
