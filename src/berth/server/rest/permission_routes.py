"""What the caller may do on a model or endpoint: ``GET /api/v1/permissions/{name}``.

The web app asks it to show only the actions the caller may take (a button the server would refuse
is not offered). It is a convenience, never the boundary: every action's own route decides again.
The answer comes from `berth.core.access.allowed`, the same decision the routes make, so the two
cannot disagree. A name the caller may not discover answers 404, exactly as a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request

from berth.core.access import ANONYMOUS, Action, Principal, allowed
from berth.server.auth.permissions import model_from_path, request_guard, requires

TEAM_ACTIONS = tuple(a for a in Action if a not in (Action.CONNECT, Action.ADMIN))
"""The actions decided per model or endpoint (CONNECT and ADMIN are not team-scoped)."""


def permission_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["access control and audit"])

    @router.get(
        "/permissions/{name}",
        summary="The actions the caller may do on a model or endpoint (what the web app offers)",
        responses={404: {"description": "no such model or endpoint, or one the caller may not see"}},
    )
    async def permissions(
        name: str,
        request: Request,
        caller: Annotated[Principal, requires(Action.DISCOVER, model_from_path)],
    ) -> dict[str, Any]:
        resource = await request_guard(request).model(name)
        everything = caller is ANONYMOUS  # a server without authentication allows everything
        return {
            "name": name,
            "principal": caller.name,
            "admin": caller.admin,
            "actions": [a.value for a in TEAM_ACTIONS if everything or allowed(caller, a, resource)],
        }

    return router
