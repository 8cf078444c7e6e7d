"""Reading request bodies with a size limit, before anything parses them."""

from __future__ import annotations

from starlette.requests import Request

from berth.core.errors import BerthError, ErrorCode


def too_large(limit: int) -> BerthError:
    return BerthError(
        ErrorCode.PAYLOAD_TOO_LARGE, f"request body larger than the limit of {limit} bytes", limit=limit
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with PAYLOAD_TOO_LARGE past `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise BerthError(ErrorCode.INVALID_REQUEST, "invalid Content-Length header")
        if int(declared) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
