"""The size limit of every request body, enforced while the bytes arrive, for every route.

`BodyLimit` is an ASGI layer in front of everything (routing, authorization, FastAPI's own body
parsing, multipart spooling): a body whose declared ``Content-Length`` is over the limit is answered
413 ``payload_too_large`` without reading a byte of it; a body that streams past the limit (chunked,
or lying about its length) is answered 413 as soon as the byte past the limit arrives, and the app
that was reading it sees the client gone. Both answers close the connection, so the rest of the
body is never read into memory.

Artifact uploads (`UPLOAD_PATH`) have their own limit (``BERTH_MAX_UPLOAD_BYTES``); every other
body has ``BERTH_MAX_BODY_BYTES``. Routes may check smaller limits of their own.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth.core.errors import BerthError, ErrorCode
from berth.server.rest.body import too_large
from berth.server.rest.errors import error_body, error_status

log = logging.getLogger(__name__)

UPLOAD_PATH: Final = re.compile(r"^/api/v1/models/[^/]+/versions$")
"""``POST`` to these paths uploads an artifact (multipart): the upload limit applies."""
_CLOSE: Final = (b"connection", b"close")
_JSON: Final = (b"content-type", b"application/json")


class BodyLimit:
    """ASGI middleware: refuse bodies over their limit, counting bytes as they arrive."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self._max_body = max_body_bytes
        self._max_upload = max_upload_bytes

    def limit_of(self, scope: Scope) -> int:
        if scope["method"] == "POST" and UPLOAD_PATH.match(scope["path"]):
            return self._max_upload
        return self._max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope)
        declared = _declared_length(scope)
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()) or len(declared) > 19:
                await answer(send, BerthError(ErrorCode.INVALID_REQUEST, "invalid Content-Length header"))
                return
            if int(declared) > limit:
                await answer(send, too_large(limit))
                return
        await _Counted(self.app, limit, scope, receive, send).run()


class _Counted:
    """One request whose body is counted as the app receives it."""

    def __init__(self, app: ASGIApp, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        self._app = app
        self._limit = limit
        self._scope = scope
        self._receive = receive
        self._send = send
        self._received = 0
        self._started = False
        self._refused = False

    async def run(self) -> None:
        try:
            await self._app(self._scope, self.receive, self.send)
        except (ClientDisconnect, OSError, RuntimeError):
            if not self._refused:
                raise
        except BerthError:
            if not self._refused:
                raise
            log.debug("the app failed after its body was refused", exc_info=True)

    async def receive(self) -> Message:
        if self._refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit:
                self._refused = True
                if not self._started:
                    self._started = True
                    await answer(self._send, too_large(self._limit))
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self._refused:
            return  # answered already: what the app writes after that goes nowhere
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


async def answer(send: Send, error: BerthError) -> None:
    """Answer `error` as JSON and close the connection (its body is left unread)."""
    body = error_body(error)
    headers = [(b"content-length", str(len(body)).encode()), _JSON, _CLOSE]
    await send({"type": "http.response.start", "status": error_status(error), "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            return str(value.decode("latin-1"))
    return None
