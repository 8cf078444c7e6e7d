"""Team inboxes on NATS JetStream: each team's messages published to its subject, once per key.

A server with ``delivery_nats = nats://host:port[/STREAM]`` (default stream ``BERTH_INBOX``)
publishes a team's messages to ``berth.inbox.<STREAM>.<name>``, the name its inbox settings give
(`berth.core.delivery.check_subject`), so a team cannot write onto the record stream's subjects.
The stream takes ``berth.inbox.<STREAM>.>`` with limits retention (every team's
consumers read it, nothing is removed by a read) and a duplicate window: each message carries its
idempotency key in ``Nats-Msg-Id``, so a message the deliverer sends again within the window is
stored once, and consumers drop any later copy by the same key. The connection is the record
stream's (`StreamConnection`: made and remade in the background), with this stream's check.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Final
from urllib.parse import urlsplit

import nats.errors
import nats.js.errors
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext

from berth.core.delivery import EVENT, nats_subject
from berth.core.errors import BerthError, ErrorCode
from berth.storage.record_stream import MSG_ID, StreamConnection, StreamTarget, parse_stream_uri

DEFAULT_INBOX_STREAM: Final = "BERTH_INBOX"
MAX_AGE: Final = timedelta(days=7)
"""How long the stream keeps a message (the inbox table keeps it for good)."""


def parse_inbox_uri(uri: str) -> StreamTarget:
    """``nats://host:port[/STREAM]`` -> the servers and stream (default ``BERTH_INBOX``)."""
    target = parse_stream_uri(uri)
    if not urlsplit(uri).path.strip("/"):  # no stream named: the inbox's own, not the records'
        target = StreamTarget(servers=target.servers, stream=DEFAULT_INBOX_STREAM)
    return target


async def ensure_inbox_stream(js: JetStreamContext, target: StreamTarget, duplicate_window_s: float) -> None:
    """Create the inbox stream, or check the one there takes ``berth.inbox.<STREAM>.>``."""
    wanted = nats_subject(target.stream, ">")
    try:
        info = await js.stream_info(target.stream)
    except nats.js.errors.NotFoundError:
        config = StreamConfig(
            name=target.stream,
            description="berth team inboxes: routed messages, one subject per team",
            subjects=[wanted],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            duplicate_window=duplicate_window_s,
            max_age=MAX_AGE.total_seconds(),
        )
        with contextlib.suppress(nats.js.errors.BadRequestError):  # created meanwhile by another process
            await js.add_stream(config)
        info = await js.stream_info(target.stream)
    subjects = info.config.subjects or []
    if wanted not in subjects:
        raise BerthError(
            ErrorCode.UNAVAILABLE, f"the stream {target.stream} does not take {wanted} (it takes {subjects})"
        )


def inbox_connection(uri: str, *, duplicate_window_s: float, name: str) -> StreamConnection:
    return StreamConnection(
        parse_inbox_uri(uri), duplicate_window_s=duplicate_window_s, name=name, ensure=ensure_inbox_stream
    )


async def publish_message(
    connection: StreamConnection, name: str, key: str, payload: bytes, timeout_s: float
) -> bool:
    """Publish one message under its key and wait for JetStream's acknowledgement; True when the
    stream already had it (a resend within the duplicate window). UNAVAILABLE when it cannot."""
    try:
        js = connection.jetstream
        subject = nats_subject(connection.target.stream, name)
        ack = await js.publish(
            subject, payload, timeout=timeout_s, headers={MSG_ID: key, "berth-event": EVENT}
        )
    except BerthError as exc:
        raise BerthError(ErrorCode.UNAVAILABLE, exc.message) from None
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        raise BerthError(
            ErrorCode.UNAVAILABLE, f"NATS did not take the message: {type(exc).__name__}"
        ) from None
    return bool(ack.duplicate)
