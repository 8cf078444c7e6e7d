"""Access requests as the CLI and the SDK see them: ask for another team's model or endpoint, list
requests, approve (a grant, perhaps expiring), deny, withdraw.

    access = berth.access(url="http://127.0.0.1:8080", token=token)
    asked = access.request("churn", team="marketing", reason="next-best-offer campaign")
    access.list(scope="mine")                      # the caller's requests, with their outcome
    access.list(team="risk", status="pending")     # an admin of team risk: its inbox
    access.approve(asked["id"], expires_in="90d")  # or .deny(id, reason=...), .withdraw(id)

`RemoteAccess` calls a server's ``/api/v1/access-requests`` as the token's principal; the embedded
one (`berth.client.embedded.access`, ``--home``) works on the home's database as ``local:<os
user>``, who administers every team there. Both answer plain JSON-shaped dicts, as the REST API does.
"""

from __future__ import annotations

import builtins
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from berth.client.transport import Transport
from berth.core.security import parse_duration

if TYPE_CHECKING:
    from berth.client.embedded.access import LocalAccess

JsonDict = dict[str, Any]

# What both implementations take: the remote one here, the embedded one
# (`berth.client.embedded.access`) when a home is opened. mypy checks each call against both.
Access: TypeAlias = "RemoteAccess | LocalAccess"


def expiry_seconds(expires_in: str | float | None) -> float | None:
    """``30d``, ``12h`` (or seconds, a number) as seconds; None stays None."""
    if expires_in is None or isinstance(expires_in, int | float):
        return expires_in
    return parse_duration(expires_in).total_seconds()


def open_access(
    *, home: str | Path | None = None, url: str | None = None, token: str | None = None
) -> Access:
    """The server at `url` (called with `token`, default ``BERTH_TOKEN``), else the home's database
    (default: settings; ``BERTH_URL`` picks a server when neither is given)."""
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteAccess(url, token=token)
    from berth.client.embedded.access import open_local_access

    return open_local_access(home)


class RemoteAccess:
    def __init__(self, url: str, *, timeout: float = 60.0, token: str | None = None) -> None:
        self._http = Transport(url, timeout=timeout, token=token)

    def __enter__(self) -> RemoteAccess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, target: str, *, team: str, reason: str, action: str = "predict") -> JsonDict:
        """Ask, for `team` (one of the caller's teams), for `action` on model or endpoint `target`."""
        body = {"target": target, "team": team, "reason": reason, "action": action}
        result: JsonDict = self._http.json("POST", "/api/v1/access-requests", json=body)
        return result

    def list(
        self, *, scope: str = "all", team: str | None = None, status: str | None = None
    ) -> builtins.list[JsonDict]:
        """`team`: that team's inbox (its admins); else `scope`: ``mine`` (the caller's own),
        ``inbox`` (to the teams the caller administers) or ``all`` (both). Newest first."""
        params = {"status": status} if status else {}
        if team is not None:
            path = f"/api/v1/teams/{quote(team, safe='')}/access-requests"
        else:
            path, params = "/api/v1/access-requests", {**params, "scope": scope}
        result: builtins.list[JsonDict] = self._http.json("GET", path, params=params)
        return result

    def get(self, request_id: int) -> JsonDict:
        result: JsonDict = self._http.json("GET", f"/api/v1/access-requests/{int(request_id)}")
        return result

    def approve(
        self,
        request_id: int,
        *,
        expires_in: str | float | None = None,
        expires_at: datetime | None = None,
        reason: str = "",
    ) -> JsonDict:
        """Approve: the request's team may call its target, until `expires_at` or for `expires_in`
        (``90d``, or seconds), or for good."""
        body: JsonDict = {"reason": reason, "expires_in_s": expiry_seconds(expires_in)}
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat()
        result: JsonDict = self._http.json(
            "POST", f"/api/v1/access-requests/{int(request_id)}/approve", json=body
        )
        return result

    def deny(self, request_id: int, *, reason: str) -> JsonDict:
        result: JsonDict = self._http.json(
            "POST", f"/api/v1/access-requests/{int(request_id)}/deny", json={"reason": reason}
        )
        return result

    def withdraw(self, request_id: int) -> JsonDict:
        result: JsonDict = self._http.json("POST", f"/api/v1/access-requests/{int(request_id)}/withdraw")
        return result

    def close(self) -> None:
        self._http.close()
