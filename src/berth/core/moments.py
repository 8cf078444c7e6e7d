"""Points in time given by callers: one parser and one range for every route, body and protocol.

A moment is an ISO 8601 time (``2026-11-21T10:00:00Z``, any offset) or Unix seconds (a number,
or a string of one). A time without a zone is taken as UTC. Every moment is returned in UTC and
must lie in [`EARLIEST`, `LATEST`): far from the ends of `datetime`, so the arithmetic done with
it afterwards (windows, buckets, offsets) never overflows, and anything outside it is a caller's
mistake answered with INVALID_REQUEST (400), never a server error.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from berth.core.errors import BerthError, ErrorCode

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(9000, 1, 1, tzinfo=UTC)
MAX_TEXT: Final = 64
"""A longer moment is not one (and is not echoed whole in the error)."""


def to_moment(value: object) -> datetime:
    """`value` (datetime, ISO 8601 text, Unix seconds) as an aware UTC datetime in range; a
    ValueError saying why not (pydantic turns it into a validation error)."""
    moment = _parse(value)
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise _out_of_range(value) from None
    if not EARLIEST <= moment < LATEST:
        raise _out_of_range(value)
    return moment


def parse_moment(name: str, value: object) -> datetime | None:
    """`to_moment` for a named parameter (None and "" mean not given); INVALID_REQUEST naming it."""
    if value is None or value == "":
        return None
    try:
        return to_moment(value)
    except ValueError as exc:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{name}: {exc}", parameter=name) from None


def moment_text(moment: datetime) -> str:
    """A moment as ISO 8601 text in UTC (``2026-11-21T10:00:00Z``), as pydantic writes a datetime."""
    return moment.isoformat().replace("+00:00", "Z")


Moment = Annotated[
    datetime,
    PlainValidator(to_moment),
    # said explicitly: pydantic 2.14's own serializer, behind a plain validator in an optional
    # field, warns that the datetime is not one (a server error where warnings are errors)
    PlainSerializer(moment_text, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "ISO 8601 or Unix seconds"}),
]
"""A pydantic field (body or query parameter) parsed by `to_moment`."""


def _parse(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected an ISO 8601 time (2026-11-21T10:00:00Z) or Unix seconds")
    seconds: float
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ValueError(f"{value[:MAX_TEXT]!r}... is not a time")
        try:
            seconds = float(value)
        except ValueError:
            return _iso(value)
    else:
        seconds = value
    if not math.isfinite(seconds):
        raise _out_of_range(value)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _out_of_range(value) from None


def _iso(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time (2026-11-21T10:00:00Z) or Unix seconds") from None


def _out_of_range(value: object) -> ValueError:
    span = f"{EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} UTC"
    return ValueError(f"{str(value)[:MAX_TEXT]!r} is out of range: times lie from {span}")
