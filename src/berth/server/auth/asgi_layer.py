"""The outermost ASGI layer: every HTTP request is authenticated (and rate-limited) here, once.

It reads ``Authorization: Bearer …``, turns it into a `Principal` (`Authenticator`) and puts the
principal and the server's `Guard` in the ASGI scope for the routes and the inference fast path
to authorize against (a route's permission sets the audit context of the request). A
request without valid credentials is answered 401 here, before any routing, so an unknown path
tells an unauthenticated caller nothing; only the public paths (liveness, readiness, the API
documentation) pass without credentials.
"""

from __future__ import annotations

import math
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from berth.core.access import ANONYMOUS
from berth.core.errors import BerthError, ErrorCode
from berth.server.auth.authentication import Authenticator
from berth.server.auth.permissions import GUARD_KEY, PRINCIPAL_KEY, Guard
from berth.server.auth.rate_limit import RateLimiter
from berth.server.rest.errors import error_body, error_headers, error_status

MAX_HEADER_BYTES: Final = 64 * 1024
_JSON: Final = (b"content-type", b"application/json")


class AuthLayer:
    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        guard: Guard,
        *,
        public_paths: frozenset[str],
        limiter: RateLimiter | None = None,
    ) -> None:
        self.app = app
        self._authenticator = authenticator
        self._guard = guard
        self._public = public_paths
        self._limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket" and self._authenticator.enabled:  # berth serves none
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        scope[GUARD_KEY] = self._guard
        if not self._authenticator.enabled and self._limiter is None:
            scope[PRINCIPAL_KEY] = ANONYMOUS
            await self.app(scope, receive, send)
            return
        authorization: bytes | None = None
        size = 0
        for key, value in scope["headers"]:
            size += len(key) + len(value)
            if key == b"authorization":
                authorization = value
        if size > MAX_HEADER_BYTES:
            message = f"request headers larger than {MAX_HEADER_BYTES} bytes"
            await _refuse(send, BerthError(ErrorCode.INVALID_REQUEST, message))
            return
        if scope["path"] in self._public:
            await self.app(scope, receive, send)
            return
        try:
            principal = self._authenticator.authenticate(authorization)
            if self._limiter is not None:
                client = scope.get("client")
                key = principal.name if principal.authenticated else (client[0] if client else "")
                wait = self._limiter.retry_after(key)
                if wait > 0:
                    raise BerthError(
                        ErrorCode.RATE_LIMITED,
                        f"rate limit exceeded for {principal.name!r}: retry in {wait:.2f} s",
                        retry_after=math.ceil(wait),
                    )
        except BerthError as error:
            await _refuse(send, error)
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)


async def _refuse(send: Send, error: BerthError) -> None:
    body = error_body(error)
    headers = [(b"content-length", str(len(body)).encode()), _JSON, *error_headers(error)]
    await send({"type": "http.response.start", "status": error_status(error), "headers": headers})
    await send({"type": "http.response.body", "body": body})
