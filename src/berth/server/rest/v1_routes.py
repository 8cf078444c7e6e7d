"""The JSON shapes people already send: TF-Serving and MLflow, on ``POST /v1/models/{name}:predict``.

Bodies: ``{"instances": [...]}`` or ``{"inputs": ...}`` (TF-Serving), ``{"dataframe_split": {...}}``
or ``{"dataframe_records": [...]}`` (MLflow). They are mapped onto the version's signature and
take the same validated path as an OIP request, through the data plane, which records the
answer and gives it a prediction id (header ``berth-prediction-id``: these JSON shapes have no
place for one in the body); the answer is ``{"predictions": [...]}``.
"""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from berth.core.access import Action
from berth.core.codecs.limits import DEFAULT_MAX_TENSORS
from berth.core.codecs.v1_json import decode_v1_request, encode_v1_response
from berth.core.entities import Version
from berth.core.tensors import InferenceRequest
from berth.dataplane.dataplane import DataPlane
from berth.dataplane.served import Served
from berth.server.answer_headers import prediction_id_header
from berth.server.auth.permissions import model_from_path, requires
from berth.server.metrics.requests import OK, NoRequestMetrics, RequestCounter, outcome
from berth.server.offload import INLINE, Offload
from berth.server.rest.body import read_body
from berth.server.rest.openapi_schemas import V1_REQUEST, json_body, json_responses

MODEL_HEADER = "berth-model-version"


def v1_router(
    dataplane: DataPlane,
    *,
    max_body_bytes: int,
    requests: RequestCounter | None = None,
    max_tensors: int = DEFAULT_MAX_TENSORS,
    offload: Offload = INLINE,
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
        try:
            version = dataplane.resolve(name, ref)  # unknown names are 404 before the body is even read
            _served_by(observation, name, version)
            body = await read_body(request, max_body_bytes)
            version = dataplane.resolve(name, ref)  # again: the version live once the body is in
            _served_by(observation, name, version)
            decoded = await offload.run(
                len(body),
                functools.partial(decode_v1_request, max_tensors=max_tensors),
                body,
                version.signature,
            )
            answer = await dataplane.infer_version(
                name, version, InferenceRequest(decoded.inputs), request.headers.get, None
            )
        except BaseException as exc:
            counter.finish(observation, outcome(exc))
            raise
        counter.finish(observation, OK)
        headers = {MODEL_HEADER: f"{name}:{version.number}"}
        headers.update((k.decode(), v.decode()) for k, v in prediction_id_header(answer))
        return Response(
            content=encode_v1_response(answer.outputs, decoded.style),
            media_type="application/json",
            headers=headers,
        )

    return router


def _served_by(served: Served | None, name: str, version: Version) -> None:
    if served is not None:
        served.endpoint, served.model, served.version = name, version.model, str(version.number)
