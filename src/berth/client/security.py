"""Access control and the audit trail as the CLI sees them: embedded (the database) or remote (a server).

`LocalSecurity` (`berth.client.embedded.security`) works on the registry database directly: that
is how the first admin token is made (``berth token create --admin --home DIR``), by whoever can
open the database; its changes are audited as ``local:<os user>``. `RemoteSecurity` calls a
server's ``/api/v1`` with a token. Both return plain JSON-shaped dicts, as the REST API does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote, urlencode

from berth.client.transport import Transport
from berth.core.audit import AuditQuery

if TYPE_CHECKING:
    from berth.client.embedded.security import LocalSecurity


# What both implementations take: the remote one here, the embedded one
# (`berth.client.embedded.security`) when a home is opened. mypy checks each call against both.
SecurityAdmin: TypeAlias = "RemoteSecurity | LocalSecurity"


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

    def grant(
        self,
        endpoint: str,
        team: str,
        *,
        expires_in_s: float | None = None,
        expires_at: datetime | None = None,
    ) -> dict[str, Any]:
        path = f"/api/v1/grants/{quote(endpoint, safe='')}/{quote(team, safe='')}"
        body = {
            "expires_in_s": expires_in_s,
            "expires_at": expires_at.isoformat() if expires_at is not None else None,
        }
        result: dict[str, Any] = self._http.json("PUT", path, json=body)
        return result

    def list_grants(self, endpoint: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._http.json("GET", f"/api/v1/grants/{quote(endpoint, safe='')}")
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
    from berth.client.embedded.security import open_local_security

    return open_local_security(home, actor)
