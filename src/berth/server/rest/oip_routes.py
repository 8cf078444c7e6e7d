"""Open Inference Protocol V2 over REST: health, server and model metadata, inference.

``{ref}`` in a path is a version number or an alias (``/v2/models/churn/versions/production/infer``);
a bare model name means its 'production' alias, else its latest version. Health answers follow
the protocol: 200 when true, 400 when false.

Inference speaks the binary tensor data extension too (`berth.core.codecs.oip_binary`): a body with
the ``Inference-Header-Content-Length`` header is a JSON header followed by raw tensors, and outputs
asked for as binary come back that way (``application/octet-stream``, with the same header). Bodies
may be gzip or deflate (``Content-Encoding``); binary answers honour ``Accept-Encoding``. Bulk rows
come as an Arrow IPC stream or a Parquet file and are answered as an Arrow IPC stream
(`berth.server.rest.bulk_inference`).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from berth.core.access import Action, Principal
from berth.dataplane.dataplane import DataPlane
from berth.server.auth.permissions import model_from_path, public, request_guard, request_principal, requires
from berth.server.metrics.requests import OK, NoRequestMetrics, RequestCounter, outcome
from berth.server.rest.inference import RestInference
from berth.server.rest.openapi_schemas import infer_body, infer_responses
from berth.server.usage_meter import NO_USAGE, UsageCounter

JSON = "application/json"


Describer = Annotated[Principal, requires(Action.DESCRIBE, model_from_path)]
"""A caller who may describe the model or endpoint ``{name}`` (read it, call it, or a grantee)."""


def _json(body: Any, status: int = 200) -> Response:
    return Response(content=orjson.dumps(body), status_code=status, media_type=JSON)


def oip_router(
    dataplane: DataPlane,
    endpoint: RestInference,
    requests: RequestCounter | None = None,
    usage: UsageCounter = NO_USAGE,
) -> APIRouter:
    counter = requests or NoRequestMetrics()
    router = APIRouter(tags=["inference (Open Inference Protocol V2)"])

    @router.get("/v2", summary="Server metadata", dependencies=[requires(Action.CONNECT)])
    async def server_metadata() -> Response:
        info = dataplane.info
        return _json({"name": info.name, "version": info.version, "extensions": list(info.extensions)})

    @router.get("/v2/health/live", summary="Liveness (public)", dependencies=[public()])
    async def live() -> Response:
        return _json({"live": True})

    @router.get(
        "/v2/health/ready",
        summary="Readiness: 200 once the registry has been read and models loaded (public)",
        dependencies=[public()],
    )
    async def ready() -> Response:
        reasons = dataplane.unready_reasons()
        if reasons:
            return _json({"ready": False, "reasons": reasons}, 400)
        return _json({"ready": True}, 200)

    describe = [requires(Action.DESCRIBE, model_from_path)]

    @router.get("/v2/models/{name}", summary="Model metadata (default version)")
    async def model_metadata(name: str, request: Request, caller: Describer) -> Response:
        # an endpoint's spec (targets, steps, tables) only for those who may read the endpoint
        internals = await request_guard(request).may(caller, Action.READ, name)
        return _json(dataplane.model_metadata(name, None, internals=internals))

    @router.get(
        "/v2/models/{name}/versions/{ref}",
        summary="Model metadata of a version or alias",
        dependencies=describe,
    )
    async def version_metadata(name: str, ref: str) -> Response:
        return _json(dataplane.model_metadata(name, ref))

    @router.get("/v2/models/{name}/ready", summary="Model readiness (default version)", dependencies=describe)
    async def model_ready(name: str) -> Response:
        return _ready_answer(name, dataplane.model_ready(name, None))

    @router.get(
        "/v2/models/{name}/versions/{ref}/ready",
        summary="Model readiness of a version or alias",
        dependencies=describe,
    )
    async def version_ready(name: str, ref: str) -> Response:
        return _ready_answer(name, dataplane.model_ready(name, ref))

    infer_doc: dict[str, Any] = {
        "dependencies": [requires(Action.PREDICT, model_from_path)],
        "openapi_extra": infer_body(),
        "responses": infer_responses(400, 404, 413, 415, 422),
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
        """The documented route (the server answers this path on its fast path, with the same code)."""
        observation = counter.start()
        caller = request_principal(request)
        try:
            answer = await endpoint.answer(name, ref, request.scope["headers"], request.receive, observation)
        except BaseException as exc:
            code = outcome(exc)
            counter.finish(observation, code)
            usage.count(caller, observation, code)
            raise
        counter.finish(observation, OK)
        usage.count(caller, observation, OK)
        response = Response(content=answer.body)
        response.raw_headers = [(b"content-length", str(len(answer.body)).encode()), *answer.headers]
        return response

    return router


def _ready_answer(name: str, ready: bool) -> Response:
    return _json({"name": name, "ready": ready}, 200 if ready else 400)
