"""What every REST route declares: the action it does and on what, or that it is public.

Each FastAPI route carries exactly one declaration among its dependencies::

    @router.get("/models/{name}", dependencies=[requires(Action.READ, model_from_path)])
    @router.post("/models/{name}/versions")
    async def push(name: str, principal: Annotated[Principal, requires(Action.PUSH, model_from_path)]):
    @router.get("/v2/health/live", dependencies=[public()])

`requires` reads the principal the auth layer (`berth.server.auth.asgi_layer`) put in the request's
scope, finds the resource (its owning team from the in-memory access table) and calls
`berth.core.access.authorize`, the one place where the decision is made. The app refuses to start
when a route has no declaration (`check_routes_declared`), and the route-table test checks that
every declared route refuses requests without valid credentials.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Final

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from berth.core.access import ANONYMOUS, SERVER, Action, Principal, Resource, allowed, authorize
from berth.core.audit import AuditContext, set_audit_context
from berth.core.errors import BerthError, ErrorCode
from berth.core.request_ids import current_request_id
from berth.server.auth.access_cache import AccessCache, unauthenticated

PRINCIPAL_KEY: Final = "berth.principal"
"""Where the auth layer puts the request's `Principal` in the ASGI scope."""
GUARD_KEY: Final = "berth.guard"
"""Where the auth layer puts the server's `Guard` in the ASGI scope."""
PERMISSION_ATTRIBUTE: Final = "__berth_permission__"
PUBLIC_ATTRIBUTE: Final = "__berth_public__"

CURRENT_PRINCIPAL: ContextVar[Principal | None] = ContextVar("berth_principal", default=None)
"""The principal of the current gRPC call (set by its interceptor)."""


class Guard:
    """Authorization against the in-memory access table: resources are found without the database."""

    def __init__(self, cache: AccessCache | None) -> None:
        self.cache = cache
        self._models: dict[tuple[str, str, bool], Resource] = {}

    async def model(self, name: str) -> Resource:
        """The model or endpoint `name` (its team None when it does not exist), discoverable as
        the access table says."""
        if self.cache is None:
            return Resource.model(name, None)
        team = await self.cache.model_team_fresh(name)
        if team is None:
            return Resource.model(name, None)
        return self._resource(name, team, self.cache.discoverable(name))

    def _resource(self, name: str, team: str, discoverable: bool) -> Resource:
        key = (name, team, discoverable)
        resource = self._models.get(key)  # models that exist: a bounded set
        if resource is None:
            if len(self._models) > 100_000:
                self._models.clear()
            resource = self._models[key] = Resource.model(name, team, discoverable=discoverable)
        return resource

    def team(self, name: str) -> Resource:
        exists = self.cache is None or self.cache.team_exists(name)
        return Resource.of_team(name, exists=exists)

    def check_known_model(self, principal: Principal, action: Action, name: str) -> bool:
        """True when `principal` may do `action` on the model `name` by the current access table
        (one look-up: the hot path); False when it must be decided by `check_model`, which raises
        the precise error, or reloads the table for a model it does not know yet."""
        return principal is ANONYMOUS or (
            self.cache is not None and name in self.cache.allowed_models(principal, action)
        )

    async def check_model(self, principal: Principal, action: Action, name: str) -> None:
        if not self.check_known_model(principal, action, name):
            await self.authorize(principal, action, await self.model(name))

    async def authorize(self, principal: Principal, action: Action, resource: Resource) -> None:
        """`berth.core.access.authorize`, where a resource hidden from `principal` costs what a
        missing one does: looking a missing name up reloads the access table (rate-limited), so an
        existing name answered NOT_FOUND reloads it too, or the answer's timing would tell an
        outsider that a private name exists."""
        try:
            authorize(principal, action, resource)
        except BerthError as error:
            hidden = error.code is not ErrorCode.FORBIDDEN and resource.team is not None
            if hidden and self.cache is not None:
                await self.cache.reload_if_due()
            raise

    async def may(self, principal: Principal, action: Action, model: str) -> bool:
        """Whether `principal` may do `action` on `model` (for filtering lists)."""
        return (
            principal is ANONYMOUS or principal.admin or allowed(principal, action, await self.model(model))
        )

    async def refresh(self) -> None:
        if self.cache is not None:
            await self.cache.refresh()


ResourceOf = Callable[[Guard, Request], Awaitable[Resource]]


async def server_resource(guard: Guard, request: Request) -> Resource:
    return SERVER


