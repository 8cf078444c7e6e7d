"""Consumers and deprecations over REST (docs/consumers.md).

``GET /api/v1/models/{name}/consumers`` (and ``/endpoints/{name}/consumers``): who called it, by
team and principal. A consumer list is its owner's information: it takes READ, which a grantee
or a stranger lacks (they get the answer any READ they lack gets).

``/api/v1/models/{name}/deprecations`` (and ``/endpoints/{name}/deprecations``): announced by a
maintainer of the owner team (UPDATE on a model, ENDPOINT on an endpoint), audited; read by
anyone who may find the model or endpoint (DISCOVER: its consumers see what is going away).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from berth.core.access import Action, Principal
from berth.core.consumers import MAX_LINK, MAX_MESSAGE, DeprecationScope
from berth.core.moments import Moment
from berth.server.auth.permissions import model_from_path, requires
from berth.server.deprecation_notices import DeprecationNotices
from berth.server.rest.route_calls import in_thread
from berth.storage.consumer_protocols import ConsumerStore

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    404: {"description": "not found"},
}


class _Announcement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sunset: Moment = Field(description="when it goes away: ISO 8601 (a date is midnight UTC) or Unix seconds")
    message: str = Field("", max_length=MAX_MESSAGE, description="what to do instead")
    link: str | None = Field(None, max_length=MAX_LINK, description="a page about it (http or https)")
    deprecated_at: Moment | None = Field(None, description="when it is deprecated (default: now)")
    actor: str = Field("", max_length=255, description="who announces it (authentication off only)")


class ModelDeprecationCreate(_Announcement):
    scope: Literal["version", "alias"]
    subject: str = Field(min_length=1, max_length=64, description="the version number or the alias")


class EndpointDeprecationCreate(_Announcement):
    pass


def consumer_router(store: ConsumerStore, notices: DeprecationNotices | None = None) -> APIRouter:
    """`notices`: this server's deprecation headers, reloaded at once after a change through it."""
    router = APIRouter(prefix="/api/v1", tags=["consumers and deprecations"], responses=_ERRORS)

    async def changed() -> None:
        if notices is not None:
            await notices.refresh()

    async def announce(
        kind: str, name: str, scope: DeprecationScope, subject: str, body: _Announcement, caller: Principal
    ) -> dict[str, Any]:
        found = await in_thread(
            store.announce,
            kind,
            name,
            scope,
            subject,
            sunset_at=body.sunset,
            message=body.message,
            link=body.link,
            deprecated_at=body.deprecated_at,
            actor=caller.name if caller.authenticated else body.actor,
        )
        await changed()
        return found.to_json()

    read = [requires(Action.READ, model_from_path)]
    discover = [requires(Action.DISCOVER, model_from_path)]

    @router.get(
        "/models/{name}/consumers", summary="Who calls a model (its team's readers)", dependencies=read
    )
    async def model_consumers(name: str) -> list[dict[str, Any]]:
        return [c.to_json() for c in await in_thread(store.consumers, "model", name)]

    @router.get(
        "/endpoints/{name}/consumers", summary="Who calls an endpoint (its team's readers)", dependencies=read
    )
    async def endpoint_consumers(name: str) -> list[dict[str, Any]]:
        return [c.to_json() for c in await in_thread(store.consumers, "endpoint", name)]

    # -- models ---------------------------------------------------------------------------------------
    @router.get(
        "/models/{name}/deprecations",
        summary="A model's deprecated versions and aliases",
        dependencies=discover,
    )
    async def model_deprecations(name: str) -> list[dict[str, Any]]:
        return [d.to_json() for d in await in_thread(store.deprecations, "model", name)]

    @router.post(
        "/models/{name}/deprecations",
        status_code=201,
        summary="Announce the deprecation of a version or alias, with its sunset (maintainers; audited)",
    )
    async def deprecate_model(
        name: str,
        body: ModelDeprecationCreate,
        caller: Annotated[Principal, requires(Action.UPDATE, model_from_path)],
    ) -> dict[str, Any]:
        return await announce("model", name, DeprecationScope(body.scope), body.subject, body, caller)

    @router.delete(
        "/models/{name}/deprecations/{scope}/{subject}",
        summary="Withdraw a deprecation (maintainers; audited)",
        dependencies=[requires(Action.UPDATE, model_from_path)],
    )
    async def withdraw_model(name: str, scope: str, subject: str) -> dict[str, Any]:
        found = await in_thread(store.withdraw, "model", name, DeprecationScope.parse(scope), subject)
        await changed()
        return found.to_json()

    # -- endpoints ------------------------------------------------------------------------------------
    @router.get("/endpoints/{name}/deprecations", summary="An endpoint's deprecation", dependencies=discover)
    async def endpoint_deprecations(name: str) -> list[dict[str, Any]]:
        return [d.to_json() for d in await in_thread(store.deprecations, "endpoint", name)]

    @router.post(
        "/endpoints/{name}/deprecations",
        status_code=201,
        summary="Announce the deprecation of an endpoint, with its sunset (maintainers; audited)",
    )
    async def deprecate_endpoint(
        name: str,
        body: EndpointDeprecationCreate,
        caller: Annotated[Principal, requires(Action.ENDPOINT, model_from_path)],
    ) -> dict[str, Any]:
        return await announce("endpoint", name, DeprecationScope.ENDPOINT, "", body, caller)

    @router.delete(
        "/endpoints/{name}/deprecations",
        summary="Withdraw an endpoint's deprecation (maintainers; audited)",
        dependencies=[requires(Action.ENDPOINT, model_from_path)],
    )
    async def withdraw_endpoint(name: str) -> dict[str, Any]:
        found = await in_thread(store.withdraw, "endpoint", name, DeprecationScope.ENDPOINT, "")
        await changed()
        return found.to_json()

    return router
