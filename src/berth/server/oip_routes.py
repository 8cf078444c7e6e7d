"""Open Inference Protocol V2 over REST: health, server and model metadata, inference.

``{ref}`` in a path is a version number or an alias (``/v2/models/churn/versions/production/infer``);
a bare model name means its 'production' alias, else its latest version. Health answers follow
the protocol: 200 when true, 400 when false.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from berth.core.codecs.oip_json import decode_infer_request, encode_infer_response
from berth.dataplane.dataplane import DataPlane
from berth.server.body import read_body
from berth.server.openapi_schemas import INFER_REQUEST, INFER_RESPONSE, json_body, json_responses

JSON = "application/json"


def _json(body: Any, status: int = 200) -> Response:
    return Response(content=orjson.dumps(body), status_code=status, media_type=JSON)


def oip_router(dataplane: DataPlane, *, max_body_bytes: int) -> APIRouter:
    router = APIRouter(tags=["inference (Open Inference Protocol V2)"])

    @router.get("/v2", summary="Server metadata")
    async def server_metadata() -> Response:
        info = dataplane.info
        return _json({"name": info.name, "version": info.version, "extensions": list(info.extensions)})

    @router.get("/v2/health/live", summary="Liveness")
    async def live() -> Response:
        return _json({"live": True})

    @router.get(
        "/v2/health/ready", summary="Readiness: 200 once the registry has been read and models loaded"
    )
    async def ready() -> Response:
        is_ready = dataplane.ready()
        return _json({"ready": is_ready}, 200 if is_ready else 400)

    @router.get("/v2/models/{name}", summary="Model metadata (default version)")
    async def model_metadata(name: str) -> Response:
        return _json(dataplane.model_metadata(name, None))

    @router.get("/v2/models/{name}/versions/{ref}", summary="Model metadata of a version or alias")
    async def version_metadata(name: str, ref: str) -> Response:
        return _json(dataplane.model_metadata(name, ref))

    @router.get("/v2/models/{name}/ready", summary="Model readiness (default version)")
    async def model_ready(name: str) -> Response:
        return _ready_answer(name, dataplane.model_ready(name, None))

    @router.get("/v2/models/{name}/versions/{ref}/ready", summary="Model readiness of a version or alias")
    async def version_ready(name: str, ref: str) -> Response:
        return _ready_answer(name, dataplane.model_ready(name, ref))

    infer_doc: dict[str, Any] = {
        "openapi_extra": json_body(INFER_REQUEST),
        "responses": json_responses(INFER_RESPONSE, 400, 404, 413, 422),
    }

    @router.post("/v2/models/{name}/infer", summary="Inference (default version)", **infer_doc)
    async def infer(name: str, request: Request) -> Response:
        return await _infer(name, None, request)

    @router.post(
        "/v2/models/{name}/versions/{ref}/infer", summary="Inference on a version or alias", **infer_doc
    )
    async def infer_version(name: str, ref: str, request: Request) -> Response:
        return await _infer(name, ref, request)

    async def _infer(name: str, ref: str | None, request: Request) -> Response:
        dataplane.resolve(name, ref)  # unknown names are 404 before the body is even read
        body = await read_body(request, max_body_bytes)
        answer = await dataplane.infer(name, ref, decode_infer_request(body))
        return Response(content=encode_infer_response(answer), media_type=JSON)

    return router


def _ready_answer(name: str, ready: bool) -> Response:
    return _json({"name": name, "ready": ready}, 200 if ready else 400)
