"""``GET /metrics``: the server's Prometheus metrics (docs/metrics.md).

Who may read them is a setting (``BERTH_METRICS_AUTH``): public, or a platform administrator's
token (metrics name every model and endpoint the server serves, whatever their team); ``auto``,
the default, makes them public when authentication is off (a server without authentication binds
only to a loopback address unless forced) and needs the token when it is on, so that a server with
authentication keeps the health probes as its only public routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from berth.core.access import Action
from berth.core.settings import Settings
from berth.server.auth.permissions import public, requires
from berth.server.metrics.server_metrics import ServerMetrics


def metrics_public(settings: Settings) -> bool:
    """Whether /metrics answers without credentials."""
    if settings.metrics_auth == "auto":
        return not settings.auth_methods
    return settings.metrics_auth == "public"


def metrics_router(metrics: ServerMetrics, *, open_to_all: bool) -> APIRouter:
    router = APIRouter(tags=["metrics"])
    permission: Any = public() if open_to_all else requires(Action.ADMIN)

    @router.get(
        "/metrics",
        summary="Prometheus metrics (text format)",
        dependencies=[permission],
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def scrape() -> Response:
        return Response(metrics.scrape(), media_type=CONTENT_TYPE_LATEST)

    return router
