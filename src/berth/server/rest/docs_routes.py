"""The API documentation, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), loaded from this server only.

FastAPI's own pages pull their scripts from a public CDN, so on a network without it they are
blank. These are FastAPI's pages with every asset pointed at routes of this server: Swagger UI's
and ReDoc's files come from the pinned ``fastapi-offline`` package (MIT; it carries swagger-ui-dist
5, Apache-2.0, and ReDoc 2, MIT: the versions FastAPI's CDN links name), no Google Fonts, and a
local favicon.
The assets' paths carry that package's version, so they are cached for good and an upgrade
changes them. Like the OpenAPI document they describe, the pages and assets are public (the API
behind them checks every call); each has its own exact route, so there is no path to traverse.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Mapping
from importlib import metadata, resources
from types import MappingProxyType
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from berth.server.auth.permissions import public

DOCS_URL: Final = "/docs"
REDOC_URL: Final = "/redoc"
ASSETS_PACKAGE: Final = "fastapi_offline"
ASSETS_PREFIX: Final = f"{DOCS_URL}/assets/{metadata.version('fastapi-offline')}/"
ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
"""The files the pages load, by name in the package's ``static/`` folder, with their media types."""
REDOC_LOGO: Final = b'"https://cdn.redoc.ly/redoc/logo-mini.svg"'
EMPTY_IMAGE: Final = b'"data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27/%3E"'
_ASSET_HEADERS: Final = {
    "cache-control": "public, max-age=31536000, immutable",
    "x-content-type-options": "nosniff",
}
_PAGE_HEADERS: Final = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def docs_paths() -> list[str]:
    """Every path the docs router serves."""
    return [DOCS_URL, REDOC_URL, *(ASSETS_PREFIX + name for name in ASSETS)]


def docs_router(title: str, openapi_url: str) -> APIRouter:
    """Swagger UI and ReDoc for the OpenAPI document at `openapi_url`, with their assets (each URL
    under the request's ``root_path``, as FastAPI's own pages do)."""
    router = APIRouter(include_in_schema=False)
    opened = [public()]

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PREFIX}swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PREFIX}swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PREFIX}favicon.png",
        )
        page.headers.update(_PAGE_HEADERS)
        return page

    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PREFIX}redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PREFIX}favicon.png",
            with_google_fonts=False,
        )
        page.headers.update(_PAGE_HEADERS)
        return page

    router.add_api_route(DOCS_URL, swagger_ui, methods=["GET"], dependencies=opened)
    router.add_api_route(REDOC_URL, redoc, methods=["GET"], dependencies=opened)
    for name, content in docs_assets().items():
        serve = _serve(content, ASSETS[name])
        router.add_api_route(ASSETS_PREFIX + name, serve, methods=["GET"], dependencies=opened)
    return router


@functools.cache
def docs_assets() -> Mapping[str, bytes]:
    """The pages' files by name, read once per process from the installed package (2.8 MB).
    ReDoc's bundle has one link of its own to a CDN, the "API docs by Redocly" logo (an ``<img>``
    that a failed load only hides); it becomes an empty inline image, so the page asks nothing of
    another host."""
    folder = resources.files(ASSETS_PACKAGE).joinpath("static")
    files = {name: folder.joinpath(name).read_bytes() for name in ASSETS}
    files["redoc.standalone.js"] = files["redoc.standalone.js"].replace(REDOC_LOGO, EMPTY_IMAGE)
    return MappingProxyType(files)


def _root(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def _serve(content: bytes, media_type: str) -> Callable[[], Coroutine[Any, Any, Response]]:
    async def serve() -> Response:
        return Response(content, media_type=media_type, headers=_ASSET_HEADERS)

    return serve
