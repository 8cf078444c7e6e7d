"""The storage contracts of access control and of the audit trail.

Implementations: `berth.storage.security_store.SqlSecurityStore` and
`berth.storage.audit_store.SqlAuditStore` (SQLite or PostgreSQL); one contract suite runs both
databases (``tests/storage/test_security_store.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Protocol

from berth.core.access import Principal, Resource, Role
from berth.core.access_requests import AccessRequest, RequestStatus
from berth.core.audit import AuditEvent, AuditQuery
from berth.core.security import AccessSnapshot, ApiToken, EndpointGrant, IssuedToken, Membership, Team


class SecurityStore(Protocol):
    """Teams, their members' roles, endpoint grants, platform admins and API tokens.

    Every change appends an audit event and bumps the security change counter in its transaction.
    Errors are `BerthError`s: INVALID_NAME, INVALID_REQUEST (a missing team or token), ALREADY_EXISTS.
    """

    def create_team(self, name: str, *, description: str = "") -> Team: ...
    def list_teams(self) -> list[Team]: ...
    def set_member(self, team: str, principal: str, role: Role) -> Membership: ...
    def remove_member(self, team: str, principal: str) -> None: ...
    def list_members(self, team: str) -> list[Membership]: ...
    def set_admin(self, principal: str, admin: bool) -> None: ...
    def grant_endpoint(
        self,
        endpoint: str,
        team: str,
        *,
        expires_in_s: float | None = None,
        expires_at: datetime | None = None,
    ) -> EndpointGrant: ...
    def revoke_grant(self, endpoint: str, team: str) -> None: ...
    def list_grants(self, endpoint: str | None = None) -> list[EndpointGrant]: ...
    def create_token(
        self,
        principal: str,
        *,
        expires_days: float = 90,
        description: str = "",
        admin: bool = False,
        parent_id: int | None = None,
        not_after: datetime | None = None,
    ) -> IssuedToken: ...
    def get_token(self, token_id: int) -> ApiToken: ...
    def list_tokens(self, principal: str | None = None) -> list[ApiToken]: ...
    def revoke_token(self, token_id: int) -> ApiToken: ...
    def generations(self) -> tuple[int, int]:
        """(registry change counter, security change counter)."""
        ...

    def access_snapshot(self) -> AccessSnapshot: ...
    def close(self) -> None: ...


class AuditStore(Protocol):
    """The append-only audit trail, read back (events are written by the stores that change state)."""

    def query(self, query: AuditQuery) -> list[AuditEvent]: ...
    def export(self, query: AuditQuery, fmt: str) -> Iterator[bytes]: ...
    def close(self) -> None: ...


class AccessRequestStore(Protocol):
    """Access requests: made by a principal for one of its teams on what it may discover, decided
    by the owning team's admins (approval writes the grant). Every change is audited and bumps the
    security change counter. Who may list and decide is the caller's to check (the routes)."""

    def create(
        self, principal: Principal, *, target: str, team: str, reason: str, action: str = "predict"
    ) -> AccessRequest: ...
    def target(self, name: str) -> Resource: ...
    def get(self, request_id: int) -> AccessRequest: ...
    def list_requests(
        self,
        *,
        requester: str | None = None,
        owner_teams: Collection[str] | None = None,
        status: RequestStatus | None = None,
        limit: int = 1000,
    ) -> list[AccessRequest]: ...
    def approve(
        self,
        request_id: int,
        *,
        reason: str = "",
        expires_in_s: float | None = None,
        expires_at: datetime | None = None,
    ) -> AccessRequest: ...
    def deny(self, request_id: int, *, reason: str) -> AccessRequest: ...
    def withdraw(self, request_id: int) -> AccessRequest: ...
