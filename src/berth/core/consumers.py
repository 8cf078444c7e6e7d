"""Who calls a model or endpoint, and what its owner announced is going away.

A **consumer** is a principal and the team its calls counted for: the owner team when the principal
is a member of it, else the team whose grant let it in ('' with authentication off). Each server
process counts calls in memory and adds them to ``consumer_usage`` every few seconds, one row per
name called, model and version that answered, principal, team and UTC day.

A **deprecation** is the owner's notice that a version, an alias or an endpoint goes away on its
sunset date. Every answer served by a deprecated version, through a deprecated alias or endpoint
carries the two standard response headers::

    Deprecation: @1772323200                     (RFC 9745: a structured-field date, unix seconds)
    Sunset: Sun, 01 Mar 2027 00:00:00 GMT        (RFC 8594: an HTTP-date)
    Link: <https://wiki/churn-v2>; rel="deprecation"   (when the owner gave a link)

gRPC answers carry the same values as the ``deprecation`` and ``sunset`` trailing metadata.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from berth.core.errors import BerthError, ErrorCode

DEPRECATION_HEADER: Final = "deprecation"
SUNSET_HEADER: Final = "sunset"
LINK_HEADER: Final = "link"
MAX_MESSAGE: Final = 2000
MAX_LINK: Final = 1000
RECENT_DAYS: Final = 30
"""The window of a consumer's recent calls (``calls_30d``)."""
_ALIAS: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class DeprecationScope(StrEnum):
    """What a deprecation names: a model's version or alias, or an endpoint."""

    VERSION = "version"
    ALIAS = "alias"
    ENDPOINT = "endpoint"

    @classmethod
    def parse(cls, name: str) -> DeprecationScope:
        try:
            return cls(str(name).lower())
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise BerthError(
                ErrorCode.INVALID_REQUEST, f"unknown deprecation scope {name!r}: use one of {known}"
            ) from None


def deprecation_field(at: datetime) -> str:
    """The ``Deprecation`` header's value: an RFC 9651 date item, ``@`` and unix seconds."""
    return f"@{int(at.timestamp())}"


def sunset_field(at: datetime) -> str:
    """The ``Sunset`` header's value: an RFC 9110 HTTP-date (``Sun, 01 Mar 2027 00:00:00 GMT``)."""
    return email.utils.format_datetime(at.astimezone(UTC).replace(microsecond=0), usegmt=True)


def link_field(link: str) -> str:
    return f'<{link}>; rel="deprecation"'


def parse_deprecation_field(value: str) -> datetime:
    """The time an RFC 9745 ``Deprecation`` value names (``@1772323200``); ValueError otherwise."""
    if not value.startswith("@"):
        raise ValueError(f"not a structured-field date: {value!r}")
    return datetime.fromtimestamp(int(value[1:]), UTC)


def parse_sunset_field(value: str) -> datetime:
    """The time an RFC 8594 ``Sunset`` HTTP-date names; ValueError otherwise."""
    return email.utils.parsedate_to_datetime(value).astimezone(UTC)


def checked_link(link: str | None) -> str | None:
    """An absolute http(s) URL a header can carry, or None; INVALID_REQUEST otherwise."""
    if link is None or link == "":
        return None
    bad = len(link) > MAX_LINK or any(c in link for c in '<>" ') or not link.isprintable()
    parts = urlsplit(link) if not bad else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or not link.isascii():
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"a deprecation link is an absolute http(s) URL of at most {MAX_LINK} ASCII characters",
        )
    return link


def checked_subject(scope: DeprecationScope, subject: str) -> str:
    """The subject a deprecation of `scope` names, checked: a version number, an alias, or ''."""
    subject = str(subject).strip()
    if scope is DeprecationScope.ENDPOINT:
        if subject:
            raise BerthError(ErrorCode.INVALID_REQUEST, "an endpoint deprecation names no version or alias")
        return ""
    if scope is DeprecationScope.VERSION:
        if not (subject.isascii() and subject.isdigit() and 0 < int(subject) < 2**31):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"a version is a positive number, got {subject!r}")
        return str(int(subject))
    if not _ALIAS.match(subject) or subject.isdigit():
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{subject!r} is not an alias name")
    return subject


