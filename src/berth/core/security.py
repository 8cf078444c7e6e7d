"""The nouns of access control as stored: teams, memberships, endpoint grants and API tokens.

An API token is ``berth_`` followed by 43 random URL-safe characters. Only its sha256 is stored,
with a short prefix for display; the token itself is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Final

from berth.core.access import Role
from berth.core.errors import BerthError, ErrorCode

TOKEN_PREFIX: Final = "berth_"
MAX_TEAM_NAME_LENGTH: Final = 128
_TEAM_NAME: Final = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_TEAM_NAME_LENGTH - 1}}}$")
_PRINCIPAL_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+:|-]{0,254}$")
DISPLAY_PREFIX_CHARS: Final = 12
MAX_GRANT_DAYS: Final = 3650
"""The longest a grant given an expiry may last (one without an expiry never expires)."""
_DURATION: Final = re.compile(r"^\s*(\d{1,7})\s*([smhdw])\s*$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def check_team_name(name: str) -> str:
    if not isinstance(name, str) or not _TEAM_NAME.match(name):
        raise BerthError(
            ErrorCode.INVALID_NAME,
            f"invalid team name {name!r}: use letters, digits, '.', '_' and '-' "
            f"(at most {MAX_TEAM_NAME_LENGTH})",
        )
    return name


def check_principal_name(name: str) -> str:
    if not isinstance(name, str) or not _PRINCIPAL_NAME.match(name):
        raise BerthError(
            ErrorCode.INVALID_NAME,
            f"invalid principal name {name!r}: use letters, digits and . _ @ + : | - (at most 255)",
        )
    return name


def new_token() -> str:
    """A fresh API token (shown once; only its hash is kept)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The sha256 (hex) a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def display_prefix(token: str) -> str:
    """The start of a token, enough to recognise it in a list, never enough to use it."""
    return token[:DISPLAY_PREFIX_CHARS]


def token_not_found(token_id: int) -> BerthError:
    """The answer for a token that does not exist, and for one the caller may not see: the same."""
    return BerthError(ErrorCode.TOKEN_NOT_FOUND, f"token {token_id} not found", token=token_id)


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    team: str
    principal: str
    role: Role


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``12h``, ``30d``, ``2w`` as a duration; INVALID_REQUEST otherwise."""
    found = _DURATION.match(text) if isinstance(text, str) else None
    if found is None or int(found.group(1)) == 0:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"invalid duration {str(text)[:40]!r}: a positive whole number and a unit "
            "(90s, 15m, 12h, 30d, 2w)",
        )
    return timedelta(seconds=int(found.group(1)) * _UNIT_SECONDS[found.group(2)])


def grant_expiry(
    now: datetime, *, expires_in_s: float | None = None, expires_at: datetime | None = None
) -> datetime | None:
    """When a grant made at `now` expires: in `expires_in_s` seconds, or at `expires_at` (aware),
    or never (neither given). INVALID_REQUEST for both, a moment not in the future, or one more
    than `MAX_GRANT_DAYS` away."""
    if expires_in_s is not None and expires_at is not None:
        raise BerthError(ErrorCode.INVALID_REQUEST, "give expires_in_s or expires_at, not both")
    limit = now + timedelta(days=MAX_GRANT_DAYS)
    if expires_in_s is not None:
        if not math.isfinite(expires_in_s) or not 0 < expires_in_s <= MAX_GRANT_DAYS * 86400:
            raise BerthError(
                ErrorCode.INVALID_REQUEST,
                f"a grant expires in more than 0 s and at most {MAX_GRANT_DAYS} days",
            )
        return now + timedelta(seconds=expires_in_s)
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    if not now < expires_at <= limit:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"a grant's expiry is in the future and at most {MAX_GRANT_DAYS} days away",
        )
    return expires_at


@dataclass(frozen=True, slots=True)
class EndpointGrant:
    """Team `team` may call endpoint `endpoint` (owned by another team) as a predictor."""

    endpoint: str
    team: str
    granted_by: str
    at: datetime
    expires_at: datetime | None = None
    """When it stops counting (None: never). An expired grant is listed until it is revoked or
    renewed, and counts for nothing."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as listed: never the token itself."""

    id: int
    principal: str
    prefix: str
    description: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    created_by: str
    parent_id: int | None = None
    """The token this one was created with: it never outlives it and dies with it (None: made
    locally with ``--home``, by a JWT-authenticated caller, or before parents were recorded)."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: `secret` is the token, shown this once."""

    token: ApiToken
    secret: str


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What the server's token cache holds per token hash: effective values, its ancestors'
    included (a token expires with its parent and is revoked with it)."""

    principal: str
    expires_at: float
    """Unix time."""
    revoked: bool
    id: int = 0


@dataclass(frozen=True, slots=True)
class AccessSnapshot:
    """Everything authentication and authorization read, in memory: loaded in one transaction."""

    registry_generation: int
    security_generation: int
    tokens: dict[str, TokenRecord]
    """sha256 -> token."""
    admins: frozenset[str]
    memberships: dict[str, dict[str, Role]]
    """principal -> team -> role."""
    grants: dict[str, frozenset[str]]
    """team -> the identities (uids) of the endpoints and models it was granted."""
    model_teams: dict[str, str]
    """model -> owning team."""
    identities: dict[str, str]
    """model or endpoint name -> its identity (uid) now: a grant counts for a name only while the
    name holds the identity the grant was made on."""
    teams: frozenset[str]
    discoverable: frozenset[str] = frozenset()
    """The models and endpoints whose visibility is discoverable: every authenticated principal
    may DISCOVER them (see their catalog entry), and is told FORBIDDEN, not NOT_FOUND, for the rest."""
    grant_expiries: Mapping[tuple[str, str], float] = field(default_factory=dict)
    """(team, identity) -> when that grant expires, unix time: only the grants that expire (and
    have not yet, when the table was loaded)."""
    next_expiry: float = math.inf
    """The earliest of `grant_expiries`: until then every grant in `grants` counts."""

    def without_expired(self, now: float) -> AccessSnapshot:
        """This table less the grants expired by `now` (unix time): what it says from `now` on."""
        gone = {key for key, at in self.grant_expiries.items() if at <= now}
        if not gone:
            return self
        grants = {
            team: frozenset(uid for uid in uids if (team, uid) not in gone)
            for team, uids in self.grants.items()
        }
        expiries = {key: at for key, at in self.grant_expiries.items() if key not in gone}
        return replace(
            self,
            grants={team: uids for team, uids in grants.items() if uids},
            grant_expiries=expiries,
            next_expiry=min(expiries.values(), default=math.inf),
        )
