"""An endpoint as a server serves it: its variants resolved to versions, its pipeline parsed.

The reconciler compiles every stored endpoint against the model routes it is about to install
(aliases already moved to versions that loaded), and swaps both in one routing table, so a request
sees either the old endpoint state or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from berth.core.endpoints import Endpoint, StickyKey, TargetRef
from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.runtime.pipeline import Pipeline, parse_pipeline
from berth.runtime.traffic import CANARY, SHADOW, STABLE, TrafficSplit, Variant

Resolver = Callable[[str, str | None], Version]
"""The version a model reference is served by (the routing table's `resolve`)."""


@dataclass(frozen=True, slots=True)
class EndpointRoute:
    """A servable endpoint. `problem` is set when it cannot serve (a target that no longer
    resolves, e.g. its alias was deleted); requests then get UNAVAILABLE with that reason."""

    endpoint: Endpoint
    split: TrafficSplit | None
    pipeline: Pipeline | None
    problem: str | None = None
    versions: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def sticky(self) -> StickyKey | None:
        return self.endpoint.spec.sticky

    def serving(self) -> tuple[TrafficSplit, Pipeline]:
        """The split and pipeline, or UNAVAILABLE when the endpoint cannot serve."""
        if self.split is None or self.pipeline is None:
            raise BerthError(
                ErrorCode.UNAVAILABLE,
                f"endpoint {self.name!r} cannot serve: {self.problem}",
                endpoint=self.name,
            )
        return self.split, self.pipeline


def compile_endpoint(endpoint: Endpoint, resolve: Resolver) -> EndpointRoute:
    """Resolve every target of `endpoint` and parse its pipeline; a failure gives a route with a problem."""
    spec = endpoint.spec
    try:
        stable = [(_variant(t.target, resolve, STABLE), t.weight) for t in spec.targets]
        canary = _variant(spec.canary.target, resolve, CANARY) if spec.canary is not None else None
        shadows = [(_variant(s.target, resolve, SHADOW), s.fraction) for s in spec.shadows]
        split = TrafficSplit.build(
            stable, canary, spec.canary.weight if spec.canary is not None else 0.0, shadows
        )
        pipeline = parse_pipeline(spec.pipeline)
        custom = [_variant(TargetRef.parse(ref), resolve, "step") for ref in pipeline.custom_refs()]
    except BerthError as exc:
        return EndpointRoute(endpoint, None, None, problem=exc.message)
    keys = frozenset((v.version.model, v.version.number) for v in [*split.variants(), *custom])
    return EndpointRoute(endpoint, split, pipeline, versions=keys)


def _variant(target: TargetRef, resolve: Resolver, role: str) -> Variant:
    try:
        version = resolve(target.model, target.reference)
    except BerthError as exc:
        raise BerthError(exc.code, f"target {target}: {exc.message}") from None
    return Variant(str(target), target, version, role)


def referenced_models(endpoint: Endpoint) -> set[str]:
    """The models an endpoint calls: its targets, canary, shadows and custom steps."""
    refs = set(endpoint.spec.referenced())
    with contextlib.suppress(BerthError):  # an invalid pipeline is reported by compile_endpoint
        refs.update(TargetRef.parse(r) for r in parse_pipeline(endpoint.spec.pipeline).custom_refs())
    return {ref.model for ref in refs}


def pinned_targets(endpoints: Mapping[str, Endpoint]) -> set[TargetRef]:
    """The targets and custom steps endpoints name by version number (aliases are loaded with their
    models)."""
    refs: set[TargetRef] = set()
    for endpoint in endpoints.values():
        refs.update(endpoint.spec.referenced())
        with contextlib.suppress(BerthError):  # an invalid pipeline is reported by compile_endpoint
            refs.update(TargetRef.parse(r) for r in parse_pipeline(endpoint.spec.pipeline).custom_refs())
    return {ref for ref in refs if ref.version is not None}
