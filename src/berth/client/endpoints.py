"""Endpoints as the CLI and the SDK see them: embedded (a home folder) or remote (a server URL).

Both answer with the JSON views of the REST API (``/api/v1/endpoints``), so a script gets the
same dicts whichever it talks to. Statistics are per server: only a remote client has them.
The embedded one (`berth.client.embedded.endpoints`) is imported only when a home is opened.

    import berth
    eps = berth.endpoints(url="http://127.0.0.1:8080")
    eps.create("scoring", {"targets": [{"target": "churn@production", "weight": 90},
                                       {"target": "churn:4", "weight": 10}]})
    eps.start_canary("scoring", {"target": "churn:5", "steps": [5, 25, 50]})
    eps.rollback("scoring")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from berth.client.transport import Transport

if TYPE_CHECKING:
    from berth.client.embedded.endpoints import LocalEndpoints

JsonDict = dict[str, Any]


# What both implementations take: the remote one here, the embedded one
# (`berth.client.embedded.endpoints`) when a home is opened. mypy checks each call against both.
Endpoints: TypeAlias = "RemoteEndpoints | LocalEndpoints"


def open_endpoints(
    *, home: str | Path | None = None, url: str | None = None, token: str | None = None
) -> Endpoints:
    """The endpoints of the server at `url` (called with `token`, default ``BERTH_TOKEN``), else of
    the embedded registry in `home`."""
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteEndpoints(url, token=token)
    from berth.client.embedded.endpoints import open_local_endpoints

    return open_local_endpoints(home)


class RemoteEndpoints:
    """Endpoints behind a running server's API (``/api/v1/endpoints``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        token: str | None = None,
        transport: Transport | None = None,
    ) -> None:
        self._http = transport or Transport(url, timeout=timeout, token=token)

    def list_all(self) -> list[JsonDict]:
        body: list[JsonDict] = self._http.json("GET", "/api/v1/endpoints")
        return body

    def get(self, name: str) -> JsonDict:
        return self._call("GET", name)

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
        body = {
            **spec,
            "name": name,
            "team": team,
            "description": description,
            "actor": actor,
            "reason": reason,
        }
        created: JsonDict = self._http.json("POST", "/api/v1/endpoints", json=body)
        return created

    def replace(
        self,
        name: str,
        spec: Mapping[str, Any],
        *,
        expected_revision: int | None = None,
        actor: str = "",
        reason: str = "",
    ) -> JsonDict:
        body = {**spec_only(spec), "actor": actor, "reason": reason}
        if expected_revision is not None:
            body["expected_revision"] = expected_revision
        return self._call("PUT", name, json=body)

    def set_weights(
        self, name: str, weights: Mapping[str, float], *, actor: str = "", reason: str = ""
    ) -> JsonDict:
        body = {"weights": dict(weights), "actor": actor, "reason": reason}
        return self._call("PATCH", name, "/weights", json=body)

    def start_canary(
        self, name: str, canary: Mapping[str, Any], *, actor: str = "", reason: str = ""
    ) -> JsonDict:
        return self._call("POST", name, "/canary", json={**canary, "actor": actor, "reason": reason})

    def abort_canary(self, name: str, *, actor: str = "", reason: str = "") -> JsonDict:
        return self._call("DELETE", name, "/canary", params={"actor": actor, "reason": reason})

    def promote(self, name: str, *, actor: str = "", reason: str = "") -> JsonDict:
        return self._call("POST", name, "/promote", json={"actor": actor, "reason": reason})

    def rollback(self, name: str, *, actor: str = "", reason: str = "") -> JsonDict:
        return self._call("POST", name, "/rollback", json={"actor": actor, "reason": reason})

    def delete(self, name: str, *, actor: str = "", reason: str = "") -> JsonDict:
        return self._call("DELETE", name, params={"actor": actor, "reason": reason})

    def history(self, name: str) -> list[JsonDict]:
        body: list[JsonDict] = self._http.json("GET", f"/api/v1/endpoints/{_q(name)}/history")
        return body

    def stats(self, name: str, window_s: float = 60.0) -> JsonDict:
        return self._call("GET", name, "/stats", params={"window_s": window_s})

    def put_entities(
        self, table: str, entities: Mapping[str, Mapping[str, Any]], *, team: str | None = None
    ) -> int:
        sent: dict[str, Any] = {"entities": dict(entities)} | ({} if team is None else {"team": team})
        body = self._http.json("PUT", f"/api/v1/entities/{_q(table)}", json=sent)
        return int(body["written"])

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, name: str, suffix: str = "", **kwargs: Any) -> JsonDict:
        body: JsonDict = self._http.json(method, f"/api/v1/endpoints/{_q(name)}{suffix}", **kwargs)
        return body


_SPEC_KEYS = ("targets", "sticky", "canary", "shadows", "pipeline", "deliver")


def spec_only(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec fields of a spec or of an endpoint's JSON view (so `get` -> edit -> `replace` works)."""
    canary = spec.get("canary")
    body = {k: spec[k] for k in _SPEC_KEYS if spec.get(k) is not None}
    if isinstance(canary, Mapping):  # the server keeps the step state; a client sends the policy
        body["canary"] = {k: v for k, v in canary.items() if k not in ("step", "weight", "step_started_at")}
    return body


def _q(part: str) -> str:
    return quote(part, safe="")
