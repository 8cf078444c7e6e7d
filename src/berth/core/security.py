"""The nouns of access control as stored: teams, memberships, endpoint grants and API tokens.

An API token is ``berth_`` followed by 43 random URL-safe characters. Only its sha256 is stored,
with a short prefix for display; the token itself is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from berth.core.access import Role
from berth.core.errors import BerthError, ErrorCode

TOKEN_PREFIX: Final = "berth_"
MAX_TEAM_NAME_LENGTH: Final = 128
_TEAM_NAME: Final = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_TEAM_NAME_LENGTH - 1}}}$")
_PRINCIPAL_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+:|-]{0,254}$")
DISPLAY_PREFIX_CHARS: Final = 12


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


@dataclass(frozen=True, slots=True)
class EndpointGrant:
    """Team `team` may call endpoint `endpoint` (owned by another team) as a predictor."""

    endpoint: str
    team: str
    granted_by: str
    at: datetime


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