def checked_message(message: str) -> str:
    if len(message) > MAX_MESSAGE:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"a deprecation message has at most {MAX_MESSAGE} characters"
        )
    return message


@dataclass(frozen=True, slots=True, kw_only=True)
class Deprecation:
    """One announced deprecation: of `subject` (a version number, an alias, '' for an endpoint)."""

    resource_kind: str
    """'model' or 'endpoint'."""
    resource_name: str
    scope: DeprecationScope
    subject: str
    deprecated_at: datetime
    sunset_at: datetime
    message: str
    link: str | None
    announced_by: str

    def headers(self) -> list[tuple[str, str]]:
        """The response headers an answer it applies to carries (lower-case names)."""
        found = [
            (DEPRECATION_HEADER, deprecation_field(self.deprecated_at)),
            (SUNSET_HEADER, sunset_field(self.sunset_at)),
        ]
        if self.link:
            found.append((LINK_HEADER, link_field(self.link)))
        return found

    def describe(self) -> str:
        """``version 1 of 'churn'`` / ``alias 'staging' of 'churn'`` / ``endpoint 'scoring'``."""
        if self.scope is DeprecationScope.VERSION:
            return f"version {self.subject} of {self.resource_name!r}"
        if self.scope is DeprecationScope.ALIAS:
            return f"alias {self.subject!r} of {self.resource_name!r}"
        return f"endpoint {self.resource_name!r}"

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_kind": self.resource_kind,
            "resource_name": self.resource_name,
            "scope": self.scope.value,
            "subject": self.subject,
            "deprecated_at": self.deprecated_at.isoformat(),
            "sunset_at": self.sunset_at.isoformat(),
            "message": self.message,
            "link": self.link,
            "announced_by": self.announced_by,
            "headers": dict(self.headers()),
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Deprecation:
        return cls(
            resource_kind=str(body["resource_kind"]),
            resource_name=str(body["resource_name"]),
            scope=DeprecationScope.parse(body["scope"]),
            subject=str(body["subject"]),
            deprecated_at=datetime.fromisoformat(body["deprecated_at"]),
            sunset_at=datetime.fromisoformat(body["sunset_at"]),
            message=str(body.get("message", "")),
            link=body.get("link"),
            announced_by=str(body.get("announced_by", "")),
        )


@dataclass(frozen=True, slots=True)
class UsageCount:
    """Calls counted by one server process since its last flush, under one key of ``consumer_usage``."""

    endpoint: str
    model: str
    version: int
    principal: str
    team: str
    day: str
    """UTC, YYYY-MM-DD."""
    calls: int
    errors: int
    last_at: datetime

    @property
    def key(self) -> tuple[str, str, int, str, str, str]:
        return (self.endpoint, self.model, self.version, self.principal, self.team, self.day)


@dataclass(slots=True, kw_only=True)
class ConsumedVersion:
    """The calls of one consumer one version answered."""

    model: str
    version: int
    calls: int = 0
    last_at: datetime | None = None
    deprecated: bool = False
    """The version is deprecated now."""

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "calls": self.calls,
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "deprecated": self.deprecated,
        }


@dataclass(slots=True, kw_only=True)
class Consumer:
    """One principal calling a model or endpoint, for one team: how much, when last, which versions."""

    team: str
    principal: str
    calls: int = 0
    calls_30d: int = 0
    errors: int = 0
    last_at: datetime | None = None
    versions: list[ConsumedVersion] = field(default_factory=list)
    deprecated_calls: int = 0
    """Calls since the day a deprecation that covers them was announced (of the version that
    answered, or of the endpoint called): who still calls what is going away."""
    deprecated_last_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "principal": self.principal,
            "calls": self.calls,
            "calls_30d": self.calls_30d,
            "errors": self.errors,
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "versions": [v.to_json() for v in self.versions],
            "deprecated_calls": self.deprecated_calls,
            "deprecated_last_at": self.deprecated_last_at.isoformat() if self.deprecated_last_at else None,
        }
