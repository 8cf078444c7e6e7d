"""Managing endpoints: every change is checked against the registry before it is stored.

An invalid change never reaches serving: targets must name existing models, versions and aliases
(not other endpoints: no cycles), the pipeline must parse, custom steps must be pushed pyfunc
versions. And every change is made *by* someone (`caller`): every model and entity table the new
spec references must be one that principal may predict with (`berth.control.endpoint_references`),
checked at every change, whoever made the endpoint; moving an endpoint to another team needs the
maintainer role there too (the route that calls the service checks the role in the source team).
The REST API, the CLI's embedded mode and the canary controller all change endpoints through
`EndpointService`, so they share these checks and the history they leave.

Rollback (``berth endpoint rollback NAME``): with a canary running, the canary is removed; else
the spec before the newest change of the stable traffic (anything but starting, raising or
removing a canary; a promotion counts) is put back, as a new revision, without a canary. Like
``kubectl rollout undo``, a second rollback undoes the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from berth.control.endpoint_references import PLATFORM_CALLER, References
from berth.core.access import Action, Principal, Resource, authorize
from berth.core.endpoints import (
    CanaryPolicy,
    Endpoint,
    EndpointChange,
    EndpointEvent,
    EndpointSpec,
    TargetRef,
    WeightedTarget,
)
from berth.core.errors import BerthError, ErrorCode
from berth.runtime.pipeline import parse_pipeline
from berth.storage.feature_protocols import FeatureViewStore
from berth.storage.protocols import EndpointStore, EntityStore, RegistryStore

PYFUNC = "pyfunc"
_CANARY_ONLY = frozenset(
    {EndpointChange.CANARY_START, EndpointChange.CANARY_STEP, EndpointChange.CANARY_ROLLBACK}
)
"""Changes that leave the stable traffic as it was: a rollback looks past them."""


class EndpointService:
    def __init__(
        self,
        registry: RegistryStore,
        store: EndpointStore,
        entities: EntityStore,
        *,
        views: FeatureViewStore | None = None,
    ) -> None:
        self._registry = registry
        self._store = store
        self._references = References(registry, store, entities, views)

    # -- reading ------------------------------------------------------------------------------
    def get(self, name: str) -> Endpoint:
        return self._store.get_endpoint(name)

    def list_all(self) -> list[Endpoint]:
        return self._store.list_endpoints()

    def history(self, name: str) -> list[EndpointEvent]:
        return self._store.endpoint_history(name)

    # -- changing -----------------------------------------------------------------------------
    def create(
        self,
        name: str,
        spec_json: Mapping[str, Any],
        *,
        caller: Principal,
        team: str = "default",
        description: str = "",
        actor: str = "",
        reason: str = "",
    ) -> Endpoint:
        spec = self.validate(_started(EndpointSpec.from_json(dict(spec_json)), None), caller=caller)
        return self._store.create_endpoint(
            name, spec, team=team, description=description, actor=actor, reason=reason
        )

    def replace(
        self,
        name: str,
        spec_json: Mapping[str, Any],
        *,
        caller: Principal,
        expected_revision: int | None = None,
        description: str | None = None,
        team: str | None = None,
        actor: str = "",
        reason: str = "",
    ) -> Endpoint:
        """Store a whole new spec (targets, weights, sticky key, canary, shadows, pipeline); with
        `team`, move the endpoint there (the maintainer role in that team, which must exist)."""
        current = self._store.get_endpoint(name)
        if team is not None and team != current.team:
            authorize(caller, Action.ENDPOINT, Resource.of_team(team))
        spec = self.validate(_started(EndpointSpec.from_json(dict(spec_json)), current.spec), caller=caller)
        return self._store.update_endpoint(
            name,
            spec,
            expected_revision=expected_revision,
            description=description,
            team=team,
            actor=actor,
            reason=reason,
        )

    def set_weights(
        self,
        name: str,
        weights: Mapping[str, float],
        *,
        caller: Principal,
        actor: str = "",
        reason: str = "",
    ) -> Endpoint:
        """Change the weights of existing targets, add targets (a new name) or remove them (weight
        None is not allowed: use `replace` to drop one)."""
        current = self._store.get_endpoint(name)
        targets = {str(t.target): t for t in current.spec.targets}
        for text, weight in weights.items():
            ref = TargetRef.parse(text)
            targets[str(ref)] = WeightedTarget(ref, weight)
        body = current.spec.to_json() | {
            "targets": [{"target": str(t.target), "weight": t.weight} for t in targets.values()]
        }
        return self.replace(
            name, body, caller=caller, expected_revision=current.revision, actor=actor, reason=reason
        )

    def start_canary(
        self,
        name: str,
        canary_json: Mapping[str, Any],
        *,
        caller: Principal,
        actor: str = "",
        reason: str = "",
    ) -> Endpoint:
        current = self._store.get_endpoint(name)
        if current.spec.canary is not None:
            raise BerthError(
                ErrorCode.CONFLICT,
                f"endpoint {name!r} already has a canary ({current.spec.canary.target}); "
                "roll it back or promote it first",
                endpoint=name,
            )
        body = current.spec.to_json() | {"canary": {**dict(canary_json), "step": 0, "step_started_at": None}}
        spec = self.validate(_started(EndpointSpec.from_json(body), current.spec), caller=caller)
        return self._store.update_endpoint(
            name,
            spec,
            expected_revision=current.revision,
            kind=EndpointChange.CANARY_START,
            actor=actor,
            reason=reason,
        )

    def advance_canary(self, endpoint: Endpoint, *, actor: str, reason: str) -> Endpoint:
        """The canary's next step, or its promotion after the last (the canary becomes the only
        target). CONFLICT when `endpoint` is stale (another replica moved it first)."""
        canary = _canary_of(endpoint)
        if canary.last_step:
            return self.promote(
                endpoint.name, caller=PLATFORM_CALLER, expected=endpoint, actor=actor, reason=reason
            )
        spec = replace(
            endpoint.spec, canary=replace(canary, step=canary.step + 1, step_started_at=datetime.now(UTC))
        )
        return self._store.update_endpoint(
            endpoint.name,
            spec,
            expected_revision=endpoint.revision,
            kind=EndpointChange.CANARY_STEP,
            actor=actor,
            reason=reason,
        )

    def promote(
        self,
        name: str,
        *,
        caller: Principal | None,
        expected: Endpoint | None = None,
        actor: str = "",
        reason: str = "",
    ) -> Endpoint:
        """Make the canary the endpoint's only target (weight 100). `caller` None: the canary
        controller, finishing a canary that a principal started (and was checked for)."""
        current = expected or self._store.get_endpoint(name)
        canary = _canary_of(current)
        spec = replace(current.spec, targets=(WeightedTarget(canary.target, 100.0),), canary=None)
        self.validate(spec, caller=caller)
        return self._store.update_endpoint(
            current.name,
            spec,
            expected_revision=current.revision,
            kind=EndpointChange.CANARY_PROMOTE,
            actor=actor,
            reason=reason,
        )

    def abort_canary(
        self, name: str, *, expected: Endpoint | None = None, actor: str = "", reason: str = ""
    ) -> Endpoint:
        """Remove the canary: all traffic back to the stable targets."""
        current = expected or self._store.get_endpoint(name)
        _canary_of(current)
        return self._store.update_endpoint(
            current.name,
            current.spec.without_canary(),
            expected_revision=current.revision,
            kind=EndpointChange.CANARY_ROLLBACK,
            actor=actor,
            reason=reason,
        )

    def rollback(self, name: str, *, caller: Principal, actor: str = "", reason: str = "") -> Endpoint:
        """Undo the newest change: remove a running canary, else put the previous spec back."""
        current = self._store.get_endpoint(name)
        if current.spec.canary is not None:
            return self.abort_canary(name, expected=current, actor=actor, reason=reason or "rollback")
        events = [e for e in self._store.endpoint_history(name) if e.kind not in _CANARY_ONLY]
        last = events[-1] if events else None
        if last is None or last.spec_before is None:
            raise BerthError(
                ErrorCode.CONFLICT,
                f"endpoint {name!r} has no earlier state to roll back to",
                endpoint=name,
            )
        spec = self.validate(last.spec_before.without_canary(), caller=caller)
        return self._store.update_endpoint(
            name,
            spec,
            expected_revision=current.revision,
            kind=EndpointChange.ROLLBACK,
            actor=actor,
            reason=reason or f"rollback of revision {current.revision}",
        )

    def delete(self, name: str, *, actor: str = "", reason: str = "") -> EndpointEvent:
        return self._store.delete_endpoint(name, actor=actor, reason=reason)

    # -- checking -----------------------------------------------------------------------------
    def validate(self, spec: EndpointSpec, *, caller: Principal | None) -> EndpointSpec:
        """`spec`, once every target exists and `caller` may predict with it, the pipeline parses,
        its custom steps are pyfunc versions `caller` may predict with and its lookup tables are
        ones `caller` may read (INVALID_ENDPOINT / INVALID_PIPELINE otherwise; `caller` None: the
        platform itself, existence only)."""
        for ref in spec.referenced():
            self._references.model(caller, ref, what="target", code=ErrorCode.INVALID_ENDPOINT)
        pipeline = parse_pipeline(spec.pipeline)
        for custom in pipeline.custom_refs():
            ref = TargetRef.parse(custom)
            version = self._references.model(caller, ref, what="custom step", code=ErrorCode.INVALID_PIPELINE)
            if version.flavor != PYFUNC:
                raise BerthError(
                    ErrorCode.INVALID_PIPELINE,
                    f"custom step {custom!r} is a {version.flavor} model; custom steps are pyfunc packages",
                )
        for table in pipeline.lookup_tables():
            self._references.entity_table(caller, table)
        for view in pipeline.feature_views():
            self._references.feature_view(caller, view)
        return spec

    def feature_view_readers(self, view: str) -> list[str]:
        """The endpoints whose pipeline reads feature view `view`."""
        return sorted(
            e.name
            for e in self._store.list_endpoints()
            if view in parse_pipeline(e.spec.pipeline).feature_views()
        )


def _canary_of(endpoint: Endpoint) -> CanaryPolicy:
    if endpoint.spec.canary is None:
        raise BerthError(
            ErrorCode.CONFLICT, f"endpoint {endpoint.name!r} has no canary", endpoint=endpoint.name
        )
    return endpoint.spec.canary


def _started(spec: EndpointSpec, before: EndpointSpec | None) -> EndpointSpec:
    """A new canary (none before, or another target or steps) starts at its first step now; the
    same canary carries on where it is (a spec stored again does not restart it)."""
    canary = spec.canary
    if canary is None:
        return spec
    running = before.canary if before is not None else None
    if running is not None and running.target == canary.target and running.steps == canary.steps:
        return replace(
            spec, canary=replace(canary, step=running.step, step_started_at=running.step_started_at)
        )
    return replace(spec, canary=replace(canary, step=0, step_started_at=datetime.now(UTC)))
