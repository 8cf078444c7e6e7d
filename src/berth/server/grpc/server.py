"""Running the OIP V2 gRPC service on grpc.aio, on the event loop of the REST server."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import grpc

from berth.core.errors import BerthError, ErrorCode
from berth.core.request_ids import RequestIds
from berth.dataplane.dataplane import DataPlane
from berth.server.authentication import Authenticator
from berth.server.grpc.auth import AuthInterceptor
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from berth.server.grpc.request_ids import RequestIdInterceptor
from berth.server.grpc.service import RPC_ACTIONS, InferenceServicer
from berth.server.metrics.requests import RequestCounter
from berth.server.permissions import Guard
from berth.server.rate_limit import RateLimiter

log = logging.getLogger(__name__)

STOP_GRACE_S: Final = 5.0
"""How long calls in flight may finish when the server stops."""


@dataclass(frozen=True, slots=True)
class GrpcSecurity:
    """How calls are authenticated and limited, and the TLS key pair (PEM bytes) when configured."""

    authenticator: Authenticator
    guard: Guard
    limiter: RateLimiter | None = None
    tls: tuple[bytes, bytes] | None = None
    """(private key, certificate chain)."""


async def start_grpc_server(
    dataplane: DataPlane,
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    shared_port: bool = False,
    security: GrpcSecurity | None = None,
    requests: RequestCounter | None = None,
    request_ids: RequestIds | None = None,
) -> grpc.aio.Server:
    """Serve `dataplane` over gRPC on ``host:port`` (port 0: any free port) until stopped.

    Messages larger than `max_message_bytes` (either way) are refused with RESOURCE_EXHAUSTED. The
    port is bound exclusively (a port in use is an error), unless `shared_port`: the worker
    processes of one server then share it with SO_REUSEPORT.
    """
    security = security or GrpcSecurity(Authenticator(None, tokens=False, jwt=None), Guard(None))
    server = grpc.aio.server(
        interceptors=[
            RequestIdInterceptor(request_ids or RequestIds()),
            AuthInterceptor(security.authenticator, dict(RPC_ACTIONS), security.limiter),
        ],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 1 if shared_port else 0),
        ],
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated code
        InferenceServicer(dataplane, security.guard, requests), server
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if security.tls is not None:
            bound = server.add_secure_port(address, grpc.ssl_server_credentials([security.tls]))
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise BerthError(ErrorCode.UNAVAILABLE, f"cannot serve gRPC on {address}: {exc}") from None
    await server.start()
    log.info("gRPC (Open Inference Protocol V2) on %s", address if port else f"{host}:{bound}")
    return server


class GrpcEndpoint:
    """The gRPC server of a berth server: started after it and stopped before it, on its event loop."""

    def __init__(
        self,
        dataplane: DataPlane,
        host: str,
        port: int,
        *,
        max_message_bytes: int,
        shared_port: bool = False,
        security: GrpcSecurity | None = None,
        requests: RequestCounter | None = None,
        request_ids: RequestIds | None = None,
    ) -> None:
        self._security = security
        self._requests = requests
        self._request_ids = request_ids
        self._dataplane = dataplane
        self._host = host
        self._port = port
        self._max_message_bytes = max_message_bytes
        self._shared_port = shared_port
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        self._server = await start_grpc_server(
            self._dataplane,
            self._host,
            self._port,
            max_message_bytes=self._max_message_bytes,
            shared_port=self._shared_port,
            security=self._security,
            requests=self._requests,
            request_ids=self._request_ids,
        )

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(STOP_GRACE_S)
