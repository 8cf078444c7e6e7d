"""The endpoint API (``/api/v1/endpoints``) and the entity-feature API (``/api/v1/entities``).

Every change goes through `EndpointService` (checked against the registry, stored as a new
revision with its history); this server then reconciles at once, and other servers follow within
their poll interval (at once on PostgreSQL, through LISTEN/NOTIFY).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request

from berth.control.endpoints import EndpointService
from berth.core.access import SERVER, Action, Principal, Resource, allowed, authorize
from berth.core.endpoints import Endpoint
from berth.core.errors import BerthError, ErrorCode
from berth.runtime.compiled_endpoints import EndpointRoute
from berth.runtime.reconciler import Reconciler
from berth.runtime.traffic import Variant
from berth.runtime.variant_stats import TrafficStats
from berth.server.auth.permissions import (
    Guard,
    ResourceOf,
    model_from_path,
    request_guard,
    requires,
    team_in_body,
)
from berth.server.rest.endpoint_schemas import (
    CanaryStart,
    Change,
    EndpointCreate,
    EndpointReplace,
    EntitiesPut,
    WeightsBody,
)
from berth.server.rest.route_calls import in_thread, serve_change
from berth.storage.protocols import EntityStore

T = TypeVar("T")
Caller = Annotated[Principal, requires(Action.ENDPOINT, model_from_path)]
"""A maintainer of the endpoint's team (endpoints and models share names: ``{name}`` is either)."""
_READ = [requires(Action.READ, model_from_path)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    404: {"description": "not found"},
    409: {"description": "conflict"},
}


