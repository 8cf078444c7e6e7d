"""The model repository extension of OIP REST, on Triton's paths (tritonclient.http's
``get_model_repository_index``, ``load_model`` and ``unload_model``).

- ``POST /v2/repository/index``: every version the registry holds and its state here (READY,
  LOADING, UNAVAILABLE with a reason, UNLOADED); the optional body ``{"ready": true}`` keeps the
  READY ones only;
- ``POST /v2/repository/models/{name}/load`` and ``.../unload``: load (and warm) or free the
  model's default version now; the berth parameter ``version`` (a number or an alias) names
  another. Models come from the registry, so Triton's ``config`` and file parameters are refused.

Answers follow Triton: 200 with an empty body on success, ``{"error", "code"}`` otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from berth.core.access import Action, Principal
from berth.core.codecs.oip_json import load_object
from berth.core.errors import BerthError, ErrorCode
from berth.dataplane.dataplane import DataPlane
from berth.server.auth.permissions import model_from_path, request_guard, requires
from berth.server.rest.body import read_body

_IGNORED = frozenset({"unload_dependents"})
"""Triton parameters that mean nothing here (berth has no ensembles) and are accepted."""


def repository_router(dataplane: DataPlane, *, max_body_bytes: int) -> APIRouter:
    router = APIRouter(tags=["model repository (Open Inference Protocol V2 extension)"])

    @router.post("/v2/repository/index", summary="Every version in the registry and its state here")
    async def index(request: Request, caller: Annotated[Principal, requires(Action.CONNECT)]) -> Response:
        ready_only = _ready_flag(await _optional_object(request, max_body_bytes))
        guard = request_guard(request)
        rows = [
            r for r in dataplane.repository_index() if await guard.may(caller, Action.DESCRIBE, r["name"])
        ]
        if ready_only:
            rows = [row for row in rows if row["state"] == "READY"]
        return Response(content=orjson.dumps(rows), media_type="application/json")

    # response_class=Response: the 200 answer has an empty body, and the OpenAPI document says so
    @router.post(
        "/v2/repository/models/{name}/load",
        summary="Load (and warm up) a model now",
        response_class=Response,
        dependencies=[requires(Action.LOAD, model_from_path)],
    )
    async def load(name: str, request: Request) -> Response:
        ref = _version(await _optional_object(request, max_body_bytes))
        await dataplane.load_model(name, ref)
        return Response(status_code=200)

    @router.post(
        "/v2/repository/models/{name}/unload",
        summary="Free a model's memory",
        response_class=Response,
        dependencies=[requires(Action.LOAD, model_from_path)],
    )
    async def unload(name: str, request: Request) -> Response:
        ref = _version(await _optional_object(request, max_body_bytes))
        await dataplane.unload_model(name, ref)
        return Response(status_code=200)

    return router


async def _optional_object(request: Request, limit: int) -> dict[str, Any]:
    body = await read_body(request, limit)
    return load_object(body) if body.strip() else {}


def _ready_flag(doc: dict[str, Any]) -> bool:
    ready = doc.get("ready", False)
    if type(ready) is not bool:
        raise BerthError(ErrorCode.INVALID_REQUEST, "'ready' must be true or false")
    return ready


def _version(doc: dict[str, Any]) -> str | None:
    """The ``version`` parameter (a number or an alias) of a load or unload body, or None."""
    parameters = doc.get("parameters") or {}
    if type(parameters) is not dict:
        raise BerthError(ErrorCode.INVALID_REQUEST, "'parameters' must be an object")
    unknown = sorted(set(parameters) - _IGNORED - {"version"})
    if unknown:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"unsupported parameters {unknown}: berth loads models from its registry"
            " (push a version instead of sending a config or files)",
        )
    version = parameters.get("version")
    if version is None:
        return None
    if type(version) is int and not isinstance(version, bool):
        return str(version)
    if type(version) is not str or not version:
        raise BerthError(ErrorCode.INVALID_REQUEST, "'version' must be a version number or an alias")
    return version
