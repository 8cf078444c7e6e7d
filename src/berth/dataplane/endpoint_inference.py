"""Answering a request to an endpoint: variant -> pre-steps -> model -> post-steps -> shadows.

The variant is picked from the request's point ``u`` (its sticky key's hash, else random; see
`berth.runtime.traffic`). It is picked again from the routing table of the moment right before the
model is called, with the same ``u``, so a request whose pre-steps awaited a look-up across a
switch lands on a version that is live then, never on one that was just retired.

Outputs: without post-steps, as for a model (the requested outputs, else its defaults). With
post-steps, the model computes all its outputs, the post-steps run on them, and the answer is the
requested outputs, else every column except the model outputs that are not returned by default.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import InferenceRequest, InferenceResponse, Tensor
from berth.core.tracing import OFF, Tracing
from berth.dataplane.predictor import Predictor
from berth.dataplane.recording import PredictionRecorder, RequestRecording, committed, prediction_identity
from berth.dataplane.served import Served
from berth.dataplane.shadows import ShadowCall, ShadowRunner
from berth.runtime.compiled_endpoints import EndpointRoute
from berth.runtime.pipeline import Pipeline
from berth.runtime.pipeline.context import CustomStepSource, EntitySource, FeatureSource, StepContext
from berth.runtime.pipeline.frame import Frame, frame_from_tensors, frame_to_tensors
from berth.runtime.routing import RoutingTable
from berth.runtime.traffic import Variant, sticky_fraction
from berth.runtime.variant_stats import TrafficStats

HeaderLookup = Callable[[str], str | None]
"""A request header by lower-case name (None when absent)."""

_NO_STEPS = StepContext()
"""The context of a request through an endpoint without steps (never read)."""
ENDPOINT_PARAMETER = "endpoint"
VARIANT_PARAMETER = "variant"


class EndpointInference:
    def __init__(
        self,
        table: Callable[[], RoutingTable],
        predictor: Predictor,
        stats: TrafficStats,
        shadows: ShadowRunner,
        entities: EntitySource,
        custom_steps: CustomStepSource,
        recorder: PredictionRecorder | None = None,
        tracing: Tracing = OFF,
        *,
        features: FeatureSource | None = None,
    ) -> None:
        self._features = features
        self._recorder = recorder
        self._tracing = tracing
        self._table = table
        self._predict = predictor.predict
        self._stats = stats
        self._shadows = shadows
        self._entities = entities
        self._custom = custom_steps

    async def infer(
        self,
        route: EndpointRoute,
        request: InferenceRequest,
        headers: HeaderLookup | None,
        served: Served | None = None,
    ) -> InferenceResponse:
        with self._tracing.span("berth.endpoint") as span:
            answer = await self._infer(route, request, headers, served)
            if span is not None:
                params = answer.parameters
                span.set_attributes(
                    {"berth.endpoint": route.name, "berth.variant": params[VARIANT_PARAMETER]}
                )
            return answer

    def _context(self, request: InferenceRequest) -> StepContext:
        parameters, tracing = request.parameters, self._tracing
        if self._features is None:
            return StepContext(self._entities, self._custom, request_parameters=parameters, tracing=tracing)
        return StepContext(
            self._entities,
            self._custom,
            request_parameters=parameters,
            tracing=tracing,
            features=self._features,
            served=[] if self._recorder is not None else None,
        )

    async def _infer(
        self,
        route: EndpointRoute,
        request: InferenceRequest,
        headers: HeaderLookup | None,
        served: Served | None,
    ) -> InferenceResponse:
        recorder = self._recorder
        pid, entity = prediction_identity(request, headers)  # every answer has an id, recorded or not
        split, pipeline = route.serving()
        u = self._point(route, request, headers)
        variant = split.choose(u)
        if served is not None:
            _serve(served, route.name, variant)
        start = time.perf_counter()
        ok = False
        try:
            ctx = _NO_STEPS if pipeline.is_empty else self._context(request)
            inputs = request.inputs
            frame: Frame | None = None
            if pipeline.pre:
                frame = await pipeline.run_pre(frame_from_tensors(inputs), ctx)
                inputs = frame_to_tensors(frame)
                variant = self._rechoose(route.name, u, variant)
                if served is not None:
                    _serve(served, route.name, variant)
            outputs = await self._answer(variant, pipeline, inputs, frame, ctx, request)
            ok = True
        finally:
            self._stats.record(route.name, variant.label, time.perf_counter() - start, ok)
        version = variant.version
        recording = None
        if recorder is not None:
            recording = recorder.recording(
                pid,
                route.name,
                entity,
                request.inputs,
                pre_steps_ran=frame is not None,
                rows=request.record_rows,
                features_served=ctx.served or None,
            )
        for shadow, fraction in split.shadows:
            if fraction >= 1.0 or random.random() < fraction:
                self._shadow(route.name, shadow, pipeline, inputs, frame, ctx, request, outputs, recording)
        if recording is not None:
            latency_s = time.perf_counter() - start
            await committed(recording.record(route.name, version, variant.name, inputs, outputs, latency_s))
        return InferenceResponse(
            model_name=version.model,
            model_version=str(version.number),
            outputs=outputs,
            id=pid,
            parameters={ENDPOINT_PARAMETER: route.name, VARIANT_PARAMETER: variant.name},
        )

    def _point(self, route: EndpointRoute, request: InferenceRequest, headers: HeaderLookup | None) -> float:
        sticky = route.sticky
        if sticky is not None:
            key = _sticky_key(sticky.header, sticky.field, request, headers)
            if key is not None:
                return sticky_fraction(route.name, key)
        return random.random()

    def _rechoose(self, name: str, u: float, chosen: Variant) -> Variant:
        """The variant at `u` in the routing table of this moment (the endpoint may have changed
        while the pre-steps awaited)."""
        route = self._table().endpoints.get(name)
        if route is None or route.split is None:
            return chosen
        return route.split.choose(u)

    async def _answer(
        self,
        variant: Variant,
        pipeline: Pipeline,
        inputs: list[Tensor],
        frame: Frame | None,
        ctx: StepContext,
        request: InferenceRequest,
    ) -> list[Tensor]:
        version = variant.version
        requested = [o.name for o in request.outputs] if request.outputs else None
        if not pipeline.post:
            return await self._predict(version, inputs, requested)
        signature = version.signature
        raw = await self._predict(version, inputs, list(signature.output_names))
        classes = version.runtime_config.get("classes")
        post_ctx = ctx.for_post(frame if frame is not None else frame_from_tensors(inputs), classes)
        answered = await pipeline.run_post(frame_from_tensors(raw), post_ctx)
        if requested:
            missing = [n for n in requested if n not in answered]
            if missing:
                raise BerthError(
                    ErrorCode.OUTPUT_NOT_FOUND,
                    f"the endpoint answers no output {missing[0]!r}; it answers {list(answered)}",
                )
            return frame_to_tensors(answered.select(requested))
        hidden = set(signature.output_names) - set(signature.returned_by_default)
        return frame_to_tensors(answered.select([c for c in answered if c not in hidden]))

    def _shadow(
        self,
        endpoint: str,
        shadow: Variant,
        pipeline: Pipeline,
        inputs: list[Tensor],
        frame: Frame | None,
        ctx: StepContext,
        request: InferenceRequest,
        primary: list[Tensor],
        recording: RequestRecording | None,
    ) -> None:
        async def answer() -> list[Tensor]:
            start = time.perf_counter()
            outputs = await self._answer(shadow, pipeline, inputs, frame, ctx, request)
            if recording is not None:
                latency_s = time.perf_counter() - start
                version, variant = shadow.version, shadow.name
                recording.record(endpoint, version, variant, inputs, outputs, latency_s, shadow=True)
            return outputs

        self._shadows.submit(ShadowCall(endpoint, shadow.label, answer, primary, self._tracing.capture()))


def _serve(served: Served, endpoint: str, variant: Variant) -> None:
    version = variant.version
    served.endpoint, served.variant = endpoint, variant.name
    served.model, served.version = version.model, str(version.number)


def _sticky_key(
    header: str | None, field: str | None, request: InferenceRequest, headers: HeaderLookup | None
) -> str | None:
    """The request's sticky key: the header, else the request parameter, else the first element
    of a one-row input of that name (None when there is none: a random variant)."""
    if header is not None and headers is not None:
        value = headers(header)
        if value:
            return value
    if field is None:
        return None
    parameter = request.parameters.get(field)
    if isinstance(parameter, str | int) and not isinstance(parameter, bool):
        return str(parameter)
    for tensor in request.inputs:
        if tensor.name == field and tensor.data.size >= 1:
            first = tensor.data.reshape(-1)[0]
            if isinstance(first, bytes):
                return first.decode("utf-8", "replace")
            return str(first.item() if hasattr(first, "item") else first)
    return None
