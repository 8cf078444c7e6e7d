"""Monitoring and alert rules as the CLI and the SDK see them (a server URL, or a home folder).

The embedded implementation (`berth.client.embedded.monitor`) is imported only when a home is opened.

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
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from berth.client.transport import Transport

if TYPE_CHECKING:
    from berth.client.embedded.monitor import LocalMonitor

JsonDict = dict[str, Any]


# What both implementations take: the remote one here, the embedded one
# (`berth.client.embedded.monitor`) when a home is opened. mypy checks each call against both.
Monitor: TypeAlias = "RemoteMonitor | LocalMonitor"


def open_monitor(
    *, home: str | Path | None = None, url: str | None = None, token: str | None = None
) -> Monitor:
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteMonitor(url, token=token)
    from berth.client.embedded.monitor import open_local_monitor

    return open_local_monitor(home)


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


def _params(**values: Any) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}