def endpoint_router(
    service: EndpointService, entities: EntityStore, reconciler: Reconciler, stats: TrafficStats
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["endpoints"], responses=_ERRORS)

    call = in_thread

    async def changed(endpoint: Endpoint, request: Request) -> dict[str, Any]:
        """Serve the change here at once, and let the access table know the endpoint (and its team)
        before the response, so the caller's next request is authorized against it."""
        await serve_change(reconciler, request)
        return view(endpoint)

    def view(endpoint: Endpoint) -> dict[str, Any]:
        route = reconciler.table.endpoints.get(endpoint.name)
        return endpoint.to_json() | {"serving": _serving(route)}

    # -- endpoints ----------------------------------------------------------------------------
    @router.get("/endpoints", summary="The endpoints the caller may read, with what this server serves")
    async def list_endpoints(
        request: Request, caller: Annotated[Principal, requires(Action.CONNECT)]
    ) -> list[dict[str, Any]]:
        guard = request_guard(request)
        return [view(e) for e in await call(service.list_all) if await guard.may(caller, Action.READ, e.name)]

    @router.post("/endpoints", status_code=201, summary="Create an endpoint (in the body's team)")
    async def create_endpoint(
        request: Request,
        body: EndpointCreate,
        caller: Annotated[Principal, requires(Action.ENDPOINT, team_in_body)],
    ) -> dict[str, Any]:
        endpoint = await call(
            service.create,
            body.name,
            body.spec_json(),
            caller=caller,
            team=body.team,
            description=body.description,
            actor=_actor(caller, body.actor),
            reason=body.reason,
        )
        return await changed(endpoint, request)

    @router.get(
        "/endpoints/{name}",
        summary="An endpoint: its spec, revision and what this server serves",
        dependencies=_READ,
    )
    async def get_endpoint(name: str) -> dict[str, Any]:
        return view(await call(service.get, name))

    @router.put("/endpoints/{name}", summary="Replace an endpoint's spec (a new revision)")
    async def replace_endpoint(
        request: Request, name: str, body: EndpointReplace, caller: Caller
    ) -> dict[str, Any]:
        if body.team is not None:  # a move: a missing team is refused here (400), never created
            authorize(caller, Action.ENDPOINT, request_guard(request).team(body.team))
        endpoint = await call(
            service.replace,
            name,
            body.spec_json(),
            caller=caller,
            expected_revision=body.expected_revision,
            description=body.description,
            team=body.team,
            actor=_actor(caller, body.actor),
            reason=body.reason,
        )
        return await changed(endpoint, request)

    @router.patch("/endpoints/{name}/weights", summary="Change target weights (a new target is added)")
    async def set_weights(request: Request, name: str, body: WeightsBody, caller: Caller) -> dict[str, Any]:
        actor = _actor(caller, body.actor)
        endpoint = await call(
            service.set_weights, name, body.weights, caller=caller, actor=actor, reason=body.reason
        )
        return await changed(endpoint, request)

    @router.post(
        "/endpoints/{name}/canary", summary="Start a canary (raised step by step, rolled back if bad)"
    )
    async def start_canary(request: Request, name: str, body: CanaryStart, caller: Caller) -> dict[str, Any]:
        endpoint = await call(
            service.start_canary,
            name,
            body.canary_json(),
            caller=caller,
            actor=_actor(caller, body.actor),
            reason=body.reason,
        )
        return await changed(endpoint, request)

    @router.delete("/endpoints/{name}/canary", summary="Remove the canary: all traffic to the stable targets")
    async def abort_canary(
        request: Request,
        name: str,
        caller: Caller,
        actor: Annotated[str, Query(max_length=256)] = "",
        reason: Annotated[str, Query(max_length=1024)] = "",
    ) -> dict[str, Any]:
        endpoint = await call(service.abort_canary, name, actor=_actor(caller, actor), reason=reason)
        return await changed(endpoint, request)

    @router.post("/endpoints/{name}/promote", summary="Make the canary the only target now")
    async def promote(request: Request, name: str, body: Change, caller: Caller) -> dict[str, Any]:
        actor = _actor(caller, body.actor)
        promoted = await call(service.promote, name, caller=caller, actor=actor, reason=body.reason)
        return await changed(promoted, request)

    @router.post("/endpoints/{name}/rollback", summary="Undo the newest change (a running canary first)")
    async def rollback(request: Request, name: str, body: Change, caller: Caller) -> dict[str, Any]:
        actor = _actor(caller, body.actor)
        rolled_back = await call(service.rollback, name, caller=caller, actor=actor, reason=body.reason)
        return await changed(rolled_back, request)

    @router.delete("/endpoints/{name}", summary="Delete an endpoint (its history stays)")
    async def delete_endpoint(
        request: Request,
        name: str,
        caller: Annotated[Principal, requires(Action.DELETE, model_from_path)],
        actor: Annotated[str, Query(max_length=256)] = "",
        reason: Annotated[str, Query(max_length=1024)] = "",
    ) -> dict[str, Any]:
        event = await call(service.delete, name, actor=_actor(caller, actor), reason=reason)
        await serve_change(reconciler, request)
        return event.to_json()

    @router.get(
        "/endpoints/{name}/history", summary="Every change of an endpoint, oldest first", dependencies=_READ
    )
    async def history(name: str) -> list[dict[str, Any]]:
        return [e.to_json() for e in await call(service.history, name)]

    @router.get(
        "/endpoints/{name}/stats",
        summary="Per-variant requests, errors and latency on this server",
        dependencies=_READ,
    )
    async def endpoint_stats(
        name: str, window_s: Annotated[float, Query(gt=0, le=900, description="the recent window")] = 60.0
    ) -> dict[str, Any]:
        route = reconciler.table.endpoints.get(name)
        if route is None:
            raise BerthError(ErrorCode.ENDPOINT_NOT_FOUND, f"endpoint {name!r} not found", endpoint=name)
        return {
            "endpoint": name,
            "revision": route.endpoint.revision,
            "window_s": window_s,
            "scope": "this server (each replica counts its own requests)",
            "variants": stats.report(name, window_s),
            "serving": _serving(route),
        }

    # -- entity features ----------------------------------------------------------------------
    table_from_path, table_to_write = _entity_resources(entities)

    @router.get("/entities", summary="The entity tables the caller may read, with their number of keys")
    async def entity_tables(caller: Annotated[Principal, requires(Action.CONNECT)]) -> dict[str, int]:
        owners = await call(entities.entity_table_owners)
        counts = await call(entities.entity_tables)
        return {
            table: counts.get(table, 0)
            for table, owner in sorted(owners.items())
            if caller.admin or allowed(caller, Action.READ, Resource.entity_table(table, owner))
        }

    @router.put(
        "/entities/{table}",
        summary="Insert or replace entities' features (at most 10,000 a call; a new table: the body's team)",
        dependencies=[requires(Action.UPDATE, table_to_write)],
    )
    async def put_entities(table: str, body: EntitiesPut) -> dict[str, int]:
        return {"written": await call(entities.put_entities, table, body.entities, team=body.team)}

    @router.get(
        "/entities/{table}/{key}",
        summary="One entity's features",
        dependencies=[requires(Action.READ, table_from_path)],
    )
    async def get_entity(table: str, key: str) -> dict[str, Any]:
        found = await call(entities.get_entities, table, [key])
        if key not in found:
            raise BerthError(ErrorCode.ENTITY_NOT_FOUND, f"no entity {key!r} in {table!r}", table=table)
        return {"table": table, "key": key, "features": found[key]}

    @router.delete(
        "/entities/{table}/{key}",
        summary="Remove one entity's features",
        dependencies=[requires(Action.UPDATE, table_from_path)],
    )
    async def delete_entity(table: str, key: str) -> dict[str, bool]:
        return {"deleted": await call(entities.delete_entity, table, key)}

    return router


