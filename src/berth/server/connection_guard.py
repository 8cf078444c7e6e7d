"""Connection limits and read timeouts, enforced in the HTTP protocol itself (below ASGI).

uvicorn (0.54) has a keep-alive timeout but no header or body read timeout: a fresh connection that
sends nothing, or sends its headers a byte at a time (each byte cancels the keep-alive timer), is
held forever, and nothing caps how many connections are open (``limit_concurrency`` answers 503 to
*requests* but still accepts and holds the connections, probes included). An ASGI middleware cannot
help: the app is only called once the headers are complete. So `GuardedProtocol` subclasses
uvicorn's httptools protocol and adds, per connection:

- a header timeout (``BERTH_HEADER_TIMEOUT_S``): from the connection (or the end of the previous
  response on a kept-alive connection) to the end of the next request's headers; past it the client
  gets berth's JSON 408 ``client_too_slow`` and is disconnected;
- a body timeout (``BERTH_BODY_TIMEOUT_S``; artifact uploads ``BERTH_UPLOAD_TIMEOUT_S``): from the
  end of the headers to the end of the body; past it the connection is closed (the app sees the
  client gone);
- a connection cap (``BERTH_MAX_CONNECTIONS``, per process, at most the open-file limit less a
  margin): a connection past the cap replaces the oldest connection that has no request in
  progress (an idle or slow client); when every connection is busy, the new one is closed. Idle
  connections therefore cannot lock out a health probe or a real caller.

It also answers malformed HTTP with berth's JSON error shape (``invalid_request``) instead of
uvicorn's plain-text 400.

The timeouts cost no timer operation per request: each connection keeps one deadline and one timer,
and a timer that fires before the deadline (the deadline moved on since) sets itself again for it.
Arming a fresh `call_later` and cancelling it twice per request showed up as 2-3% of the server's
time under 64 connections (`bench/http_server_bench.py --profile`).
"""

from __future__ import annotations

import asyncio
import resource
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from berth.core.errors import BerthError, ErrorCode
from berth.server.rest.body_limit import UPLOAD_PATH
from berth.server.rest.errors import error_body, error_status

_FD_MARGIN: Final = 64
"""File descriptors kept free for the database, artifacts, logs and gRPC when capping connections."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int
    header_timeout_s: float
    body_timeout_s: float
    upload_timeout_s: float


def connection_cap(wanted: int) -> int:
    """`wanted`, lowered so that the process's open-file limit is never the one that is hit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 2 * _FD_MARGIN:
        return wanted
    return min(wanted, soft - _FD_MARGIN)


class _Connections:
    """The open connections of one process, oldest first, and which of them have a request in progress."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: OrderedDict[GuardedProtocol, None] = OrderedDict()

    def add(self, connection: GuardedProtocol) -> None:
        self._open[connection] = None
        if len(self._open) <= self.cap:
            return
        victim = next((c for c in self._open if c is not connection and not c.busy), connection)
        self.drop(victim)
        victim.transport.close()

    def drop(self, connection: GuardedProtocol) -> None:
        self._open.pop(connection, None)

    def __len__(self) -> int:
        return len(self._open)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above. The limits and the registry of open
    connections belong to the process: `configure` sets them before the server starts (a class, not
    an instance, is what uvicorn's config takes, and with several workers it is imported by name in
    each worker process)."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits(1000, 10.0, 60.0, 900.0)
    registry: ClassVar[_Connections] = _Connections(1000)

    @classmethod
    def configure(cls, limits: ConnectionLimits) -> type[GuardedProtocol]:
        cls.limits = limits
        cls.registry = _Connections(connection_cap(limits.max_connections))
        return cls

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.busy = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # when `_timer` fires (loop time)
        self._deadline = 0.0
        self._on_deadline: Callable[[], None] | None = None

    # -- the connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout_s, self._headers_too_slow)
        self.registry.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.registry.drop(self)
        super().connection_lost(exc)

    # -- one request
    def on_headers_complete(self) -> None:
        self.busy = True
        upload = self.parser.get_method() == b"POST" and UPLOAD_PATH.match(
            self.url.split(b"?", 1)[0].decode("latin-1")
        )
        self._arm(self.limits.upload_timeout_s if upload else self.limits.body_timeout_s, self._body_too_slow)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.busy = False
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm(self.limits.header_timeout_s, self._headers_too_slow)

    def send_400_response(self, msg: str) -> None:
        """Malformed HTTP: berth's JSON error shape, then close (uvicorn writes plain text)."""
        self._disarm()
        self._write_error(BerthError(ErrorCode.INVALID_REQUEST, f"malformed HTTP request: {msg}"))

    # -- timeouts
    def _headers_too_slow(self) -> None:
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return
        message = f"the request headers took longer than {self.limits.header_timeout_s:g} s"
        self._write_error(BerthError(ErrorCode.CLIENT_TOO_SLOW, message))

    def _body_too_slow(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()  # the app reading the body sees the client gone

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        """Call `callback` in `seconds` unless armed again or disarmed before. The connection's one
        timer is set anew only when it would fire after the new deadline."""
        self._deadline = self.loop.time() + seconds
        self._on_deadline = callback
        if self._timer is None or self._timer_at > self._deadline:
            self._set_timer()

    def _disarm(self) -> None:
        self._on_deadline = None  # the timer, when it fires, finds nothing due and stops

    def _set_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = self._deadline
        self._timer = self.loop.call_at(self._deadline, self._deadline_reached)

    def _deadline_reached(self) -> None:
        self._timer = None
        callback = self._on_deadline
        if callback is None:
            return
        if self.loop.time() < self._deadline:  # armed again since this timer was set
            self._set_timer()
            return
        self._on_deadline = None
        callback()

    def _write_error(self, error: BerthError) -> None:
        """Answer `error` with berth's JSON shape and close (no request cycle is running)."""
        body = error_body(error)
        status = error_status(error)
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode("ascii")
        if not self.transport.is_closing():
            self.transport.write(head + body)
            self.transport.close()
