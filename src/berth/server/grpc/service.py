"""The ``inference.GRPCInferenceService`` calls, answered by the data plane REST uses too.

``version`` / ``model_version`` is a version number or an alias (``production``); empty means the
model's default version (its 'production' alias, else its latest). Predictions run off the event
loop (the data plane hands them to its executor); everything else here is in-memory look-ups.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Final, TypeAlias

import grpc

from berth.core.access import Action, Principal
from berth.core.codecs.limits import DEFAULT_MAX_TENSORS
from berth.core.errors import BerthError, ErrorCode
from berth.core.tracing import OFF, TRACEPARENT, TRACESTATE, Tracing
from berth.dataplane.dataplane import DataPlane
from berth.dataplane.endpoint_inference import HeaderLookup
from berth.server.answer_headers import answered_by
from berth.server.auth.access_cache import unauthenticated
from berth.server.auth.permissions import CURRENT_PRINCIPAL, Guard
from berth.server.deprecation_notices import NO_HEADERS, DeprecationNotices
from berth.server.grpc.auth import PUBLIC
from berth.server.grpc.codec import decode_infer_request, encode_infer_response
from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.status import reporting_errors
from berth.server.metrics.requests import OK, NoRequestMetrics, RequestCounter, outcome
from berth.server.offload import INLINE, Offload
from berth.server.usage_meter import NO_USAGE, UsageCounter

Context: TypeAlias = grpc.aio.ServicerContext

_INFER_SPAN: Final = "inference.GRPCInferenceService/ModelInfer"
_UNLOAD_PARAMETERS: Final = frozenset({"unload_dependents"})
"""Parameters RepositoryModelUnload accepts (berth models have no dependents: it is ignored)."""


RPC_ACTIONS: Final[dict[str, Action | str]] = {
    "ServerLive": PUBLIC,
    "ServerReady": PUBLIC,
    "ServerMetadata": Action.CONNECT,
    "ModelReady": Action.DESCRIBE,
    "ModelMetadata": Action.DESCRIBE,
    "ModelInfer": Action.PREDICT,
    "RepositoryIndex": Action.CONNECT,  # lists only the models the caller may describe
    "RepositoryModelLoad": Action.LOAD,
    "RepositoryModelUnload": Action.LOAD,
}
"""What each method requires (the interceptor refuses a method missing here; a test checks that
every method of the service is listed)."""


class InferenceServicer:
    """The OIP V2 gRPC service over a `DataPlane`."""

    def __init__(
        self,
        dataplane: DataPlane,
        guard: Guard | None = None,
        requests: RequestCounter | None = None,
        *,
        max_tensors: int = DEFAULT_MAX_TENSORS,
        offload: Offload = INLINE,
        tracing: Tracing = OFF,
        usage: UsageCounter = NO_USAGE,
        notices: DeprecationNotices | None = None,
    ) -> None:
        self._tracing = tracing
        self._usage = usage
        self._notices = notices
        self._max_tensors = max_tensors
        self._offload = offload
        self._dataplane = dataplane
        self._guard = guard or Guard(None)
        self._requests = requests or NoRequestMetrics()

    def _principal(self) -> Principal:
        principal = CURRENT_PRINCIPAL.get()
        if principal is None:
            raise unauthenticated("missing credentials: send 'authorization: Bearer <token>' metadata")
        return principal

    async def _check(self, method: str, model: str) -> None:
        action = RPC_ACTIONS[method]
        if not isinstance(action, Action):
            raise BerthError(ErrorCode.INTERNAL, f"{method} is public: it has no model to check")
        await self._guard.check_model(self._principal(), action, model)

    # -- health and metadata ----------------------------------------------------------------------
    @reporting_errors
    async def ServerLive(self, request: pb.ServerLiveRequest, context: Context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self._dataplane.live())

    @reporting_errors
    async def ServerReady(self, request: pb.ServerReadyRequest, context: Context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self._dataplane.ready())

    @reporting_errors
    async def ModelReady(self, request: pb.ModelReadyRequest, context: Context) -> pb.ModelReadyResponse:
        await self._check("ModelReady", request.name)
        return pb.ModelReadyResponse(ready=self._dataplane.model_ready(request.name, request.version or None))

    @reporting_errors
    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        self._principal()
        info = self._dataplane.info
        return pb.ServerMetadataResponse(name=info.name, version=info.version, extensions=info.extensions)

    @reporting_errors
    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        await self._check("ModelMetadata", request.name)
        meta = self._dataplane.model_metadata(request.name, request.version or None)
        return pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=[_tensor_metadata(spec) for spec in meta["inputs"]],
            outputs=[_tensor_metadata(spec) for spec in meta["outputs"]],
        )

    # -- inference --------------------------------------------------------------------------------
    @reporting_errors
    async def ModelInfer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        if self._tracing.on:
            metadata = context.invocation_metadata() or ()
            lookup = _metadata_lookup(metadata)
            entry = self._tracing.entry(lookup(TRACEPARENT), lookup(TRACESTATE))
            if entry is not None:
                attributes = {
                    "rpc.system": "grpc",
                    "rpc.service": "inference.GRPCInferenceService",
                    "rpc.method": "ModelInfer",
                    "berth.model": request.model_name,
                }
                with self._tracing.request(_INFER_SPAN, entry, attributes=attributes):
                    return await self._infer(request, context)
        return await self._infer(request, context)

    async def _infer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        observation = self._requests.start()
        principal = CURRENT_PRINCIPAL.get()
        try:
            name, ref = request.model_name, request.model_version or None
            await self._check("ModelInfer", name)
            self._dataplane.check_callable(name, ref)  # unknown: NOT_FOUND before the tensors are read
            metadata = context.invocation_metadata() or ()
            decoded = await self._offload.run(
                request.ByteSize(),
                functools.partial(decode_infer_request, max_tensors=self._max_tensors),
                request,
            )
            answer = await self._dataplane.infer(name, ref, decoded, _metadata_lookup(metadata), observation)
            notices = self._notices
            deprecated = notices.headers(name, ref, answer) if notices is not None else NO_HEADERS
            trailing = [(k.decode(), v.decode()) for k, v in (*answered_by(answer), *deprecated)]
            context.set_trailing_metadata(trailing)
            response = encode_infer_response(answer)
        except BaseException as exc:
            code = outcome(exc)
            self._requests.finish(observation, code)
            if principal is not None:
                self._usage.count(principal, observation, code)
            raise
        self._requests.finish(observation, OK)
        if principal is not None:
            self._usage.count(principal, observation, OK)
        return response

    # -- model repository -------------------------------------------------------------------------
    @reporting_errors
    async def RepositoryIndex(
        self, request: pb.RepositoryIndexRequest, context: Context
    ) -> pb.RepositoryIndexResponse:
        principal = self._principal()
        rows = [
            row
            for row in self._dataplane.repository_index()
            if await self._guard.may(principal, Action.DESCRIBE, row["name"])
        ]
        if request.ready:
            rows = [row for row in rows if row["state"] == "READY"]
        index = pb.RepositoryIndexResponse.ModelIndex
        return pb.RepositoryIndexResponse(models=[index(**row) for row in rows])

    @reporting_errors
    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: Context
    ) -> pb.RepositoryModelLoadResponse:
        """Load the model's default version now (berth loads from its registry: no config or files)."""
        await self._check("RepositoryModelLoad", request.model_name)
        _refuse_parameters("RepositoryModelLoad", set(request.parameters), frozenset())
        await self._dataplane.load_model(request.model_name)
        return pb.RepositoryModelLoadResponse()

    @reporting_errors
    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: Context
    ) -> pb.RepositoryModelUnloadResponse:
        """Unload the model's default version; its next request loads it again."""
        await self._check("RepositoryModelUnload", request.model_name)
        _refuse_parameters("RepositoryModelUnload", set(request.parameters), _UNLOAD_PARAMETERS)
        await self._dataplane.unload_model(request.model_name)
        return pb.RepositoryModelUnloadResponse()


def _metadata_lookup(metadata: Sequence[tuple[str, str | bytes]]) -> HeaderLookup:
    """A lookup of one gRPC metadata key (lower-case, as gRPC sends them) as a text value."""

    def lookup(name: str) -> str | None:
        for key, value in metadata:
            if key == name:
                return value if isinstance(value, str) else value.decode("latin-1")
        return None

    return lookup


def _tensor_metadata(spec: dict[str, Any]) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(
        name=spec["name"], datatype=spec["datatype"], shape=spec["shape"]
    )


def _refuse_parameters(call: str, given: set[str], accepted: frozenset[str]) -> None:
    unknown = sorted(given - accepted)
    if unknown:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"{call} does not take the parameters {unknown}: berth loads versions from its registry"
            " (push a new version to change a model)",
        )
