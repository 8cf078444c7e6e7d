"""What an endpoint may reference: only what the principal changing it may call itself.

An endpoint calls its targets, canary, shadows and custom steps, and reads its lookup steps'
entity tables, for whoever may call the endpoint. So whoever creates or changes an endpoint must
hold `Action.PREDICT` on every model and entity table its spec names, decided by the one
`berth.core.access.authorize`, *as that principal*, at every change (a grant to the endpoint is
then a grant to what it references, as its creator chose).

That right must come from a role in the owning team (or platform administration), never from an
endpoint grant: a grant lets a team call a model, not re-expose it behind an endpoint of its own,
which its whole team, and every team it grants that endpoint to, could then call (a grant would
become transitive without the owner's consent).

A reference the principal may not use and a reference to nothing get the same answer (same code,
same message): an endpoint spec is no oracle for other teams' names. Only once a model is usable
are its versions and aliases resolved, so their errors tell nothing about hidden models either.
"""

from __future__ import annotations

from dataclasses import replace

from berth.core.access import Action, Principal, Resource, authorize
from berth.core.endpoints import TargetRef
from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.storage.feature_protocols import FeatureViewStore
from berth.storage.protocols import EndpointStore, EntityStore, RegistryStore

_HIDDEN = frozenset(
    {
        ErrorCode.FORBIDDEN,
        ErrorCode.MODEL_NOT_FOUND,
        ErrorCode.ENDPOINT_NOT_FOUND,
        ErrorCode.ENTITY_TABLE_NOT_FOUND,
    }
)
_MISSING_IN_MODEL = (ErrorCode.VERSION_NOT_FOUND, ErrorCode.ALIAS_NOT_FOUND)

PLATFORM_CALLER = None
"""The `caller` of a change the platform makes itself (the canary controller promoting a canary
that a principal started): only existence is checked."""


class References:
    """Checks each reference of an endpoint spec for the principal making the change."""

    def __init__(
        self,
        registry: RegistryStore,
        endpoints: EndpointStore,
        entities: EntityStore,
        views: FeatureViewStore | None = None,
    ) -> None:
        self._registry = registry
        self._endpoints = endpoints
        self._entities = entities
        self._views = views

    def model(self, caller: Principal | None, ref: TargetRef, *, what: str, code: ErrorCode) -> Version:
        """The version `ref` names, once `caller` may predict with its model; `code` (with one
        message for a missing and a forbidden model) otherwise. A model name that is an endpoint
        is refused too: an endpoint cannot call an endpoint (no cycles)."""
        endpoint_team = self._endpoint_team(ref.model)
        team = endpoint_team if endpoint_team is not None else self._model_team(ref.model)
        self._authorize(caller, Resource.model(ref.model, team), unusable=_unusable_model(ref, what, code))
        if endpoint_team is not None:
            raise BerthError(
                code,
                f"{what} {ref}: {ref.model!r} is an endpoint; targets must be models "
                "(an endpoint cannot call an endpoint, so there are no cycles)",
            )
        try:
            return self._registry.resolve(ref.model, ref.reference)
        except BerthError as exc:
            if exc.code in _MISSING_IN_MODEL:
                raise BerthError(code, f"{what} {ref}: {exc.message}") from None
            if exc.code is ErrorCode.MODEL_NOT_FOUND:  # deleted a moment ago
                raise _unusable_model(ref, what, code) from None
            raise

    def entity_table(self, caller: Principal | None, table: str) -> None:
        """Return once `caller` may read `table` through a lookup step; INVALID_PIPELINE (one
        message for a missing and a forbidden table) otherwise."""
        unusable = BerthError(
            ErrorCode.INVALID_PIPELINE,
            f"lookup step: entity table {table!r} not found, or the caller may not read it "
            "(needs the predictor role in the team that owns it)",
            table=table,
        )
        try:
            owner = self._entities.entity_table_owner(table)
        except BerthError as exc:
            if exc.code is ErrorCode.INVALID_NAME:
                raise unusable from None
            raise
        self._authorize(caller, Resource.entity_table(table, owner), unusable=unusable)

    def feature_view(self, caller: Principal | None, name: str) -> None:
        """Return once `name` is a feature view `caller` may reference (PREDICT on it, from a role
        in the team that owns it: the endpoint's team then reads through it); INVALID_PIPELINE
        (one message for a missing and a forbidden view) otherwise."""
        unusable = BerthError(
            ErrorCode.INVALID_PIPELINE,
            f"features step: feature view {name!r} not found, or the caller may not read it "
            "(needs the predictor role in the team that owns it)",
            view=name,
        )
        try:
            view = None if self._views is None else self._views.get_view(name)
        except BerthError as exc:
            if exc.code is ErrorCode.INVALID_NAME:
                raise unusable from None
            raise
        self._authorize(
            caller, Resource.entity_table(name, None if view is None else view.team), unusable=unusable
        )

    # -- owners -------------------------------------------------------------------------------
    def _endpoint_team(self, name: str) -> str | None:
        try:
            return self._endpoints.get_endpoint(name).team
        except BerthError as exc:
            if exc.code is ErrorCode.ENDPOINT_NOT_FOUND:
                return None
            raise

    def _model_team(self, name: str) -> str | None:
        try:
            return self._registry.get_model(name).team
        except BerthError as exc:
            if exc.code is ErrorCode.MODEL_NOT_FOUND:
                return None
            raise

    @staticmethod
    def _authorize(caller: Principal | None, resource: Resource, *, unusable: BerthError) -> None:
        if resource.team is None:
            raise unusable
        if caller is PLATFORM_CALLER:
            return
        try:
            authorize(replace(caller, granted=frozenset()), Action.PREDICT, resource)
        except BerthError as exc:
            if exc.code in _HIDDEN:
                raise unusable from None
            raise


def _unusable_model(ref: TargetRef, what: str, code: ErrorCode) -> BerthError:
    return BerthError(
        code,
        f"{what} {ref}: model {ref.model!r} not found, or the caller may not predict with it "
        "(needs the predictor role in the team that owns it)",
        model=ref.model,
    )
