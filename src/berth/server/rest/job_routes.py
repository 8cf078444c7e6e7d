"""The job API: ``/api/v1/jobs`` (enqueue, list, read, cancel) and ``/api/v1/jobs/triggers``.

Jobs run with the worker's rights over the whole registry (a job may read any model, push versions
and move aliases), so every route here is for the platform's administrators (`Action.ADMIN`).
Workers claim jobs from the database: a server only enqueues and reports.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Request

from berth.control.jobs.service import JobService
from berth.core.access import Action, Principal
from berth.core.jobs import MAX_COUNT, JobQuery, JobStatus
from berth.core.tracing import OFF, Tracing
from berth.server.auth.permissions import requires
from berth.server.rest.alert_routes import readable_rule
from berth.server.rest.job_schemas import Fire, JobCreate, TriggerCreate, TriggerPatch
from berth.server.rest.route_calls import in_thread
from berth.storage.sql_alerts import SqlAlertStore

Admin = Annotated[Principal, requires(Action.ADMIN)]
_ADMIN: Final = [requires(Action.ADMIN)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    404: {"description": "not found"},
    409: {"description": "conflict"},
    422: {"description": "unknown job kind or invalid parameters"},
}
JobId = Annotated[int, Path(ge=1, le=MAX_COUNT)]
TriggerName = Annotated[str, Path(min_length=1, max_length=64)]


def job_router(service: JobService, rules: SqlAlertStore, tracing: Tracing = OFF) -> APIRouter:
    router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=_ERRORS)
    call = in_thread

    @router.post("", status_code=201, summary="Enqueue a job (a worker runs it)")
    async def enqueue(body: JobCreate, caller: Admin) -> dict[str, Any]:
        job = replace(body.new_job(caller.name), traceparent=tracing.traceparent())  # the run links to us
        return (await call(service.enqueue, job)).to_json()

    @router.get("", summary="Jobs, newest first", dependencies=_ADMIN)
    async def list_jobs(
        status: JobStatus | None = None,
        kind: Annotated[str | None, Query(max_length=64)] = None,
        trigger: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before: Annotated[int | None, Query(ge=1, le=MAX_COUNT, description="an id: older jobs")] = None,
    ) -> list[dict[str, Any]]:
        query = JobQuery(status=status, kind=kind, trigger=trigger, limit=limit, before=before)
        return [j.to_json() for j in await call(service.list_jobs, query)]

    @router.get("/kinds", summary="The job kinds this server knows", dependencies=_ADMIN)
    async def kinds() -> list[dict[str, Any]]:
        return service.describe_kinds()

    # -- triggers (before /{job_id}) ------------------------------------------------------------
    @router.get("/triggers", summary="Triggers, by name", dependencies=_ADMIN)
    async def list_triggers() -> list[dict[str, Any]]:
        return [t.to_json() for t in await call(service.list_triggers)]

    @router.post("/triggers", status_code=201, summary="Add a trigger")
    async def add_trigger(body: TriggerCreate, request: Request, caller: Admin) -> dict[str, Any]:
        spec = body.spec(caller.name)
        if spec.alert_rule is not None:
            # the trigger listens to this rule (its identity), one its creator may read
            rule = await readable_rule(request, rules, caller, spec.alert_rule)
            spec = replace(spec, alert_rule_uid=rule.uid)
        return (await call(service.add_trigger, spec)).to_json()

    @router.get("/triggers/{trigger}", summary="One trigger", dependencies=_ADMIN)
    async def get_trigger(trigger: TriggerName) -> dict[str, Any]:
        return (await call(service.get_trigger, trigger)).to_json()

    @router.patch("/triggers/{trigger}", summary="Enable or disable a trigger", dependencies=_ADMIN)
    async def patch_trigger(trigger: TriggerName, body: TriggerPatch) -> dict[str, Any]:
        return (await call(service.set_trigger_enabled, trigger, body.enabled)).to_json()

    @router.delete("/triggers/{trigger}", summary="Delete a trigger (its jobs stay)", dependencies=_ADMIN)
    async def delete_trigger(trigger: TriggerName) -> dict[str, bool]:
        await call(service.delete_trigger, trigger)
        return {"deleted": True}

    @router.post("/triggers/{trigger}/fire", status_code=201, summary="Fire a trigger now: its job")
    async def fire(trigger: TriggerName, body: Fire, caller: Admin) -> dict[str, Any]:
        return (await call(service.fire_trigger, trigger, body.reason, actor=caller.name)).to_json()

    # -- one job -------------------------------------------------------------------------------
    @router.get("/{job_id}", summary="A job, with its progress", dependencies=_ADMIN)
    async def get_job(job_id: JobId) -> dict[str, Any]:
        return (await call(service.get_job, job_id)).to_json()

    @router.post("/{job_id}/cancel", summary="Cancel a job (a running one stops at its next progress report)")
    async def cancel(job_id: JobId, caller: Admin) -> dict[str, Any]:
        return (await call(service.cancel, job_id)).to_json()

    return router
