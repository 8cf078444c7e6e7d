"""The outermost ASGI layer: each HTTP request's id, and the access log when it is on.

The id is the caller's ``x-request-id`` header when it is acceptable (`berth.core.request_ids`),
else a new one; it is set for the request's task (so every log line written while the request is
handled carries it) and returned in the response's ``x-request-id`` header. The access log
(``BERTH_ACCESS_LOG=true``, logger ``berth.access``) writes one line per request when its answer
starts: method, path, status, duration, request id and the model that answered.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth.core.request_ids import REQUEST_ID, RequestIds

HEADER: Final = b"x-request-id"
MODEL_HEADER: Final = b"berth-model"
access_log = logging.getLogger("berth.access")


class RequestLayer:
    def __init__(self, app: ASGIApp, ids: RequestIds, *, log_access: bool = False) -> None:
        self.app = app
        self._ids = ids
        self._log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent: str | None = None
        for key, value in scope["headers"]:
            if key == HEADER:
                sent = value.decode("latin-1")
                break
        request_id = self._ids.accept(sent)
        REQUEST_ID.set(request_id)  # this request's task only
        echoed = (HEADER, request_id.encode())
        if self._log_access:
            await self._logged(scope, receive, send, echoed)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        await self.app(scope, receive, send_with_id)

    async def _logged(self, scope: Scope, receive: Receive, send: Send, echoed: tuple[bytes, bytes]) -> None:
        started = time.perf_counter()

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), echoed]
                message["headers"] = headers
                model = next((v.decode("latin-1") for k, v in headers if k == MODEL_HEADER), "")
                status = int(message["status"])
                seconds = time.perf_counter() - started
                access_log.info(
                    "%s %s %d %.1f ms",
                    scope["method"],
                    scope["path"],
                    status,
                    seconds * 1000,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_s": round(seconds, 6),
                        "model": model,
                    },
                )
            await send(message)

        await self.app(scope, receive, send_logged)
