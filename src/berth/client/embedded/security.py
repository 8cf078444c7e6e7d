"""Access control and the audit trail in a home folder's database (``--home``): `LocalSecurity`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from berth.client.embedded.home import home_settings
from berth.core.access import Role
from berth.core.audit import AuditQuery, acting_as
from berth.core.security import ApiToken, EndpointGrant
from berth.core.settings import Settings
from berth.storage.audit_store import SqlAuditStore
from berth.storage.security_store import SqlSecurityStore


def open_local_security(home: Path | None, actor: str) -> LocalSecurity:
    return LocalSecurity(home_settings(home), actor)


def _token_json(token: ApiToken, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": token.id,
        "principal": token.principal,
        "prefix": token.prefix,
        "description": token.description,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
        "created_by": token.created_by,
    }
    if secret is not None:
        body["token"] = secret
    return body


def _grant_json(grant: EndpointGrant) -> dict[str, Any]:
    """A grant as the REST API answers it (`expired`: it counts for nothing now)."""
    expires = grant.expires_at
    return {
        "endpoint": grant.endpoint,
        "team": grant.team,
        "granted_by": grant.granted_by,
        "at": grant.at.isoformat(),
        "expires_at": expires.isoformat() if expires is not None else None,
        "expired": expires is not None and expires <= datetime.now(UTC),
    }


class LocalSecurity:
    def __init__(self, settings: Settings, actor: str) -> None:
        settings.home.mkdir(parents=True, exist_ok=True)
        self._store = SqlSecurityStore(settings.resolved_database_url)
        self._audit = SqlAuditStore(self._store.engine)
        self._actor = f"local:{actor or 'unknown'}"

    def create_token(
        self, principal: str | None, *, expires_days: float, description: str, admin: bool
    ) -> dict[str, Any]:
        with acting_as(self._actor):
            issued = self._store.create_token(
                principal or "admin", expires_days=expires_days, description=description, admin=admin
            )
        return _token_json(issued.token, issued.secret)

    def list_tokens(self, principal: str | None) -> list[dict[str, Any]]:
        return [_token_json(t) for t in self._store.list_tokens(principal)]

    def revoke_token(self, token_id: int) -> dict[str, Any]:
        with acting_as(self._actor):
            return _token_json(self._store.revoke_token(token_id))

    def create_team(self, name: str, description: str) -> dict[str, Any]:
        with acting_as(self._actor):
            team = self._store.create_team(name, description=description)
        return {"name": team.name, "description": team.description, "created_at": team.created_at.isoformat()}

    def list_teams(self) -> list[dict[str, Any]]:
        return [
            {"name": t.name, "description": t.description, "created_at": t.created_at.isoformat()}
            for t in self._store.list_teams()
        ]

    def set_member(self, team: str, principal: str, role: str) -> dict[str, Any]:
        with acting_as(self._actor):
            member = self._store.set_member(team, principal, Role.parse(role))
        return {"team": member.team, "principal": member.principal, "role": member.role.label}

    def remove_member(self, team: str, principal: str) -> None:
        with acting_as(self._actor):
            self._store.remove_member(team, principal)

    def list_members(self, team: str) -> list[dict[str, Any]]:
        return [
            {"team": m.team, "principal": m.principal, "role": m.role.label}
            for m in self._store.list_members(team)
        ]

    def grant(
        self,
        endpoint: str,
        team: str,
        *,
        expires_in_s: float | None = None,
        expires_at: datetime | None = None,
    ) -> dict[str, Any]:
        with acting_as(self._actor):
            grant = self._store.grant_endpoint(
                endpoint, team, expires_in_s=expires_in_s, expires_at=expires_at
            )
        return _grant_json(grant)

    def list_grants(self, endpoint: str) -> list[dict[str, Any]]:
        return [_grant_json(g) for g in self._store.list_grants(endpoint)]

    def revoke_grant(self, endpoint: str, team: str) -> None:
        with acting_as(self._actor):
            self._store.revoke_grant(endpoint, team)

    def audit(self, query: AuditQuery) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self._audit.query(query)]

    def export_audit(self, query: AuditQuery, fmt: str) -> Iterator[bytes]:
        return self._audit.export(query, fmt)

    def close(self) -> None:
        self._audit.close()
        self._store.close()
