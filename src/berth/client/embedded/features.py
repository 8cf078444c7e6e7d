"""Feature views of a home folder opened in this process (``--home``): `LocalFeatures`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from berth.client.embedded.home import open_home
from berth.client.features import JsonDict
from berth.client.sdk import current_user
from berth.core.errors import BerthError, ErrorCode
from berth.wiring.workspace import Workspace

_STREAM_CHUNK = 1000


def open_local_features(home: str | Path | None) -> LocalFeatures:
    return LocalFeatures(open_home(home))


class LocalFeatures:
    """Feature views of a workspace opened in this process (who holds the database holds every
    right); servers on it see a change within their poll interval."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._service = workspace.features

    def create_view(self, spec: Mapping[str, Any], *, team: str = "default") -> JsonDict:
        return self._service.create(spec, team=team).describe()

    def views(self) -> list[JsonDict]:
        return [v.describe() for v in self._service.list()]

    def view(self, name: str) -> JsonDict:
        return self._service.get(name).describe()

    def update_view(self, name: str, changes: Mapping[str, Any]) -> JsonDict:
        return self._service.update(name, changes).describe()

    def delete_view(self, name: str) -> bool:
        self._service.get(name)
        return self._service.delete(name)

    def put(self, name: str, values: Mapping[str, Mapping[str, Any]]) -> int:
        return self._service.put(name, values)

    def stream(self, name: str, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        written, it = 0, iter(rows)
        while chunk := dict(islice(it, _STREAM_CHUNK)):
            written += self._service.put(name, chunk)
        return written

    def read(self, name: str, keys: Iterable[str]) -> JsonDict:
        found = asyncio.run(self._service.read(name, list(keys)))
        return {k: {"values": dict(r.values), "updated_at": r.updated_at} for k, r in found.items()}

    def materialize(
        self, name: str, *, as_of: str | None = None, since: str | None = None, chunk_rows: int = 5000
    ) -> JsonDict:
        """Enqueue a ``features-materialize`` job of view `name` (a ``berth worker`` on this home runs it)."""
        from berth.control.feature_materialize import MATERIALIZE_KIND, check_materializable
        from berth.core.jobs import NewJob
        from berth.core.moments import parse_moment

        check_materializable(self._service.get(name))
        times = {k: parse_moment(k, v) for k, v in (("as_of", as_of), ("since", since)) if v is not None}
        params = {"view": name, "chunk_rows": chunk_rows} | {
            k: t.timestamp() for k, t in times.items() if t is not None
        }
        job = NewJob(
            MATERIALIZE_KIND, params, max_attempts=1, created_by=current_user(), reason="materialize"
        )
        return self._ws.jobs.enqueue(job).to_json()

    def materialize_job(self, name: str, job_id: int) -> JsonDict:
        from berth.control.feature_materialize import MATERIALIZE_KIND

        job = self._ws.jobs.get_job(job_id)
        if job.kind != MATERIALIZE_KIND or job.params.get("view") != name:
            raise BerthError(ErrorCode.JOB_NOT_FOUND, f"no materialize job {job_id} of view {name!r}")
        return job.to_json()

    def close(self) -> None:
        self._service.close()
        self._ws.close()
