"""Monitoring of an endpoint or model: ``GET /api/v1/monitor/{name}`` (and ``…/compare``).

One answer holds what the monitoring page plots: traffic per variant, latency percentiles and
errors per time bucket, accuracy per variant from feedback, drift per feature, staleness, the
quality of the features its ``features`` steps serve, and the alerts of the window. Readers of the
endpoint (or model) may read it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query

from berth.control.monitor_service import MonitorService, Window
from berth.core.access import Action, Principal
from berth.core.errors import BerthError, ErrorCode
from berth.core.record_requests import parse_time
from berth.server.auth.permissions import model_from_path, requires
from berth.server.rest.route_calls import in_thread

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid"},
    404: {"description": "not found"},
}
Reader = Annotated[Principal, requires(Action.READ, model_from_path)]
Start = Annotated[str | None, Query(description="ISO 8601 time or Unix seconds (default: end - 24 h)")]
End = Annotated[str | None, Query(description="ISO 8601 time or Unix seconds (default: now)")]


def monitor_router(service: MonitorService, known: Callable[[str], bool]) -> APIRouter:
    """`known(name)`: whether `name` is an endpoint or a model this server serves."""
    router = APIRouter(prefix="/api/v1/monitor", tags=["monitoring"], responses=_ERRORS)

    def check(name: str) -> None:
        if not known(name):
            raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"no endpoint or model {name!r}", model=name)

    @router.get(
        "/{name}", summary="Traffic, latency, errors, accuracy, drift, staleness and alerts over a window"
    )
    async def monitor(
        name: str,
        caller: Reader,
        start: Start = None,
        end: End = None,
        bucket_s: Annotated[int | None, Query(ge=1, le=366 * 86400)] = None,
    ) -> dict[str, Any]:
        check(name)
        window = Window.of(parse_time("start", start), parse_time("end", end), bucket_s)
        return await in_thread(service.snapshot, name, window)

    @router.get(
        "/{name}/compare", summary="A/B comparison of two variants' accuracy (or MAE), with a 95% interval"
    )
    async def compare(
        name: str,
        caller: Reader,
        a: Annotated[str, Query(min_length=1, max_length=256, description="A variant, e.g. churn:3")],
        b: Annotated[str, Query(min_length=1, max_length=256)],
        start: Start = None,
        end: End = None,
    ) -> dict[str, Any]:
        check(name)
        window = Window.of(parse_time("start", start), parse_time("end", end), None)
        return await in_thread(service.compare, name, a, b, window)

    return router
