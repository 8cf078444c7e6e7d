"""The records and feedback API: ``/api/v1/records``, ``/api/v1/records/exports``, ``/api/v1/feedback``.

Who may do what: reading records needs the reader role on the endpoint (or model) they belong to;
a query must name one, unless the caller is a platform administrator. Feedback needs the feedback
right (maintainer) on each prediction's endpoint: ids the caller may not touch are reported as
unknown, exactly like ids that do not exist, so nothing leaks. Erasing an entity is for platform
administrators. An export is a job owned by whoever asked for it (reading the records it selects is
checked when it is asked for): its owner and platform administrators see, download and delete it,
within per-principal quotas (`berth.control.record_export_jobs`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from berth.control.record_export_jobs import RecordExports, Requester
from berth.control.record_exports import ExportReader
from berth.control.record_service import RecordService
from berth.core.access import ANONYMOUS, SERVER, Action, Principal, Resource, authorize
from berth.core.codecs.arrow_tables import PARQUET_TYPE
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import MAX_COUNT
from berth.core.record_requests import ExportBody, FeedbackBody, parse_time
from berth.core.records import (
    MAX_ENTITY_KEY_LENGTH,
    FeedbackOutcome,
    FeedbackReport,
    RecordQuery,
)
from berth.server.auth.permissions import Guard, request_guard, requires
from berth.server.rest.route_calls import in_thread
from berth.storage.protocols import EntityStore

ExportId = Annotated[int, Path(ge=1, le=MAX_COUNT, description="the export's job id")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    403: {"description": "forbidden"},
    404: {"description": "not found"},
}


async def record_scope(guard: Guard, request: Request) -> Resource:
    """The endpoint (or model) a records query names; the whole server when it names none."""
    name = request.query_params.get("endpoint") or request.query_params.get("model")
    if name:
        return await guard.model(name)
    return SERVER


def _requester(caller: Principal) -> Requester:
    return Requester(caller.name, caller.admin)


async def _chunks(reader: ExportReader) -> AsyncIterator[bytes]:
    """The export's bytes, each chunk read from the store in the thread pool; closed however the
    response ends (a client that goes away included)."""
    chunks = iter(reader)
    try:
        while chunk := await in_thread(next, chunks, b""):
            yield chunk
    finally:
        reader.close()


def record_router(
    service: RecordService, exports: RecordExports, entities: EntityStore | None = None
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["records"], responses=_ERRORS)

    @router.get(
        "/records", summary="Prediction records, newest first (or those needing review), with their feedback"
    )
    async def list_records(
        caller: Annotated[Principal, requires(Action.READ, record_scope)],
        endpoint: Annotated[str | None, Query(max_length=128)] = None,
        model: Annotated[str | None, Query(max_length=128)] = None,
        version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
        variant: Annotated[str | None, Query(max_length=256)] = None,
        entity_key: Annotated[str | None, Query(max_length=MAX_ENTITY_KEY_LENGTH)] = None,
        start: Annotated[str | None, Query(description="ISO 8601 time or Unix seconds (inclusive)")] = None,
        end: Annotated[str | None, Query(description="ISO 8601 time or Unix seconds (exclusive)")] = None,
        has_feedback: bool | None = None,
        include_shadows: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Query(max_length=256)] = None,
        order: Annotated[
            Literal["newest", "needs_review"],
            Query(
                description="newest first, or needs_review: the records without feedback whose "
                "correction would teach the model most (uncertainty, spread over categories)"
            ),
        ] = "newest",
    ) -> dict[str, Any]:
        query = RecordQuery(
            endpoint=endpoint,
            model=model,
            version=version,
            variant=variant,
            entity_key=entity_key,
            start=parse_time("start", start),
            end=parse_time("end", end),
            with_feedback=has_feedback,
            include_shadows=include_shadows,
            limit=limit,
            after=cursor,
        )
        read = service.needs_review if order == "needs_review" else service.query
        page = await in_thread(read, query)
        return {"records": [r.to_json() for r in page.records], "next_cursor": page.next_cursor}

    @router.delete(
        "/records",
        summary="Erase an entity: its records and feedback, its journal lines, its rows in exports",
    )
    async def erase_entity(
        caller: Annotated[Principal, requires(Action.ADMIN)],
        entity_key: Annotated[str, Query(min_length=1, max_length=MAX_ENTITY_KEY_LENGTH)],
    ) -> dict[str, Any]:
        report = await in_thread(service.erase_entity, entity_key)
        return report.to_json()

    # -- exports (jobs, owned by their creator: berth.control.record_export_jobs) ----------------
    @router.post(
        "/records/exports",
        status_code=202,
        summary="Export the selected records to Parquet: a job; poll it, then download its file",
    )
    async def create_export(
        request: Request,
        response: Response,
        body: ExportBody,
        caller: Annotated[Principal, requires(Action.CONNECT)],
    ) -> dict[str, Any]:
        name = body.endpoint or body.model
        guard = request_guard(request)
        if name is None:
            authorize(caller, Action.ADMIN, SERVER)
        elif caller is not ANONYMOUS:
            await guard.authorize(caller, Action.READ, await guard.model(name))
        for join in body.join:  # a view the caller may not read answers like a missing one (404)
            owner = None if entities is None else await in_thread(entities.entity_table_owner, join.view)
            if caller is not ANONYMOUS:
                await guard.authorize(caller, Action.READ, Resource.entity_table(join.view, owner))
        view = await in_thread(exports.create, _requester(caller), body)
        response.headers["location"] = f"/api/v1/records/exports/{view['id']}"
        return view

    @router.get("/records/exports", summary="The caller's exports (every export for administrators)")
    async def list_exports(caller: Annotated[Principal, requires(Action.CONNECT)]) -> dict[str, Any]:
        return {"exports": await in_thread(exports.list_for, _requester(caller))}

    @router.get("/records/exports/{export_id}", summary="One export: its status, progress and size")
    async def get_export(
        export_id: ExportId, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> dict[str, Any]:
        return await in_thread(exports.get, _requester(caller), export_id)

    @router.get(
        "/records/exports/{export_id}/file",
        summary="Download a finished export (streamed from the export store)",
        response_class=StreamingResponse,
        responses={200: {"content": {PARQUET_TYPE: {}}}},
    )
    async def download_export(
        export_id: ExportId, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> StreamingResponse:
        reader, view = await in_thread(exports.file, _requester(caller), export_id)
        return StreamingResponse(
            _chunks(reader),
            media_type=PARQUET_TYPE,
            headers={
                "content-length": str(reader.size),
                "content-disposition": f'attachment; filename="records-{export_id}.parquet"',
                "berth-export-id": str(export_id),
                "berth-export-rows": str(view["rows"]),
            },
        )

    @router.delete("/records/exports/{export_id}", summary="Delete an export (a running one is stopped)")
    async def delete_export(
        export_id: ExportId, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> dict[str, Any]:
        await in_thread(exports.delete, _requester(caller), export_id)
        return {"deleted": export_id}

    # after /records/exports: a prediction id could be called "exports"
    @router.get("/records/{prediction_id}", summary="The records of one prediction id (shadows included)")
    async def get_record(
        request: Request,
        prediction_id: str,
        caller: Annotated[Principal, requires(Action.CONNECT)],
    ) -> dict[str, Any]:
        records = await in_thread(service.get, prediction_id)
        guard = request_guard(request)
        visible = [r for r in records if await guard.may(caller, Action.READ, r.record.endpoint)]
        if not visible:
            raise BerthError(
                ErrorCode.RECORD_NOT_FOUND, f"no prediction {prediction_id!r}", prediction_id=prediction_id
            )
        return {"prediction_id": prediction_id, "records": [r.to_json() for r in visible]}

    # -- feedback ------------------------------------------------------------------------------
    @router.post(
        "/feedback",
        summary="Ground truth for predictions (by id, or an entity's latest); idempotent, the last sent wins",
    )
    async def send_feedback(
        request: Request, body: FeedbackBody, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> dict[str, Any]:
        if not body.feedback and not body.entity_feedback:
            raise BerthError(
                ErrorCode.INVALID_REQUEST, "no feedback: send 'feedback' or 'entity_feedback' items"
            )
        guard = request_guard(request)
        outcomes: list[tuple[str, FeedbackOutcome]] = []
        if body.feedback:
            items = [i.to_feedback() for i in body.feedback]
            hidden: set[str] = set()
            if caller is not ANONYMOUS:
                owners = await in_thread(service.endpoints_of, [i.prediction_id for i in items])
                hidden = {
                    pid for pid, ep in owners.items() if not await guard.may(caller, Action.FEEDBACK, ep)
                }
                hidden |= {i.prediction_id for i in items if i.prediction_id not in owners}
            allowed_items = [i for i in items if i.prediction_id not in hidden]
            report = await in_thread(service.add_feedback, allowed_items) if allowed_items else None
            stored = dict(report.outcomes) if report is not None else {}
            outcomes += [
                (i.prediction_id, stored.get(i.prediction_id, FeedbackOutcome.UNKNOWN_PREDICTION))
                for i in items
            ]
        if body.entity_feedback:
            entity_items = [i.to_feedback() for i in body.entity_feedback]
            if caller is not ANONYMOUS:
                for endpoint in {i.endpoint for i in entity_items}:
                    await guard.authorize(caller, Action.FEEDBACK, await guard.model(endpoint))
            outcomes += (await in_thread(service.add_entity_feedback, entity_items)).outcomes
        return FeedbackReport(tuple(outcomes)).to_json()

    return router
