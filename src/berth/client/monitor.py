"""Monitoring and alert rules as the CLI and the SDK see them (a server URL, or a home folder).

import berth
mon = berth.monitor(url="http://127.0.0.1:8080")
view = mon.snapshot("feedback-router", start="2026-11-20T00:00:00Z")
mon.add_rule({"name": "router-drift", "target": "feedback-router", "metric": "drift_share",
              "op": ">", "threshold": 0.5, "webhook_url": "https://hooks.example/berth",
              })  # the answer holds the webhook's signing secret ("whsec_..."), shown once
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from berth.client.transport import Transport
from berth.core.record_requests import parse_time
from berth.core.settings import Settings
from berth.engine.alerts.rules import AlertRule
from berth.engine.monitor_service import Window
from berth.engine.workspace import Workspace, open_workspace

JsonDict = dict[str, Any]


class Monitor(Protocol):
    def snapshot(
        self, name: str, *, start: str | None = None, end: str | None = None, bucket_s: int | None = None
    ) -> JsonDict: ...
    def compare(
        self, name: str, a: str, b: str, *, start: str | None = None, end: str | None = None
    ) -> JsonDict: ...
    def rules(self, target: str | None = None) -> list[JsonDict]: ...
    def add_rule(self, rule: Mapping[str, Any]) -> JsonDict: ...
    def delete_rule(self, name: str) -> None: ...
    def events(self, target: str | None = None, limit: int = 100) -> list[JsonDict]: ...
    def close(self) -> None: ...


def open_monitor(
    *, home: str | Path | None = None, url: str | None = None, token: str | None = None
) -> Monitor:
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteMonitor(url, token=token)
    settings = Settings() if home is None else Settings(home=Path(home))
    return LocalMonitor(open_workspace(settings))


class RemoteMonitor:
    def __init__(self, url: str, *, timeout: float = 120.0, token: str | None = None) -> None:
        self._http = Transport(url, timeout=timeout, token=token)

    def snapshot(
        self, name: str, *, start: str | None = None, end: str | None = None, bucket_s: int | None = None
    ) -> JsonDict:
        params = _params(start=start, end=end, bucket_s=bucket_s)
        body: JsonDict = self._http.json("GET", f"/api/v1/monitor/{quote(name, safe='')}", params=params)
        return body

    def compare(
        self, name: str, a: str, b: str, *, start: str | None = None, end: str | None = None
    ) -> JsonDict:
        params = _params(a=a, b=b, start=start, end=end)
        body: JsonDict = self._http.json(
            "GET", f"/api/v1/monitor/{quote(name, safe='')}/compare", params=params
        )
        return body

    def rules(self, target: str | None = None) -> list[JsonDict]:
        body: JsonDict = self._http.json("GET", "/api/v1/alerts/rules", params=_params(target=target))
        return list(body["rules"])

    def add_rule(self, rule: Mapping[str, Any]) -> JsonDict:
        body: JsonDict = self._http.json("POST", "/api/v1/alerts/rules", json=dict(rule))
        return body

    def delete_rule(self, name: str) -> None:
        self._http.request("DELETE", f"/api/v1/alerts/rules/{quote(name, safe='')}")

    def events(self, target: str | None = None, limit: int = 100) -> list[JsonDict]:
        body: JsonDict = self._http.json(
            "GET", "/api/v1/alerts/events", params=_params(target=target, limit=limit)
        )
        return list(body["events"])

    def close(self) -> None:
        self._http.close()


class LocalMonitor:
    """Monitoring read straight from an embedded home's database."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def snapshot(
        self, name: str, *, start: str | None = None, end: str | None = None, bucket_s: int | None = None
    ) -> JsonDict:
        self._check_exists(name)
        window = Window.of(parse_time("start", start), parse_time("end", end), bucket_s)
        return self._ws.monitor.snapshot(name, window)

    def compare(
        self, name: str, a: str, b: str, *, start: str | None = None, end: str | None = None
    ) -> JsonDict:
        window = Window.of(parse_time("start", start), parse_time("end", end), None)
        return self._ws.monitor.compare(name, a, b, window)

    def rules(self, target: str | None = None) -> list[JsonDict]:
        return [
            AlertRule.from_json(r.spec).to_json() | {"state": r.state}
            for r in self._ws.alerts.list_rules(target)
        ]

    def add_rule(self, rule: Mapping[str, Any]) -> JsonDict:
        new = AlertRule.from_request(rule)
        stored = self._ws.alerts.create_rule(new.to_json(with_secret=True))
        secret = {"secret": new.secret} if new.secret else {}  # shown once, like the server's answer
        return AlertRule.from_json(stored.spec).to_json() | {"state": stored.state} | secret

    def delete_rule(self, name: str) -> None:
        self._ws.alerts.delete_rule(name)

    def events(self, target: str | None = None, limit: int = 100) -> list[JsonDict]:
        return [e.to_json() for e in self._ws.alerts.events(target=target, limit=limit)]

    def _check_exists(self, name: str) -> None:
        """MODEL_NOT_FOUND unless `name` is an endpoint or a model."""
        if name not in {e.name for e in self._ws.endpoints.list_all()}:
            self._ws.store.get_model(name)

    def close(self) -> None:
        self._ws.close()


def _params(**values: Any) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}
