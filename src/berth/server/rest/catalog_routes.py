"""The catalog API (``/api/v1/catalog``): what every authenticated principal may find and reuse.

A search lists the models and endpoints the caller may read (its teams'), those granted to it,
and every discoverable one; the rights filter runs in the database query, so totals and facets
count only what the caller may find. An entry shows what a consumer needs to decide
(`berth.core.catalog.CatalogEntry`), never artifacts, records, training data or feature values;
its ``access`` says whether the caller may read the model itself and call it. An entry the caller
may not discover answers exactly like a missing one (404 model_not_found).

An endpoint's visibility changes here (``PATCH /api/v1/endpoints/{name}``); a model's through
``PATCH /api/v1/models/{name}`` with the rest of its metadata.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from berth.core.access import ANONYMOUS, Action, Principal, Visibility, allowed
from berth.core.catalog import MAX_QUERY_CHARS, CatalogQuery, CatalogSort, Viewer
from berth.server.auth.permissions import model_from_path, request_guard, requires
from berth.server.rest.route_calls import in_thread
from berth.storage.sql_catalog import SqlCatalogStore

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    404: {"description": "not found"},
}


class EndpointVisibility(BaseModel):
    model_config = ConfigDict(extra="forbid")
    visibility: Literal["private", "discoverable"]


def viewer_of(principal: Principal) -> Viewer:
    """Whose catalog `principal` sees: its teams, its grants, every discoverable entry."""
    if principal is ANONYMOUS or principal.admin:
        return Viewer(everything=True)
    return Viewer(teams=frozenset(principal.roles), granted=principal.granted)


def catalog_router(catalog: SqlCatalogStore) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["catalog"], responses=_ERRORS)

    @router.get("/catalog", summary="Search the models and endpoints the caller may find")
    async def search(
        caller: Annotated[Principal, requires(Action.CONNECT)],
        q: Annotated[
            str | None, Query(max_length=MAX_QUERY_CHARS, description="every word must match")
        ] = None,
        team: Annotated[str | None, Query(max_length=128)] = None,
        flavor: Annotated[str | None, Query(max_length=64)] = None,
        task: Annotated[str | None, Query(max_length=32)] = None,
        visibility: Annotated[Visibility | None, Query()] = None,
        kind: Annotated[Literal["model", "endpoint"] | None, Query()] = None,
        sort: Annotated[Literal["name", "recent", "usage"], Query()] = CatalogSort.NAME,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> dict[str, Any]:
        query = CatalogQuery(
            text=q,
            team=team,
            flavor=flavor,
            task=task,
            visibility=None if visibility is None else visibility.value,
            kind=kind,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        page = await in_thread(catalog.search, query, viewer_of(caller))
        return page.to_json()

    @router.get(
        "/catalog/{name}", summary="One catalog entry: card, signature, versions, the caller's access"
    )
    async def detail(
        name: str, request: Request, caller: Annotated[Principal, requires(Action.DISCOVER, model_from_path)]
    ) -> dict[str, Any]:
        resource = await request_guard(request).model(name)
        may_read = caller is ANONYMOUS or allowed(caller, Action.READ, resource)
        may_predict = caller is ANONYMOUS or allowed(caller, Action.PREDICT, resource)
        found = await in_thread(catalog.detail, name)
        return found.to_json(may_read=may_read, may_predict=may_predict)

    @router.patch(
        "/endpoints/{name}",
        summary="Change an endpoint's visibility (private, or discoverable by every team)",
        dependencies=[requires(Action.ENDPOINT, model_from_path)],
    )
    async def endpoint_visibility(name: str, body: EndpointVisibility, request: Request) -> dict[str, str]:
        value = await in_thread(catalog.set_endpoint_visibility, name, body.visibility)
        await request_guard(request).refresh()  # who may discover it changed: reload the access table
        return {"name": name, "visibility": value}

    return router
