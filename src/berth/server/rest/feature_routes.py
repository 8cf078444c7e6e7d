"""The feature view API (``/api/v1/features``): define views, write and read their values.

Views are entity tables with a definition (`berth.core.access.ResourceKind.ENTITY_TABLE`): READ
to see one and read its values, UPDATE (a maintainer of its team) to change it or write values,
creating one in a team needs UPDATE on that team. A view another team cannot read answers as a
missing one (ENTITY_TABLE_NOT_FOUND, 404), in lists too.

Writing: ``PUT .../values`` takes up to 10,000 entities a call; ``POST .../stream`` takes a
stream of NDJSON lines ``{"key": "c-1", "values": {...}}`` of any length and writes them in
chunks of 1,000 as they arrive (an update feed), answering how many were written.

Materializing: ``POST .../materialize`` enqueues a ``features-materialize`` job (UPDATE on the
view, like writing values; `berth.control.feature_materialize`) that a worker runs;
``GET .../materialize/{job_id}`` follows it (a job of another view, or of another kind, is not found).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from berth.control.feature_materialize import MATERIALIZE_KIND, check_materializable
from berth.control.feature_views import FeatureService
from berth.control.jobs.service import JobService
from berth.core.access import Action, Principal, Resource, allowed
from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView
from berth.core.jobs import MAX_COUNT, NewJob
from berth.core.moments import Moment
from berth.core.record_requests import as_utc
from berth.server.auth.permissions import Guard, request_principal, requires, team_in_body
from berth.server.rest.route_calls import in_thread
from berth.storage.protocols import EntityStore

STREAM_CHUNK: Final = 1000
MAX_LINE_BYTES: Final = 1 << 20
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    404: {"description": "not found"},
    409: {"description": "conflict"},
}


class ValuesPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[str, dict[str, str | int | float | bool | None]] = Field(
        description="entity key -> feature values (a row is written whole)"
    )


class Materialize(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: Moment | None = Field(None, description="ISO 8601 time or unix seconds (default: when it runs)")
    since: Moment | None = Field(None, description="only history rows from then on (default: any)")
    chunk_rows: int = Field(5000, ge=1, le=10_000, description="entities per write")


class KeysRead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keys: list[str] = Field(min_length=1, max_length=1000)


def feature_router(
    service: FeatureService, entities: EntityStore, jobs: JobService | None = None
) -> APIRouter:
    router = APIRouter(prefix="/api/v1/features", tags=["features"], responses=_ERRORS)

    async def view_from_path(guard: Guard, request: Request) -> Resource:
        name = str(request.path_params["view"])
        return Resource.entity_table(name, await in_thread(entities.entity_table_owner, name))

    read = [requires(Action.READ, view_from_path)]
    write = [requires(Action.UPDATE, view_from_path)]

    @router.get("/views", summary="The feature views the caller may read")
    async def list_views(caller: Annotated[Principal, requires(Action.CONNECT)]) -> list[dict[str, Any]]:
        views = await in_thread(service.list)
        return [
            v.describe()
            for v in views
            if caller.admin or allowed(caller, Action.READ, Resource.entity_table(v.name, v.team))
        ]

    @router.post(
        "/views",
        status_code=201,
        summary="Define a feature view in the body's team (default 'default')",
        dependencies=[requires(Action.UPDATE, team_in_body)],
    )
    async def create_view(request: Request) -> dict[str, Any]:
        body = await _json_object(request)
        team = body.pop("team", None) or "default"
        if not isinstance(team, str):
            raise BerthError(ErrorCode.INVALID_REQUEST, "'team' must be a team's name")
        view = await in_thread(service.create, body, team=team)
        return view.describe()

    @router.get("/views/{view}", summary="A feature view's definition", dependencies=read)
    async def get_view(view: str) -> dict[str, Any]:
        return (await in_thread(service.get, view)).describe()

    @router.patch(
        "/views/{view}",
        summary="Change a view's features, TTL, policies, defaults, budget or description",
        dependencies=write,
    )
    async def update_view(view: str, request: Request) -> dict[str, Any]:
        changed: FeatureView = await in_thread(service.update, view, await _json_object(request))
        return changed.describe()

    @router.delete("/views/{view}", summary="Delete a view no endpoint reads", dependencies=write)
    async def delete_view(view: str) -> dict[str, bool]:
        await in_thread(service.get, view)
        return {"deleted": await in_thread(service.delete, view)}

    @router.put(
        "/views/{view}/values",
        summary="Insert or replace entities' values (at most 10,000 a call)",
        dependencies=write,
    )
    async def put_values(view: str, body: ValuesPut) -> dict[str, int]:
        return {"written": await in_thread(service.put, view, body.values)}

    @router.post(
        "/views/{view}/stream",
        summary="Stream updates: NDJSON lines {key, values}, written in chunks as they arrive",
        dependencies=write,
    )
    async def stream_values(view: str, request: Request) -> dict[str, int]:
        await in_thread(service.get, view)
        written, line_no = 0, 0
        pending: dict[str, Any] = {}
        buffer = b""
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) > MAX_LINE_BYTES and b"\n" not in buffer:
                raise BerthError(ErrorCode.PAYLOAD_TOO_LARGE, f"a line of more than {MAX_LINE_BYTES} bytes")
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                line_no += 1
                _add_line(pending, line, line_no)
                if len(pending) >= STREAM_CHUNK:
                    written += await in_thread(service.put, view, pending)
                    pending = {}
        line_no += 1
        _add_line(pending, buffer, line_no)
        if pending:
            written += await in_thread(service.put, view, pending)
        return {"written": written}

    @router.post(
        "/views/{view}/materialize",
        status_code=202,
        summary="Write each entity's latest values from the view's offline history: a job",
        dependencies=write,
    )
    async def materialize(view: str, body: Materialize, request: Request) -> dict[str, Any]:
        caller = request_principal(request)
        check_materializable(await in_thread(service.get, view))
        times = {k: as_utc(v).timestamp() for k, v in (("as_of", body.as_of), ("since", body.since)) if v}
        params = {"view": view, "chunk_rows": body.chunk_rows, **times}
        job = NewJob(MATERIALIZE_KIND, params, max_attempts=1, created_by=caller.name, reason="materialize")
        return (await in_thread(_jobs().enqueue, job)).to_json()

    @router.get(
        "/views/{view}/materialize/{job_id}", summary="A materialize job of the view", dependencies=write
    )
    async def materialize_job(
        view: str, job_id: Annotated[int, PathParam(ge=1, le=MAX_COUNT)]
    ) -> dict[str, Any]:
        try:
            job = await in_thread(_jobs().get_job, job_id)
        except BerthError:
            job = None
        if job is None or job.kind != MATERIALIZE_KIND or job.params.get("view") != view:
            raise BerthError(ErrorCode.JOB_NOT_FOUND, f"no materialize job {job_id} of view {view!r}")
        return job.to_json()

    def _jobs() -> JobService:
        if jobs is None:
            raise BerthError(ErrorCode.UNAVAILABLE, "this server runs no jobs")
        return jobs

    @router.post("/views/{view}/read", summary="The stored values of some keys", dependencies=read)
    async def read_values(view: str, body: KeysRead) -> dict[str, Any]:
        found = await service.read(view, body.keys)
        return {
            "view": view,
            "values": {k: {"values": dict(r.values), "updated_at": r.updated_at} for k, r in found.items()},
        }

    return router


def _add_line(pending: dict[str, Any], line: bytes, line_no: int) -> None:
    if not line.strip():
        return
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"line {line_no} is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("key"), str) or set(doc) - {"key", "values"}:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f'line {line_no}: expected {{"key": "...", "values": {{...}}}}'
        )
    pending[doc["key"]] = doc.get("values") or {}


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BerthError(ErrorCode.INVALID_REQUEST, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BerthError(ErrorCode.INVALID_REQUEST, "the body must be a JSON object")
    return body