def _entity_resources(entities: EntityStore) -> tuple[ResourceOf, ResourceOf]:
    """The entity table named by the ``{table}`` path parameter; and what writing it needs: the
    table when it exists, else the team the body names (a new table), else the platform."""

    async def table_from_path(guard: Guard, request: Request) -> Resource:
        table = str(request.path_params["table"])
        return Resource.entity_table(table, await in_thread(entities.entity_table_owner, table))

    async def table_to_write(guard: Guard, request: Request) -> Resource:
        resource = await table_from_path(guard, request)
        if resource.team is not None:
            return resource
        try:
            body = await request.json()
        except ValueError:
            body = {}
        team = body.get("team") if isinstance(body, dict) else None
        return guard.team(team) if isinstance(team, str) and team else SERVER

    return table_from_path, table_to_write


def _actor(caller: Principal, said: str) -> str:
    """Who made a change: the authenticated principal; what the body says only without auth."""
    return caller.name if caller.authenticated else said


def _serving(route: EndpointRoute | None) -> dict[str, Any] | None:
    """What this server routes the endpoint to now (None: not reconciled yet)."""
    if route is None:
        return None
    if route.split is None:
        return {"revision": route.endpoint.revision, "problem": route.problem, "variants": []}
    split = route.split
    variants: list[dict[str, Any]] = []
    stable_share = 1.0 - split.canary_share
    previous = 0.0
    for variant, bound in zip(split.stable, split.bounds, strict=True):
        variants.append(_variant(variant, "stable", (bound - previous) * stable_share))
        previous = bound
    variants.extend(_variant(v, "stable", 0.0) for v in split.idle)
    if split.canary is not None:
        variants.append(_variant(split.canary, "canary", split.canary_share))
    variants.extend(_variant(v, "shadow", fraction, copy=True) for v, fraction in split.shadows)
    return {"revision": route.endpoint.revision, "problem": route.problem, "variants": variants}


def _variant(variant: Variant, role: str, share: float, *, copy: bool = False) -> dict[str, Any]:
    return {
        "target": variant.name,
        "role": role,
        "model": variant.version.model,
        "version": variant.version.number,
        "copied_share" if copy else "share": round(share, 6),
    }
