"""Pagination cursors: opaque, URL-safe, validated and bound to the query they came from.

A cursor is base64url (no padding) of a small JSON object: the kind of list it pages, a short
hash of the query's filters, and the position (the sort key of the last item given). A caller
passes it back verbatim, in a URL or a body, without escaping. A cursor that is malformed,
tampered with, of another list, or from a query with other filters is INVALID_CURSOR (400);
never a server error and never a page of another query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Final

from berth.core.errors import BerthError, ErrorCode

MAX_CURSOR_CHARS: Final = 512
Position = list[str | int]


def query_binding(*filters: object) -> str:
    """A short hash of a query's filters (their reprs): the cursor's tie to its query."""
    return hashlib.sha256(repr(filters).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def encode_cursor(kind: str, binding: str, position: Position) -> str:
    payload = json.dumps({"k": kind, "q": binding, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, kind: str, binding: str) -> Position:
    """The position `cursor` holds; INVALID_CURSOR unless it is one of `kind` for this query."""
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR_CHARS:
        raise invalid_cursor("a cursor is the next_cursor of a previous page")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid_cursor("malformed cursor") from None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        raise invalid_cursor("not a cursor of this list")
    if payload.get("q") != binding:
        raise invalid_cursor("the cursor belongs to a query with other filters")
    position = payload.get("p")
    if not isinstance(position, list) or not all(
        isinstance(p, str | int) and not isinstance(p, bool) for p in position
    ):
        raise invalid_cursor("malformed cursor")
    return position


def invalid_cursor(why: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_CURSOR, f"invalid cursor: {why}")
