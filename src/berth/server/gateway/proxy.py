"""The gateway's requests: inference by name to a replica of the serving group that has it ready,
the management API and web app to the API role, its own health.

Paths that name a model or endpoint (``/v2/models/{name}/...``, ``/v1/models/{name}:predict``,
``/v1/models/{name}/versions/...``) are sent to a replica the `GroupDirectory` names; a replica
that refuses the connection is left out and the next one tried (the request never reached it, so
trying again is safe; a failure after the request was sent is answered 502, never retried, since
the prediction may have been made and recorded). The body is read once, bounded by the body limit,
and the answer streamed back as the replica sends it. Authentication is the replicas': the gateway
passes the caller's headers through and adds ``x-forwarded-for``; an inference answer names the
replica that made it (``berth-replica``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Final
from urllib.parse import unquote

import aiohttp
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from berth.core.errors import BerthError, ErrorCode
from berth.server.gateway.directory import GroupDirectory
from berth.server.rest.errors import error_response

_NAMED: Final = re.compile(r"^/(?:v2/models/(?P<v2>[^/]+)(?:/.*)?|v1/models/(?P<v1>[^/:]+)(?::predict|/.*))$")
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def named_target(path: str) -> str | None:
    """The model or endpoint a request path names (URL-decoded), or None."""
    match = _NAMED.match(path)
    if match is None:
        return None
    return unquote(match.group("v2") or match.group("v1"))


class GatewayProxy:
    def __init__(
        self,
        directory: GroupDirectory,
        client: aiohttp.ClientSession,
        *,
        api_url: str | None,
        max_body_bytes: int,
    ) -> None:
        self._directory = directory
        self._client = client
        self._api_url = api_url.rstrip("/") if api_url else None
        self._max_body_bytes = max_body_bytes

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        if path == "/v2/health/live":
            return JSONResponse({"live": True})
        if path == "/v2/health/ready":
            ready = self._directory.loaded
            return JSONResponse({"ready": ready}, status_code=200 if ready else 503)
        try:
            name = named_target(path)
            if name is not None:
                return await self._forward(request, self._directory.candidates(name), retry=True)
            if self._api_url is None:
                raise BerthError(ErrorCode.ROUTE_NOT_FOUND, f"no route {path!r} on the gateway")
            return await self._forward(request, [self._api_url], retry=False)
        except BerthError as error:
            return error_response(error)

    async def _forward(self, request: Request, bases: list[str], *, retry: bool) -> Response:
        # Inference bodies are read once (bounded), to be sent again to the next replica; management
        # calls (artifact uploads of gigabytes) stream through to the one API address.
        body: bytes | AsyncIterator[bytes] = await self._body(request) if retry else request.stream()
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        client_host = request.client.host if request.client is not None else ""
        forwarded = request.headers.get("x-forwarded-for")
        headers.append(("x-forwarded-for", f"{forwarded}, {client_host}" if forwarded else client_host))
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        for base in bases:
            try:
                answer = await self._client.request(
                    request.method, base + target, headers=headers, data=body, allow_redirects=False
                )
            except aiohttp.ClientConnectorError as exc:
                self._directory.mark_down(base)
                if retry:
                    continue
                raise BerthError(ErrorCode.UNAVAILABLE, f"the API at {base} is unreachable ({exc})") from None
            except aiohttp.ClientError as exc:
                raise BerthError(
                    ErrorCode.UNAVAILABLE, f"the replica failed before answering ({type(exc).__name__})"
                ) from None
            response = StreamingResponse(
                answer.content.iter_any(),
                status_code=answer.status,
                background=BackgroundTask(answer.release),
            )
            response.raw_headers = [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in answer.headers.items()
                if k.lower() not in _HOP_BY_HOP
            ]
            if retry:
                response.raw_headers.append((b"berth-replica", base.encode("latin-1")))
            return response
        raise BerthError(ErrorCode.NO_SERVING_REPLICA, "no replica accepted the connection")

    async def _body(self, request: Request) -> bytes:
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._max_body_bytes:
                raise BerthError(
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    f"the request body is larger than {self._max_body_bytes} bytes",
                    max_bytes=self._max_body_bytes,
                )
            chunks.append(chunk)
        return b"".join(chunks)
