"""Monitoring of a home folder opened in this process (``--home``): `LocalMonitor`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.client.embedded.home import open_home
from berth.client.monitor import JsonDict
from berth.control.alerts.rules import AlertRule
from berth.control.monitor_service import Window
from berth.core.record_requests import parse_time
from berth.wiring.workspace import Workspace


def open_local_monitor(home: str | Path | None) -> LocalMonitor:
    return LocalMonitor(open_home(home))


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
        new.check_served(
            {name: features for name, (_, features) in self._ws.monitor.served_views(new.target).items()}
        )
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
