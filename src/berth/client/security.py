"""Access control and the audit trail as the CLI sees them: embedded (the database) or remote (a server).

`LocalSecurity` works on the registry database directly: that is how the first admin token is
made (``berth token create --admin --home DIR``), by whoever can open the database; its changes
are audited as ``local:<os user>``. `RemoteSecurity` calls a server's ``/api/v1`` with a token.
Both return plain JSON-shaped dicts, as the REST API does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from berth.client.transport import Transport
from berth.core.access import Role
from berth.core.audit import AuditQuery, acting_as
from berth.core.security import ApiToken
from berth.core.settings import Settings
from berth.storage.audit_store import SqlAuditStore
from berth.storage.security_store import SqlSecurityStore


class SecurityAdmin(Protocol):
    def create_token(
        self, principal: str | None, *, expires_days: float, description: str, admin: bool
    ) -> dict[str, Any]: ...
    def list_tokens(self, principal: str | None) -> list[dict[str, Any]]: ...
    def revoke_token(self, token_id: int) -> dict[str, Any]: ...
    def create_team(self, name: str, description: str) -> dict[str, Any]: ...
    def list_teams(self) -> list[dict[str, Any]]: ...
    def set_member(self, team: str, principal: str, role: str) -> dict[str, Any]: ...
    def remove_member(self, team: str, principal: str) -> None: ...
    def list_members(self, team: str) -> list[dict[str, Any]]: ...
    def grant(self, endpoint: str, team: str) -> dict[str, Any]: ...
    def revoke_grant(self, endpoint: str, team: str) -> None: ...
    def audit(self, query: AuditQuery) -> list[dict[str, Any]]: ...
    def export_audit(self, query: AuditQuery, fmt: str) -> Iterator[bytes]: ...
    def close(self) -> None: ...


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

    def grant(self, endpoint: str, team: str) -> dict[str, Any]:
        with acting_as(self._actor):
            grant = self._store.grant_endpoint(endpoint, team)
        return {"endpoint": grant.endpoint, "team": grant.team, "granted_by": grant.granted_by}

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


def _audit_params(query: AuditQuery) -> dict[str, Any]:
    params: dict[str, Any] = {
        "actor": query.actor,
        "action": query.action,
        "resource_type": query.resource_type,
        "resource_name": query.resource_name,
        "since": query.since.isoformat() if query.since else None,
        "until": query.until.isoformat() if query.until else None,
    }
    return {k: v for k, v in params.items() if v is not None}


class RemoteSecurity:
    def __init__(self, url: str, *, token: str | None = None) -> None:
        self._http = Transport(url, token=token)

    def create_token(
        self, principal: str | None, *, expires_days: float, description: str, admin: bool
    ) -> dict[str, Any]:
        body = {
            "principal": principal,
            "expires_days": expires_days,
            "description": description,
            "admin": admin,
        }
        result: dict[str, Any] = self._http.json("POST", "/api/v1/tokens", json=body)
        return result

    def list_tokens(self, principal: str | None) -> list[dict[str, Any]]:
        params = {"principal": principal} if principal else {}
        result: list[dict[str, Any]] = self._http.json("GET", "/api/v1/tokens", params=params)
        return result

    def revoke_token(self, token_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._http.json("DELETE", f"/api/v1/tokens/{token_id}")
        return result

    def create_team(self, name: str, description: str) -> dict[str, Any]:
        body = {"name": name, "description": description}
        result: dict[str, Any] = self._http.json("POST", "/api/v1/teams", json=body)
        return result

    def list_teams(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._http.json("GET", "/api/v1/teams")
        return result

    def set_member(self, team: str, principal: str, role: str) -> dict[str, Any]:
        path = f"/api/v1/teams/{quote(team, safe='')}/members/{quote(principal, safe='')}"
        result: dict[str, Any] = self._http.json("PUT", path, json={"role": role})
        return result

    def remove_member(self, team: str, principal: str) -> None:
        self._http.request(
            "DELETE", f"/api/v1/teams/{quote(team, safe='')}/members/{quote(principal, safe='')}"
        )

    def list_members(self, team: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._http.json("GET", f"/api/v1/teams/{quote(team, safe='')}/members")
        return result

    def grant(self, endpoint: str, team: str) -> dict[str, Any]:
        path = f"/api/v1/grants/{quote(endpoint, safe='')}/{quote(team, safe='')}"
        result: dict[str, Any] = self._http.json("PUT", path)
        return result

    def revoke_grant(self, endpoint: str, team: str) -> None:
        self._http.request("DELETE", f"/api/v1/grants/{quote(endpoint, safe='')}/{quote(team, safe='')}")

    def audit(self, query: AuditQuery) -> list[dict[str, Any]]:
        params = {**_audit_params(query), "after_id": query.after_id, "limit": query.limit}
        result: list[dict[str, Any]] = self._http.json("GET", "/api/v1/audit", params=params)
        return result

    def export_audit(self, query: AuditQuery, fmt: str) -> Iterator[bytes]:
        params = urlencode({**_audit_params(query), "format": fmt})
        yield self._http.request("GET", f"/api/v1/audit/export?{params}").content

    def close(self) -> None:
        self._http.close()


def open_security_admin(
    *, home: Path | None, url: str | None, token: str | None, actor: str
) -> SecurityAdmin:
    """The server at `url` (with `token`), else the database of the home folder (or settings)."""
    if url:
        return RemoteSecurity(url, token=token)
    settings = Settings() if home is None else Settings(home=home)
    return LocalSecurity(settings, actor)
