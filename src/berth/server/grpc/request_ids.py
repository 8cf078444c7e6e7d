"""The request id of a gRPC call: the caller's ``x-request-id`` metadata, else a new one.

The outermost interceptor sets it for the call (`berth.core.request_ids.REQUEST_ID`), so every log
line of the call carries it, and returns it in the trailing metadata (``x-request-id``), answered
or failed (`berth.server.grpc.status.abort` adds it to an error's metadata).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from berth.core.request_ids import HEADER, REQUEST_ID, RequestIds


class RequestIdInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc has no type hints
    def __init__(self, ids: RequestIds) -> None:
        self._ids = ids

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        sent = next(
            (v for k, v in details.invocation_metadata or () if k == HEADER and isinstance(v, str)), None
        )
        inner = handler.unary_unary
        ids = self._ids

        async def identified(request: Any, context: grpc.aio.ServicerContext) -> Any:
            request_id = ids.accept(sent)
            REQUEST_ID.set(request_id)
            response = await inner(request, context)
            context.set_trailing_metadata((*(context.trailing_metadata() or ()), (HEADER, request_id)))
            return response

        return grpc.unary_unary_rpc_method_handler(
            identified,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
