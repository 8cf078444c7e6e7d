"""Endpoints of a home folder opened in this process (``--home``): `LocalEndpoints`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.client.embedded.home import open_home
from berth.client.endpoints import JsonDict, spec_only
from berth.core.access import ANONYMOUS
from berth.core.endpoints import Endpoint
from berth.core.errors import BerthError, ErrorCode
from berth.wiring.workspace import Workspace


def open_local_endpoints(home: str | Path | None) -> LocalEndpoints:
    return LocalEndpoints(open_home(home))


class LocalEndpoints:
    """Endpoints of a workspace opened in this process (servers on it follow within their poll)."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._service = workspace.endpoints
        self._caller = ANONYMOUS
        """Who holds the database holds every right, as on a server without authentication."""

    def list_all(self) -> list[JsonDict]:
        return [e.to_json() for e in self._service.list_all()]

    def get(self, name: str) -> JsonDict:
        return self._service.get(name).to_json()

    def create(
        self,
        name: str,
        spec: Mapping[str, Any],
        *,
        team: str = "default",
        description: str = "",
        actor: str = "",
        reason: str = "",
    ) -> JsonDict:
        return _json(
            self._service.create(
                name,
                spec,
                team=team,
                description=description,
                actor=actor,
                reason=reason,
                caller=self._caller,
            )
        )

    def replace(
        self,
        name: str,
        spec: Mapping[str, Any],
        *,
        expected_revision: int | None = None,
        actor: str = "",
        reason: str = "",
    ) -> JsonDict:
        return _json(
            self._service.replace(
                name,
                spec_only(spec),
                expected_revision=expected_revision,
                actor=actor,
                reason=reason,
                caller=self._caller,
            )
        )

    def set_weights(
        self, name: str, weights: Mapping[str, float], *, actor: str = "", reason: str = ""
    ) -> JsonDict:
        return _json(
            self._service.set_weights(name, weights, actor=actor, reason=reason, caller=self._caller)
        )

    def start_canary(
        self, name: str, canary: Mapping[str, Any], *, actor: str = "", reason: str = ""
    ) -> JsonDict:
        return _json(
            self._service.start_canary(name, canary, actor=actor, reason=reason, caller=self._caller)
        )

    def abort_canary(self, name: str, *, actor: str = "", reason: str = "") -> JsonDict:
        return _json(self._service.abort_canary(name, actor=actor, reason=reason))

    def promote(self, name: str, *, actor: str = "", reason: str = "") -> JsonDict:
        return _json(self._service.promote(name, actor=actor, reason=reason, caller=self._caller))

    def rollback(self, name: str, *, actor: str = "", reason: str = "") -> JsonDict:
        return _json(self._service.rollback(name, actor=actor, reason=reason, caller=self._caller))

    def delete(self, name: str, *, actor: str = "", reason: str = "") -> JsonDict:
        return self._service.delete(name, actor=actor, reason=reason).to_json()

    def history(self, name: str) -> list[JsonDict]:
        return [e.to_json() for e in self._service.history(name)]

    def stats(self, name: str, window_s: float = 60.0) -> JsonDict:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            "statistics are kept by each server: ask one with --url (or BERTH_URL)",
        )

    def put_entities(
        self, table: str, entities: Mapping[str, Mapping[str, Any]], *, team: str | None = None
    ) -> int:
        return self._ws.entities.put_entities(table, entities, team=team)

    def close(self) -> None:
        self._ws.close()


def _json(endpoint: Endpoint) -> JsonDict:
    return endpoint.to_json()
