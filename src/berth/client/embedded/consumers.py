"""Consumers and deprecations of a home folder opened in this process (``--home``): `LocalConsumers`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from berth.client.consumers import JsonDict, deprecation_target
from berth.client.embedded.home import open_home
from berth.client.sdk import current_user
from berth.core.consumers import DeprecationScope
from berth.core.errors import BerthError, ErrorCode
from berth.core.moments import parse_moment
from berth.wiring.workspace import Workspace


def open_local_consumers(home: str | Path | None) -> LocalConsumers:
    return LocalConsumers(open_home(home))


class LocalConsumers:
    """Consumers and deprecations of a workspace opened in this process (who holds the database
    holds every right; servers on it announce a change within their poll)."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._store = workspace.consumers

    def __enter__(self) -> LocalConsumers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def consumers(self, name: str, *, endpoint: bool = False) -> list[JsonDict]:
        return [c.to_json() for c in self._store.consumers(_kind(endpoint), name)]

    def deprecations(self, name: str, *, endpoint: bool = False) -> list[JsonDict]:
        return [d.to_json() for d in self._store.deprecations(_kind(endpoint), name)]

    def deprecate(
        self,
        name: str,
        *,
        sunset: datetime | str | int | float,
        version: int | str | None = None,
        alias: str | None = None,
        endpoint: bool = False,
        message: str = "",
        link: str | None = None,
        deprecated_at: datetime | str | None = None,
    ) -> JsonDict:
        scope, subject = deprecation_target(version, alias, endpoint)
        sunset_at = parse_moment("sunset", sunset)
        if sunset_at is None:
            raise BerthError(ErrorCode.INVALID_REQUEST, "a deprecation needs its sunset date")
        found = self._store.announce(
            _kind(endpoint),
            name,
            DeprecationScope.parse(scope),
            subject,
            sunset_at=sunset_at,
            message=message,
            link=link,
            deprecated_at=parse_moment("deprecated_at", deprecated_at),
            actor=current_user(),
        )
        return found.to_json()

    def withdraw(
        self, name: str, *, version: int | str | None = None, alias: str | None = None, endpoint: bool = False
    ) -> JsonDict:
        scope, subject = deprecation_target(version, alias, endpoint)
        return self._store.withdraw(_kind(endpoint), name, DeprecationScope.parse(scope), subject).to_json()

    def close(self) -> None:
        self._ws.close()


def _kind(endpoint: bool) -> str:
    return "endpoint" if endpoint else "model"
