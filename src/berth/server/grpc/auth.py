"""Authentication of gRPC calls: the interceptor that does for gRPC what the auth layer does for REST.

Credentials come in the ``authorization`` metadata (``Bearer <token>``). Every method of the
service must be listed in `berth.server.grpc.service.RPC_ACTIONS`; a method that is not is refused
(fail closed). Public methods (liveness and readiness) pass without credentials; the others are
authenticated and rate-limited here, and the principal is handed to the servicer, which authorizes
the call against the model it names with the same `authorize` as REST.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from berth.core.audit import AuditContext, set_audit_context
from berth.core.errors import BerthError, ErrorCode
from berth.core.request_ids import current_request_id
from berth.server.auth.authentication import Authenticator
from berth.server.auth.permissions import CURRENT_PRINCIPAL
from berth.server.auth.rate_limit import RateLimiter
from berth.server.grpc.status import abort

PUBLIC = "public"
"""The `RPC_ACTIONS` entry of a method open to everyone."""


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc has no type hints
    def __init__(
        self, authenticator: Authenticator, actions: dict[str, Any], limiter: RateLimiter | None = None
    ) -> None:
        self._authenticator = authenticator
        self._actions = actions
        self._limiter = limiter

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = str(details.method).rsplit("/", 1)[-1]
        declared = self._actions.get(method)
        if declared == PUBLIC:
            return handler
        metadata = {
            key: value for key, value in (details.invocation_metadata or ()) if isinstance(value, str)
        }
        inner = handler.unary_unary
        if inner is None or declared is None:
            return _refusing(handler, BerthError(ErrorCode.FORBIDDEN, f"method {method} is not served"))

        async def authenticated(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                principal = self._authenticator.authenticate(metadata.get("authorization"))
                if self._limiter is not None and principal.authenticated:
                    wait = self._limiter.retry_after(principal.name)
                    if wait > 0:
                        raise BerthError(
                            ErrorCode.RATE_LIMITED,
                            f"rate limit exceeded for {principal.name!r}: retry in {wait:.2f} s",
                            retry_after=math.ceil(wait),
                        )
            except BerthError as error:
                await abort(context, error)
            CURRENT_PRINCIPAL.set(principal)
            if principal.authenticated:
                set_audit_context(AuditContext(principal.name, current_request_id()))
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            authenticated,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _refusing(handler: Any, error: BerthError) -> Any:
    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await abort(context, error)

    return grpc.unary_unary_rpc_method_handler(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
