"""Access requests in a home folder's database (``--home``): `LocalAccess`.

Whoever opens the database administers the platform (as for `berth token create --home`): this
acts as ``local:<os user>``, a platform admin, who may ask for any team and decide for every team.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from pathlib import Path

from berth.client.access import JsonDict, expiry_seconds
from berth.client.embedded.home import home_settings
from berth.client.sdk import current_user
from berth.core.access import Principal
from berth.core.access_requests import RequestStatus
from berth.core.audit import acting_as
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.storage.security_store import SqlSecurityStore
from berth.storage.sql_access_requests import SqlAccessRequestStore


def open_local_access(home: str | Path | None) -> LocalAccess:
    return LocalAccess(home_settings(home), current_user())


class LocalAccess:
    def __init__(self, settings: Settings, user: str) -> None:
        settings.home.mkdir(parents=True, exist_ok=True)
        self._security = SqlSecurityStore(settings.resolved_database_url)  # migrates the database
        self._store = SqlAccessRequestStore(self._security.engine)
        self._principal = Principal(f"local:{user or 'unknown'}", admin=True)

    def __enter__(self) -> LocalAccess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, target: str, *, team: str, reason: str, action: str = "predict") -> JsonDict:
        with acting_as(self._principal.name):
            made = self._store.create(self._principal, target=target, team=team, reason=reason, action=action)
        return made.as_dict()

    def list(
        self, *, scope: str = "all", team: str | None = None, status: str | None = None
    ) -> builtins.list[JsonDict]:
        if scope not in ("mine", "inbox", "all"):
            raise BerthError(
                ErrorCode.INVALID_REQUEST, f"unknown scope {scope[:40]!r}: use mine, inbox or all"
            )
        wanted = RequestStatus.parse(status) if status else None
        if team is not None:
            found = self._store.list_requests(owner_teams=[team], status=wanted)
        elif scope == "mine":
            found = self._store.list_requests(requester=self._principal.name, status=wanted)
        else:  # a platform admin's inbox is every team's
            found = self._store.list_requests(status=wanted)
        return [r.as_dict() for r in found]

    def get(self, request_id: int) -> JsonDict:
        return self._store.get(request_id).as_dict()

    def approve(
        self,
        request_id: int,
        *,
        expires_in: str | float | None = None,
        expires_at: datetime | None = None,
        reason: str = "",
    ) -> JsonDict:
        with acting_as(self._principal.name):
            decided = self._store.approve(
                request_id, reason=reason, expires_in_s=expiry_seconds(expires_in), expires_at=expires_at
            )
        return decided.as_dict()

    def deny(self, request_id: int, *, reason: str) -> JsonDict:
        with acting_as(self._principal.name):
            return self._store.deny(request_id, reason=reason).as_dict()

    def withdraw(self, request_id: int) -> JsonDict:
        with acting_as(self._principal.name):
            return self._store.withdraw(request_id).as_dict()

    def close(self) -> None:
        self._security.close()
