"""The span of each HTTP request (only in a server with tracing on: `berth.wiring.server.create_asgi`).

The outermost layer, so one span covers everything a request costs: the inference fast path and
the app's routes alike. The caller's ``traceparent``/``tracestate`` decide (`Tracing.entry`):
a request left out by sampling goes straight on, with no span made below. A traced request's span
is named by its route template once it is answered (``POST /v2/models/{name}/infer``,
``GET /api/v1/models/{name}``: never the path, whose names are unbounded), and carries the
method, path, status, request id and the model that answered; a 5xx answer marks it an error.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth.core.tracing import TRACEPARENT, TRACESTATE, Tracing, failed
from berth.server.answer_headers import ENDPOINT_HEADER, MODEL_HEADER, VARIANT_HEADER, VERSION_HEADER
from berth.server.rest.fast_path import INFER_PATH

_TRACEPARENT: Final = TRACEPARENT.encode()
_TRACESTATE: Final = TRACESTATE.encode()
_ANSWER_ATTRIBUTES: Final = {
    b"x-request-id": "berth.request_id",
    MODEL_HEADER: "berth.model",
    VERSION_HEADER: "berth.model_version",
    ENDPOINT_HEADER: "berth.endpoint",
    VARIANT_HEADER: "berth.variant",
}
INFER_ROUTE: Final = "/v2/models/{name}/infer"


class TracingLayer:
    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self._tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parent: str | None = None
        state: str | None = None
        for key, value in scope["headers"]:
            if key == _TRACEPARENT:
                parent = value.decode("latin-1")
            elif key == _TRACESTATE:
                state = value.decode("latin-1")
        entry = self._tracing.entry(parent, state)
        if entry is None:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        attributes = {"http.request.method": method, "url.path": scope["path"], "url.scheme": scope["scheme"]}
        with self._tracing.request(method, entry, attributes=attributes) as span:
            status = 0

            async def traced_send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    for key, value in message.get("headers", ()):
                        name = _ANSWER_ATTRIBUTES.get(key)
                        if name is not None:
                            span.set_attribute(name, value.decode("latin-1"))
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:
                route = _route(scope)
                span.update_name(f"{method} {route}" if route else method)
                if route:
                    span.set_attribute("http.route", route)
                if status >= 500:
                    failed(span, f"HTTP {status}")


def _route(scope: Scope) -> str | None:
    """The template of the route that answered (FastAPI's, or the fast path's), if one did."""
    route: Any = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str):
        return template
    if scope["method"] == "POST" and INFER_PATH.match(scope["path"]):
        return INFER_ROUTE
    return None
