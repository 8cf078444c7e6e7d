"""Reading request bodies with a size limit, before anything parses them."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from berth.core.errors import BerthError, ErrorCode


def too_large(limit: int) -> BerthError:
    return BerthError(
        ErrorCode.PAYLOAD_TOO_LARGE, f"request body larger than the limit of {limit} bytes", limit=limit
    )


def check_declared_length(declared: str | None, limit: int) -> None:
    """Refuse a body whose declared ``Content-Length`` is invalid or over `limit`, unread."""
    if declared is None:
        return
    if not (declared.isascii() and declared.isdigit()):
        raise BerthError(ErrorCode.INVALID_REQUEST, "invalid Content-Length header")
    if int(declared) > limit:
        raise too_large(limit)


async def read_asgi_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The whole body from an ASGI `receive`, refused with PAYLOAD_TOO_LARGE past `limit` bytes
    (declared or streamed)."""
    check_declared_length(declared, limit)
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnect()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: one message holds the body
        if len(body) > limit:
            raise too_large(limit)
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body of a Starlette request, with the same limit."""
    return await read_asgi_body(request.receive, request.headers.get("content-length"), limit)
