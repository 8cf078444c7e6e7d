"""HTTP content codings of inference bodies: gzip and deflate, both ways (tritonclient's
``request_compression_algorithm`` and ``response_compression_algorithm``).

Request bodies are inflated with the same size limit as plain bodies (a small compressed body
cannot expand past it). Responses are compressed only where the caller opted in by name *and*
the route asks for it (binary tensor responses): plain JSON answers are never compressed, so the
``Accept-Encoding: gzip, deflate`` that HTTP libraries send by default costs the hot path nothing.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Final

from berth.core.errors import BerthError, ErrorCode
from berth.server.rest.body import too_large

_WINDOW_BITS: Final[dict[str, int]] = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
"""Content coding -> zlib window bits (HTTP's "deflate" is the zlib format, RFC 9110 §8.4.1.2)."""


def decode_content(body: bytes, coding: str | None, limit: int) -> bytes:
    """The body without its ``Content-Encoding`` (gzip, deflate or identity), at most `limit` bytes."""
    name = (coding or "identity").strip().lower()
    if name == "identity":
        return body
    bits = _WINDOW_BITS.get(name)
    if bits is None:
        raise BerthError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Encoding {coding!r} is not supported; use gzip, deflate or none",
        )
    inflater = zlib.decompressobj(bits)
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"the body is not valid {name}: {exc}") from None
    if len(plain) > limit:
        raise too_large(limit)
    if not inflater.eof or inflater.unused_data:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"the {name} body is truncated or has trailing data")
    return plain


def accepted_coding(accept_encoding: str | None) -> str | None:
    """gzip or deflate when ``Accept-Encoding`` names one of them (not with ``q=0``), else None."""
    if not accept_encoding:
        return None
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        if name in _WINDOW_BITS and params.replace(" ", "").lower() not in (
            "q=0",
            "q=0.0",
            "q=0.00",
            "q=0.000",
        ):
            return name
    return None


def encode_content(body: bytes, coding: str) -> bytes:
    """`body` compressed with `coding` (gzip or deflate), at a fast level: this is the serving path."""
    if coding == "gzip":
        return gzip.compress(body, compresslevel=1, mtime=0)
    return zlib.compress(body, 1)
