"""The web app's static files (``/ui/``): read once from the package, served with a strict CSP.

The app is plain ES modules and CSS (``berth/server/ui/``), with no build step; it talks to the
server only through the public REST API, which enforces permissions, so its files are public.
Each file gets its own exact route (nothing else under ``/ui/`` is served: no path to traverse),
and ``/`` and ``/ui`` redirect to ``/ui/``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from importlib import resources
from typing import Any, Final

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from berth.server.auth.permissions import public

UI_PREFIX: Final = "/ui/"
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Scripts and styles only from this server's files: no inline script, no injected markup runs."""
_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def ui_files() -> dict[str, bytes]:
    """The app's files by name (``index.html``, ``app.js`` …), read from the installed package."""
    folder = resources.files("berth.server").joinpath("ui")
    return {
        item.name: item.read_bytes()
        for item in folder.iterdir()
        if item.is_file() and any(item.name.endswith(suffix) for suffix in _TYPES)
    }


def ui_paths(files: Mapping[str, bytes]) -> list[str]:
    """Every path the UI router serves (the redirects included)."""
    return ["/", "/ui", UI_PREFIX, *(UI_PREFIX + name for name in sorted(files))]


def ui_router(files: Mapping[str, bytes]) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    opened = [public()]

    async def to_app() -> RedirectResponse:
        return RedirectResponse(UI_PREFIX, status_code=307)

    router.add_api_route("/", to_app, methods=["GET"], dependencies=opened)
    router.add_api_route("/ui", to_app, methods=["GET"], dependencies=opened)
    router.add_api_route(UI_PREFIX, _serve("index.html", files), methods=["GET"], dependencies=opened)
    for name in sorted(files):
        router.add_api_route(UI_PREFIX + name, _serve(name, files), methods=["GET"], dependencies=opened)
    return router


def _serve(name: str, files: Mapping[str, bytes]) -> Callable[[], Coroutine[Any, Any, Response]]:
    content = files[name]
    media_type = _TYPES[name[name.rfind(".") :]]

    async def serve() -> Response:
        return Response(content, media_type=media_type, headers=_HEADERS)

    return serve
