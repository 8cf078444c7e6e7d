"""The gateway's requests: inference by name to a replica of the serving group that has it ready,
the management API and web app to the API role, its own health.

Paths that name a model or endpoint (``/v2/models/{name}/...``, ``/v1/models/{name}:predict``,
``/v1/models/{name}/versions/...``) are sent to a replica the `GroupDirectory` names; a replica
that refuses the connection is left out and the next one tried (the request never reached it, so
trying again is safe; a failure after the request was sent is answered 502, never retried, since
the prediction may have been made and recorded). A replica that answers ``not_served_here`` did not
run the request either (it let the name go after the gateway's last refresh, in a move between
groups): the next one is tried, and when none is left the directory is read again at once and its
candidates tried. The body is read once, bounded by the body limit,
and the answer streamed back as the replica sends it. Authentication is the replicas': the gateway
passes the caller's headers through and adds ``x-forwarded-for``; an inference answer names the
replica that made it (``berth-replica``).
"""

from __future__ import annotations

import contextlib
import enum
import json
import re
from collections.abc import AsyncIterator
from typing import Final
from urllib.parse import quote, unquote

import aiohttp
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from berth.core.errors import BerthError, ErrorCode
from berth.server.gateway.attempts import UNSERVED, CandidateRounds
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


def _raw_path(request: Request) -> str:
    """The path as the caller sent it (percent-escapes kept): routed by, and passed on, as it is,
    so the replica decodes it exactly once, as it would a direct call."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if isinstance(raw, bytes) else quote(request.url.path)


def named_target(path: str) -> str | None:
    """The model or endpoint a request path (as sent, percent-escapes kept) names, decoded once;
    or None."""
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
        self._rounds = CandidateRounds(directory)

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        if path == "/v2/health/live":
            return JSONResponse({"live": True})
        if path == "/v2/health/ready":
            ready = self._directory.loaded
            return JSONResponse({"ready": ready}, status_code=200 if ready else 503)
        try:
            name = named_target(_raw_path(request))
            if name is not None:
                return await self._forward_named(request, name)
            if self._api_url is None:
                raise BerthError(ErrorCode.ROUTE_NOT_FOUND, f"no route {path!r} on the gateway")
            return await self._forward_to_api(request, self._api_url)
        except BerthError as error:
            return error_response(error)

    async def _forward_named(self, request: Request, name: str) -> Response:
        body = await self._body(request)  # read once (bounded), to be sent again to the next replica
        try:
            return await self._to_a_serving_replica(request, name, body)
        except BerthError as error:
            if error.code not in UNSERVED:
                raise
            return await self._answer_unserved(request, body, error)

    async def _answer_unserved(self, request: Request, body: bytes, unserved: BerthError) -> Response:
        """A name no live replica serves, answered as a replica answers it: after it authenticated
        the caller (so that an anonymous caller learns nothing of which names exist, and a caller of
        another team gets what it gets for a missing name). `unserved` is this gateway's own answer,
        given to a caller the replica let through."""
        for base in self._directory.any_replicas(grpc=False):
            answer = await self._try(request, base, body)
            if answer is _Skipped.NOT_SERVED:
                raise unserved  # the caller may know the name: it is served nowhere now
            if isinstance(answer, Response):
                return answer
        raise BerthError(ErrorCode.NO_SERVING_REPLICA, "no serving replica is live")

    async def _to_a_serving_replica(self, request: Request, name: str, body: bytes) -> Response:
        async with contextlib.aclosing(self._rounds.rounds(name, self._directory.candidates)) as rounds:
            async for candidates in rounds:
                for base in candidates:
                    answer = await self._try(request, base, body)
                    if answer is _Skipped.NOT_SERVED:
                        self._directory.mark_lacking(base, name)
                    elif isinstance(answer, Response):
                        return answer
        raise AssertionError("rounds end with an answer or NO_SERVING_REPLICA")  # pragma: no cover

    async def _try(self, request: Request, base: str, body: bytes) -> Response | _Skipped:
        """The replica's answer to pass on, or why there is none."""
        try:
            answer = await self._send(request, base, body)
        except aiohttp.ClientConnectorError:
            self._directory.mark_down(base)
            return _Skipped.UNREACHABLE
        if answer.status == 404:
            error_body = await _small_json_body(answer)
            if error_body is not None:
                if _code(error_body) == ErrorCode.NOT_SERVED_HERE.value:
                    return _Skipped.NOT_SERVED
                return _buffered(answer, error_body, base)
        return _streamed(answer, base)

    async def _forward_to_api(self, request: Request, api_url: str) -> Response:
        # management calls (artifact uploads of gigabytes) stream through to the one API address
        try:
            answer = await self._send(request, api_url, request.stream())
        except aiohttp.ClientConnectorError as exc:
            raise BerthError(ErrorCode.UNAVAILABLE, f"the API at {api_url} is unreachable ({exc})") from None
        return _streamed(answer, None)

    async def _send(
        self, request: Request, base: str, content: bytes | AsyncIterator[bytes]
    ) -> aiohttp.ClientResponse:
        """The replica's answer (its body not yet read); ClientConnectorError when the request never
        reached it, UNAVAILABLE when it failed after being sent."""
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        client_host = request.client.host if request.client is not None else ""
        forwarded = request.headers.get("x-forwarded-for")
        headers.append(("x-forwarded-for", f"{forwarded}, {client_host}" if forwarded else client_host))
        target = _raw_path(request) + (f"?{request.url.query}" if request.url.query else "")
        try:
            return await self._client.request(
                request.method, base + target, headers=headers, data=content, allow_redirects=False
            )
        except aiohttp.ClientConnectorError:
            raise
        except aiohttp.ClientError as exc:
            raise BerthError(
                ErrorCode.UNAVAILABLE, f"the replica failed before answering ({type(exc).__name__})"
            ) from None

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


_ERROR_BODY_LIMIT: Final = 64 * 1024


class _Skipped(enum.Enum):
    """Why a replica gave no answer to pass on; in neither case did it run the request."""

    NOT_SERVED = "not_served_here"
    """It let the name go (or never had it)."""
    UNREACHABLE = "unreachable"
    """No connection could be made (it is marked down)."""


def _answer_headers(answer: aiohttp.ClientResponse, replica: str | None) -> list[tuple[bytes, bytes]]:
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in answer.headers.items()
        if k.lower() not in _HOP_BY_HOP
    ]
    if replica is not None:
        headers.append((b"berth-replica", replica.encode("latin-1")))
    return headers


def _streamed(answer: aiohttp.ClientResponse, replica: str | None) -> Response:
    response = StreamingResponse(
        answer.content.iter_any(), status_code=answer.status, background=BackgroundTask(answer.release)
    )
    response.raw_headers = _answer_headers(answer, replica)
    return response


def _buffered(answer: aiohttp.ClientResponse, body: bytes, replica: str) -> Response:
    response = Response(body, status_code=answer.status)
    response.raw_headers = [*_answer_headers(answer, replica), (b"content-length", str(len(body)).encode())]
    return response


async def _small_json_body(answer: aiohttp.ClientResponse) -> bytes | None:
    """The body of a small JSON answer, read and released; None (nothing read) for any other."""
    if answer.content_type != "application/json" or answer.content_length is None:
        return None
    if answer.content_length > _ERROR_BODY_LIMIT:
        return None
    body = await answer.read()
    answer.release()
    return body


def _code(body: bytes) -> object:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed.get("code") if isinstance(parsed, dict) else None