async def model_from_path(guard: Guard, request: Request) -> Resource:
    """The model named by the ``{name}`` path parameter."""
    return await guard.model(str(request.path_params["name"]))


async def team_from_path(guard: Guard, request: Request) -> Resource:
    """The team named by the ``{team}`` path parameter."""
    return guard.team(str(request.path_params["team"]))


async def team_in_body(guard: Guard, request: Request) -> Resource:
    """The team named by the JSON body's ``team`` field (default 'default'): creating a model in it."""
    try:
        body = await request.json()
    except ValueError:
        body = {}
    team = body.get("team") if isinstance(body, dict) else None
    return guard.team(team if isinstance(team, str) and team else "default")


async def push_target(guard: Guard, request: Request) -> Resource:
    """A push's model when it exists; else the team the upload's metadata names (a new model).

    The upload is read only when it may be accepted: an existing model is authorized from the path
    alone, and a caller who may push to no team is refused (as for the default team) unread."""
    resource = await guard.model(str(request.path_params["name"]))
    if resource.team is not None:
        return resource
    principal = request.scope.get(PRINCIPAL_KEY)
    may_push = isinstance(principal, Principal) and (
        principal.admin or any(allowed(principal, Action.PUSH, guard.team(t)) for t in principal.roles)
    )
    if isinstance(principal, Principal) and not may_push:
        return guard.team("default")
    form = await request.form(max_files=1, max_fields=8)
    raw = form.get("metadata")
    try:
        metadata = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        metadata = {}
    team = metadata.get("team") if isinstance(metadata, dict) else None
    return guard.team(team if isinstance(team, str) and team else "default")


def request_principal(request: Request) -> Principal:
    principal = request.scope.get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        raise unauthenticated("missing credentials: send 'Authorization: Bearer <token>'")
    return principal


def request_guard(request: Request) -> Guard:
    guard = request.scope.get(GUARD_KEY)
    if not isinstance(guard, Guard):
        raise BerthError(ErrorCode.INTERNAL, "the auth layer is missing")
    return guard


def requires(action: Action, resource: ResourceOf = server_resource) -> Any:
    """A route dependency: the request's principal, once it may do `action` on `resource`."""

    async def permission(request: Request) -> Principal:
        principal = request_principal(request)
        if principal is not ANONYMOUS:
            guard = request_guard(request)
            await guard.authorize(principal, action, await resource(guard, request))
            # who acts in this request, for the audit events its changes write (same task)
            set_audit_context(AuditContext(principal.name, current_request_id()))
        return principal

    setattr(permission, PERMISSION_ATTRIBUTE, (action, resource))
    return Depends(permission)


def public() -> Any:
    """A route dependency declaring the route open to everyone (liveness and readiness probes)."""

    async def open_route() -> None:
        return None

    setattr(open_route, PUBLIC_ATTRIBUTE, True)
    return Depends(open_route)


def _declarations(dependant: Dependant) -> list[Any]:
    found = []
    for dependency in dependant.dependencies:
        call = dependency.call
        if hasattr(call, PERMISSION_ATTRIBUTE) or hasattr(call, PUBLIC_ATTRIBUTE):
            found.append(call)
        found.extend(_declarations(dependency))
    return found


def route_declaration(route: APIRoute) -> tuple[Action, ResourceOf] | None:
    """(action, resource) a route requires, None when it is public; ValueError when it declares
    nothing or more than one thing."""
    declared = _declarations(route.dependant)
    if len(declared) != 1:
        raise ValueError(
            f"route {sorted(route.methods or ())} {route.path} declares {len(declared)} permissions: "
            "give it exactly one requires(...) or public()"
        )
    permission: tuple[Action, ResourceOf] | None = getattr(declared[0], PERMISSION_ATTRIBUTE, None)
    return permission


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """Every FastAPI route of `app` with its full path, included routers' routes too."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            found.append((context.path or route.path, route))
    return found


def public_paths(app: FastAPI) -> frozenset[str]:
    """The paths open without credentials: routes declared `public()`, and the API documentation."""
    paths = {path for path, route in api_routes(app) if route_declaration(route) is None}
    docs = [app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url]
    return frozenset(paths | {p for p in docs if p})


def check_routes_declared(app: FastAPI) -> None:
    """Refuse (RuntimeError) an app with a route that declares no permission, or several."""
    problems = []
    for path, route in api_routes(app):
        try:
            route_declaration(route)
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
    if problems:
        raise RuntimeError("; ".join(problems))
