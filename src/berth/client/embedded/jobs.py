"""Jobs of a home folder opened in this process (``--home``): `LocalJobs`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.client.embedded.home import open_home
from berth.client.jobs import JsonDict
from berth.core.jobs import JobQuery, JobStatus, NewJob, TriggerSpec
from berth.wiring.workspace import Workspace


def open_local_jobs(home: str | Path | None) -> LocalJobs:
    return LocalJobs(open_home(home))


class LocalJobs:
    """Jobs in the database of a workspace opened in this process (``berth worker`` runs them)."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._service = workspace.jobs

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
        job = NewJob(
            kind, dict(params), priority=priority, max_attempts=max_attempts, created_by=actor, reason=reason
        )
        return self._service.enqueue(job).to_json()

    def list_jobs(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        trigger: str | None = None,
        limit: int = 50,
    ) -> list[JsonDict]:
        query = JobQuery(JobStatus(status) if status else None, kind, trigger, limit)
        return [j.to_json() for j in self._service.list_jobs(query)]

    def get(self, job_id: int) -> JsonDict:
        return self._service.get_job(job_id).to_json()

    def cancel(self, job_id: int) -> JsonDict:
        return self._service.cancel(job_id).to_json()

    def add_trigger(self, trigger: Mapping[str, Any], *, actor: str = "") -> JsonDict:
        spec = TriggerSpec.from_json(dict(trigger), created_by=actor)
        return self._service.add_trigger(spec).to_json()

    def list_triggers(self) -> list[JsonDict]:
        return [t.to_json() for t in self._service.list_triggers()]

    def set_trigger_enabled(self, name: str, enabled: bool) -> JsonDict:
        return self._service.set_trigger_enabled(name, enabled).to_json()

    def delete_trigger(self, name: str) -> None:
        self._service.delete_trigger(name)

    def fire_trigger(self, name: str, reason: str = "", *, actor: str = "") -> JsonDict:
        return self._service.fire_trigger(name, reason, actor=actor).to_json()

    def close(self) -> None:
        self._ws.close()
