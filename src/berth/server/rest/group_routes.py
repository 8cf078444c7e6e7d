"""Serving groups: ``GET /api/v1/groups`` (assignments and live replicas), ``PUT
/api/v1/groups/assignments/{name}`` (move a model or endpoint to a group).

Which machines serve what is the platform's capacity, so both are for platform administrators; a
move is audited (``group.assign``) and applied by every replica's reconciler without a restart (the
new group loads it before the old one lets it go: `berth.runtime.serving_scope`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from berth.core.access import Action
from berth.core.serving_groups import MAX_GROUP_LENGTH
from berth.server.auth.permissions import requires
from berth.server.rest.route_calls import in_thread
from berth.storage.sql_serving_groups import SqlServingGroups

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    404: {"description": "no such model or endpoint"},
}


class AssignmentBody(BaseModel):
    group: str = Field(min_length=1, max_length=MAX_GROUP_LENGTH, description="the serving group")
    reason: str = Field("", max_length=1000, description="why (kept in the audit trail)")


def group_router(groups: SqlServingGroups, *, replica_ttl: timedelta) -> APIRouter:
    router = APIRouter(prefix="/api/v1/groups", tags=["serving groups"], responses=_ERRORS)

    @router.get(
        "",
        summary="The serving group of every model and endpoint, and the live replicas (platform admins)",
        dependencies=[requires(Action.ADMIN)],
    )
    async def list_groups() -> dict[str, Any]:
        assignments = await in_thread(groups.assignments)
        replicas = await in_thread(lambda: groups.replicas(live_within=replica_ttl))
        return {
            "assignments": [{"name": a.name, "kind": a.kind, "group": a.group} for a in assignments],
            "replicas": [
                {
                    "replica_id": r.replica_id,
                    "role": r.role.value,
                    "group": r.group,
                    "url": r.url,
                    "started_at": r.started_at.isoformat(),
                    "heartbeat_at": r.heartbeat_at.isoformat(),
                    "ready": sorted(r.ready),
                }
                for r in replicas
            ],
        }

    @router.put(
        "/assignments/{name}",
        summary="Move a model or endpoint to a serving group (platform admins; audited)",
        dependencies=[requires(Action.ADMIN)],
    )
    async def assign(name: str, body: Annotated[AssignmentBody, Body()]) -> dict[str, str]:
        assignment = await in_thread(lambda: groups.assign(name, body.group, reason=body.reason))
        return {"name": assignment.name, "kind": assignment.kind, "group": assignment.group}

    return router
