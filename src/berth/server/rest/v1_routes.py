"""The JSON shapes people already send: TF-Serving and MLflow, on ``POST /v1/models/{name}:predict``.

Bodies: ``{"instances": [...]}`` or ``{"inputs": ...}`` (TF-Serving), ``{"dataframe_split": {...}}``
or ``{"dataframe_records": [...]}`` (MLflow). They are mapped onto the version's signature and
take the same validated path as an OIP request, through the data plane, which records the
answer and gives it a prediction id (header ``berth-prediction-id``: these JSON shapes have no
place for one in the body); the answer is ``{"predictions": [...]}``. An endpoint's name is called
like a model's (as on ``/v2``): values keep the types JSON gives them (its variants may type an
input differently), and rows without names take those of the signature its metadata shows.
"""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from berth.core.access import Action
from berth.core.codecs.limits import DEFAULT_MAX_TENSORS
from berth.core.codecs.v1_json import V1Request, V1Style, decode_v1_request, encode_v1_response
from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import Signature
from berth.core.tensors import InferenceRequest, InferenceResponse
from berth.dataplane.dataplane import DataPlane
from berth.dataplane.served import Served
from berth.server.answer_headers import answered_by
from berth.server.auth.permissions import model_from_path, request_principal, requires
from berth.server.deprecation_notices import NO_HEADERS, DeprecationNotices
from berth.server.metrics.requests import OK, NoRequestMetrics, RequestCounter, outcome
from berth.server.offload import INLINE, Offload
from berth.server.rest.body import read_body
from berth.server.rest.openapi_schemas import V1_REQUEST, json_body, json_responses
from berth.server.usage_meter import NO_USAGE, UsageCounter


def v1_router(
    dataplane: DataPlane,
    *,
    max_body_bytes: int,
    requests: RequestCounter | None = None,
    max_tensors: int = DEFAULT_MAX_TENSORS,
    offload: Offload = INLINE,
    usage: UsageCounter = NO_USAGE,
    notices: DeprecationNotices | None = None,
) -> APIRouter:
    counter = requests or NoRequestMetrics()
    router = APIRouter(tags=["inference (TF-Serving and MLflow JSON)"])
    doc: dict[str, Any] = {
        "dependencies": [requires(Action.PREDICT, model_from_path)],
        "openapi_extra": json_body(V1_REQUEST),
        "responses": json_responses(
            {"type": "object", "properties": {"predictions": {"type": "array"}}}, 400, 404
        ),
    }

    @router.post("/v1/models/{name}:predict", summary="Predict (default version)", **doc)
    async def predict(name: str, request: Request) -> Response:
        return await _predict(name, None, request)

    @router.post("/v1/models/{name}/versions/{ref}:predict", summary="Predict on a version or alias", **doc)
    async def predict_version(name: str, ref: str, request: Request) -> Response:
        return await _predict(name, ref, request)

    async def _predict(name: str, ref: str | None, request: Request) -> Response:
        observation = counter.start()
        caller = request_principal(request)
        try:
            if ref is None and dataplane.endpoint_signature(name) is not None:
                answer, style = await _endpoint_answer(name, request, observation)
            else:
                answer, style = await _version_answer(name, ref, request, observation)
        except BaseException as exc:
            code = outcome(exc)
            counter.finish(observation, code)
            usage.count(caller, observation, code)
            raise
        counter.finish(observation, OK)
        usage.count(caller, observation, OK)
        deprecated = notices.headers(name, ref, answer) if notices is not None else NO_HEADERS
        # named as /v2 and gRPC name them
        headers = {k.decode(): v.decode() for k, v in (*answered_by(answer), *deprecated)}
        return Response(
            content=encode_v1_response(answer.outputs, style), media_type="application/json", headers=headers
        )

    async def _decode(body: bytes, signature: Signature, *, typed: bool = True) -> V1Request:
        decode = functools.partial(decode_v1_request, max_tensors=max_tensors, typed=typed)
        return await offload.run(len(body), decode, body, signature)

    async def _endpoint_answer(
        name: str, request: Request, observation: Served | None
    ) -> tuple[InferenceResponse, V1Style]:
        """An endpoint answers as on ``/v2`` (variants, sticky key, steps). Its variants may type an
        input differently, so values keep the types JSON gives them; the signature its metadata
        shows (its first stable target's version) names the inputs of rows that do not."""
        body = await read_body(request, max_body_bytes)
        signature = dataplane.endpoint_signature(name)
        if signature is None:  # deleted while the body was read
            raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"endpoint {name!r} not found", model=name)
        decoded = await _decode(body, signature, typed=False)
        answer = await dataplane.infer(
            name, None, InferenceRequest(decoded.inputs), request.headers.get, observation
        )
        return answer, decoded.style

    async def _version_answer(
        name: str, ref: str | None, request: Request, observation: Served | None
    ) -> tuple[InferenceResponse, V1Style]:
        dataplane.check_callable(name, ref)  # unknown names (and versions of endpoints) before the body
        version = dataplane.resolve(name, ref)
        _served_by(observation, name, version)
        body = await read_body(request, max_body_bytes)
        version = dataplane.resolve(name, ref)  # again: the version live once the body is in
        _served_by(observation, name, version)
        decoded = await _decode(body, version.signature)
        answer = await dataplane.infer_version(
            name, version, InferenceRequest(decoded.inputs), request.headers.get, None
        )
        return answer, decoded.style

    return router


def _served_by(served: Served | None, name: str, version: Version) -> None:
    if served is not None:
        served.endpoint, served.model, served.version = name, version.model, str(version.number)
