"""Jobs and triggers as the CLI and the SDK see them: embedded (a home folder) or remote (a server URL).

Both answer with the JSON views of the REST API (``/api/v1/jobs``); the embedded one
(`berth.client.embedded.jobs`) is imported only when a home is opened::

    import berth
    jobs = berth.jobs(url="http://127.0.0.1:8080")
    job = jobs.enqueue("batch-score", {"model": "churn", "input": "data/customers.csv"})
    jobs.get(job["id"])["progress"]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from berth.client.transport import Transport

if TYPE_CHECKING:
    from berth.client.embedded.jobs import LocalJobs

JsonDict = dict[str, Any]


# What both implementations take: the remote one here, the embedded one
# (`berth.client.embedded.jobs`) when a home is opened. mypy checks each call against both.
Jobs: TypeAlias = "RemoteJobs | LocalJobs"


def open_jobs(*, home: str | Path | None = None, url: str | None = None, token: str | None = None) -> Jobs:
    """The jobs of the server at `url` (called with `token`, default ``BERTH_TOKEN``), else of the
    embedded registry in `home`."""
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteJobs(url, token=token)
    from berth.client.embedded.jobs import open_local_jobs

    return open_local_jobs(home)


class RemoteJobs:
    """Jobs behind a running server's API (``/api/v1/jobs``)."""

    def __init__(
        self, url: str, *, timeout: float = 60.0, token: str | None = None, transport: Transport | None = None
    ) -> None:
        self._http = transport or Transport(url, timeout=timeout, token=token)

    def enqueue(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        priority: int = 0,
        max_attempts: int = 3,
        actor: str = "",
        reason: str = "",
    ) -> JsonDict:
        body = {
            "kind": kind,
            "params": dict(params),
            "priority": priority,
            "max_attempts": max_attempts,
            "reason": reason,
        }
        return self._json("POST", "/api/v1/jobs", json=body)

    def list_jobs(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        trigger: str | None = None,
        limit: int = 50,
    ) -> list[JsonDict]:
        query = {k: v for k, v in (("status", status), ("kind", kind), ("trigger", trigger)) if v}
        found: list[JsonDict] = self._http.json("GET", "/api/v1/jobs", params={**query, "limit": limit})
        return found

    def get(self, job_id: int) -> JsonDict:
        return self._json("GET", f"/api/v1/jobs/{int(job_id)}")

    def cancel(self, job_id: int) -> JsonDict:
        return self._json("POST", f"/api/v1/jobs/{int(job_id)}/cancel")

    def add_trigger(self, trigger: Mapping[str, Any], *, actor: str = "") -> JsonDict:
        return self._json("POST", "/api/v1/jobs/triggers", json=dict(trigger))

    def list_triggers(self) -> list[JsonDict]:
        found: list[JsonDict] = self._http.json("GET", "/api/v1/jobs/triggers")
        return found

    def set_trigger_enabled(self, name: str, enabled: bool) -> JsonDict:
        return self._json("PATCH", _trigger_path(name), json={"enabled": enabled})

    def delete_trigger(self, name: str) -> None:
        self._http.request("DELETE", _trigger_path(name))

    def fire_trigger(self, name: str, reason: str = "", *, actor: str = "") -> JsonDict:
        return self._json("POST", f"{_trigger_path(name)}/fire", json={"reason": reason})

    def close(self) -> None:
        self._http.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> JsonDict:
        body: JsonDict = self._http.json(method, path, **kwargs)
        return body


def _trigger_path(name: str) -> str:
    return f"/api/v1/jobs/triggers/{quote(name, safe='')}"
