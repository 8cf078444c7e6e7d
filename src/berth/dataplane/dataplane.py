"""The data plane: one transport-neutral place where a request becomes an answer.

resolve the model reference in the in-memory routing table -> check the inputs against the
version's signature -> predict (off the event loop) -> pick the requested outputs -> record. REST
(OIP JSON and binary, the fast path, TF-Serving/MLflow JSON) and gRPC all call `infer` or
`infer_version`; neither knows about models, and it knows nothing about HTTP.

Every answer is made here, so every answer gets its prediction id and its record here, whatever
the route or protocol: there is no other public way to a prediction (the predictor is private).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import Signature
from berth.core.tensors import InferenceRequest, InferenceResponse
from berth.dataplane.endpoint_inference import EndpointInference, HeaderLookup
from berth.dataplane.predictor import Predictor
from berth.dataplane.recording import PredictionRecorder, committed, prediction_identity
from berth.dataplane.served import Served
from berth.runtime.pool import LoadState, ModelPool
from berth.runtime.reconciler import Reconciler

SERVER_NAME = "berth"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    name: str
    version: str
    extensions: tuple[str, ...]


class DataPlane:
    def __init__(
        self,
        reconciler: Reconciler,
        pool: ModelPool,
        info: ServerInfo,
        predictor: Predictor,
        endpoints: EndpointInference | None = None,
        recorder: PredictionRecorder | None = None,
        health: Callable[[], list[str]] | None = None,
    ) -> None:
        """`health`: why the server is not ready besides the registry (e.g. a stalled journal)."""
        self._reconciler = reconciler
        self._pool = pool
        self._predictor = predictor
        self.info = info
        self._endpoints = endpoints
        self._recorder = recorder
        self._health = health

    # -- health and metadata ------------------------------------------------------------------
    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return not self.unready_reasons()

    def unready_reasons(self) -> list[str]:
        """Why the server is not ready (empty: it is)."""
        reasons = [] if self._reconciler.synced else ["the registry has not been read yet"]
        if self._health is not None:
            reasons += self._health()
        return reasons

    def resolve(self, model: str, ref: str | None) -> Version:
        return self._reconciler.table.resolve(model, ref)

    def check_callable(self, name: str, ref: str | None) -> None:
        """NOT_FOUND errors for a name that is neither an endpoint nor a model (or a reference the
        model does not have), before a request's body is read."""
        table = self._reconciler.table
        if name in table.endpoints:
            if ref is not None:
                raise _endpoint_has_no_versions(name)
            return
        table.resolve(name, ref)

    def endpoint_signature(self, name: str) -> Signature | None:
        """The signature a request to the endpoint `name` is read against when its shape needs one
        (TF-Serving and MLflow JSON): that of the version its first stable target serves, as its
        metadata shows. None when `name` is not an endpoint."""
        route = self._reconciler.table.endpoints.get(name)
        if route is None:
            return None
        split, _ = route.serving()
        return split.stable[0].version.signature

    def model_ready(self, model: str, ref: str | None) -> bool:
        route = self._reconciler.table.endpoints.get(model)
        if route is not None:
            if ref is not None:
                raise _endpoint_has_no_versions(model)
            if route.split is None:
                return False
            return all(self._pool.state(v.version) is LoadState.READY for v in route.split.variants())
        return self._pool.state(self.resolve(model, ref)) is LoadState.READY

    def model_metadata(self, model: str, ref: str | None, *, internals: bool = True) -> dict[str, Any]:
        """OIP model metadata: name, versions, platform (the flavor), inputs and outputs. An
        endpoint answers with the signature of the version its first stable target serves; what
        the endpoint is made of (its spec, that version, its aliases and state) only with
        `internals` (for a caller who may read the endpoint, not one who may only call it)."""
        route = self._reconciler.table.endpoints.get(model)
        if route is not None:
            if ref is not None:
                raise _endpoint_has_no_versions(model)
            split, _ = route.serving()
            first = split.stable[0].version
            metadata = self.model_metadata(first.model, str(first.number))
            metadata["name"] = model
            metadata["versions"] = []
            if internals:
                metadata["parameters"]["endpoint"] = route.endpoint.to_json()
            else:
                metadata["parameters"] = {k: metadata["parameters"][k] for k in ("layout", "default_outputs")}
            return metadata
        version = self.resolve(model, ref)
        routes = self._reconciler.table.model(model)
        signature = version.signature
        return {
            "name": model,
            "versions": [str(n) for n in sorted(routes.versions)],
            "platform": version.flavor,
            "inputs": [_spec_json(s.name, s.datatype, s.shape) for s in signature.inputs],
            "outputs": [_spec_json(s.name, s.datatype, s.shape) for s in signature.outputs],
            "parameters": {
                "version": str(version.number),
                "layout": signature.layout.value,
                "default_outputs": list(signature.returned_by_default),
                "aliases": sorted(a for a, n in routes.aliases.items() if n == version.number),
                "state": self._pool.state(version).value,
            },
        }

    # -- model repository (OIP repository extension) ------------------------------------------
    def repository_index(self) -> list[dict[str, str]]:
        """Every version the registry holds, with its state in this server: READY, LOADING,
        UNAVAILABLE (failed to load, `reason` says why) or UNLOADED."""
        states = {
            LoadState.READY: "READY",
            LoadState.LOADING: "LOADING",
            LoadState.FAILED: "UNAVAILABLE",
            LoadState.UNLOADED: "UNLOADED",
        }
        rows: list[dict[str, str]] = []
        for name, routes in sorted(self._reconciler.table.models.items()):
            for number, version in sorted(routes.versions.items()):
                failure = self._pool.failure(version)
                rows.append(
                    {
                        "name": name,
                        "version": str(number),
                        "state": states[self._pool.state(version)],
                        "reason": failure.message if failure else "",
                    }
                )
        return rows

    async def load_model(self, model: str, ref: str | None = None) -> Version:
        """Load (and warm up) the version `ref` names now, instead of on its first request."""
        version = self.resolve(model, ref)
        await self._pool.get(version)
        return version

    async def unload_model(self, model: str, ref: str | None = None) -> Version:
        """Free the version's memory once its requests in flight are answered. A later request
        loads it again."""
        version = self.resolve(model, ref)
        await self._pool.unload((version.model, version.number))
        return version

    # -- inference ----------------------------------------------------------------------------
    async def infer(
        self,
        model: str,
        ref: str | None,
        request: InferenceRequest,
        headers: HeaderLookup | None = None,
        served: Served | None = None,
    ) -> InferenceResponse:
        """Answer `request` with the endpoint `model` names, else the version `ref` names now;
        `served` is filled in with what answers as soon as it is resolved (for metrics).

        Transports resolve once on arrival, to answer an unknown name before reading the body; the
        version is resolved again here, in the same step of the event loop as the pool lookup in
        `_answer`, so a request never lands on a version the reconciler has just retired
        (it would load it again, and nothing would unload it)."""
        route = self._reconciler.table.endpoints.get(model)
        if route is not None and self._endpoints is not None:
            if ref is not None:
                raise _endpoint_has_no_versions(model)
            return await self._endpoints.infer(route, request, headers, served)
        pid, entity = prediction_identity(request, headers)
        start = time.perf_counter()
        return await self._answer(model, self.resolve(model, ref), request, pid, entity, start, served)

    async def infer_version(
        self,
        name: str,
        version: Version,
        request: InferenceRequest,
        headers: HeaderLookup | None = None,
        served: Served | None = None,
    ) -> InferenceResponse:
        """Answer `request` with `version`, resolved by the caller from `name` (a transport whose
        body is decoded against the version's signature); recorded under `name` as `infer` does."""
        pid, entity = prediction_identity(request, headers)
        return await self._answer(name, version, request, pid, entity, time.perf_counter(), served)

    async def _answer(
        self,
        model: str,
        version: Version,
        request: InferenceRequest,
        pid: str,
        entity: str | None,
        start: float,
        served: Served | None,
    ) -> InferenceResponse:
        """Predict with `version`, record the answer (unless sampled out) and give it its id."""
        if served is not None:
            served.endpoint, served.model, served.version = model, version.model, str(version.number)
        outputs = await self._predictor.predict(version, request.inputs, _requested_names(request))
        if self._recorder is not None:
            recording = self._recorder.recording(pid, model, entity, request.inputs, rows=request.record_rows)
            if recording is not None:
                latency_s = time.perf_counter() - start
                await committed(recording.record(model, version, "", request.inputs, outputs, latency_s))
        return InferenceResponse(
            model_name=version.model, model_version=str(version.number), outputs=outputs, id=pid
        )


def _endpoint_has_no_versions(name: str) -> BerthError:
    return BerthError(
        ErrorCode.VERSION_NOT_FOUND,
        f"{name!r} is an endpoint: it has no versions; call it by its name alone",
        model=name,
    )


def _requested_names(request: InferenceRequest) -> list[str] | None:
    return [o.name for o in request.outputs] if request.outputs else None


def _spec_json(name: str, datatype: str, shape: tuple[int, ...]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": list(shape)}
