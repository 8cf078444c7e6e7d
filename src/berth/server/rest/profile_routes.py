"""Reference profiles over REST: ``PUT`` / ``GET /api/v1/models/{name}/versions/{number}/profile``.

A profile is the JSON of `berth.control.monitoring.profile.Profile` (the SDK builds it client side at push
time). A ``PUT`` is checked (it must read back as a profile) and size-capped, and replaces the
version's profile; it needs the right to update the model (as metadata does), a ``GET`` to read it.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from berth.control.monitoring.profile import Profile
from berth.core.access import Action
from berth.core.errors import BerthError, ErrorCode
from berth.server.auth.permissions import model_from_path, requires
from berth.server.rest.body import read_body
from berth.server.rest.openapi_schemas import json_body
from berth.server.rest.route_calls import in_thread
from berth.storage.profile_protocols import ProfileStore
from berth.storage.sql_profiles import MAX_PROFILE_BYTES

_PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "built_at", "inputs"],
    "properties": {
        "format": {"type": "integer"},
        "rows": {"type": "integer"},
        "built_at": {"type": "string", "format": "date-time"},
        "inputs": {"type": "object"},
        "outputs": {"type": "object"},
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    404: {"description": "not found"},
    413: {"description": "too large"},
}


def profile_router(profiles: ProfileStore, *, max_profile_bytes: int = MAX_PROFILE_BYTES) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["monitoring"], responses=_ERRORS)

    @router.put(
        "/models/{name}/versions/{number}/profile",
        summary="Store (or replace) a version's reference profile",
        dependencies=[requires(Action.UPDATE, model_from_path)],
        openapi_extra=json_body(_PROFILE_SCHEMA),
    )
    async def put_profile(name: str, number: int, request: Request) -> JSONResponse:
        profile = _parse(await read_body(request, max_profile_bytes))
        at = await in_thread(profiles.put_profile, name, number, profile.to_json())
        return JSONResponse(
            {
                "model": name,
                "version": number,
                "stored_at": at.isoformat(),
                "inputs": len(profile.inputs),
                "outputs": len(profile.outputs),
            }
        )

    @router.get(
        "/models/{name}/versions/{number}/profile",
        summary="A version's reference profile",
        dependencies=[requires(Action.READ, model_from_path)],
    )
    async def get_profile(name: str, number: int) -> JSONResponse:
        return JSONResponse(await in_thread(profiles.get_profile, name, number))

    return router


def _parse(body: bytes) -> Profile:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BerthError(ErrorCode.INVALID_JSON, f"the profile is not valid JSON: {exc}") from None
    return Profile.from_json(document)
