"""Running the OIP V2 gRPC service on grpc.aio, on the event loop of the REST server."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import grpc

from berth.core.codecs.limits import DEFAULT_MAX_TENSORS
from berth.core.errors import BerthError, ErrorCode
from berth.core.request_ids import RequestIds
from berth.core.tracing import OFF, Tracing
from berth.dataplane.dataplane import DataPlane
from berth.server.auth.authentication import Authenticator
from berth.server.auth.permissions import Guard
from berth.server.auth.rate_limit import RateLimiter
from berth.server.deprecation_notices import DeprecationNotices
from berth.server.grpc.auth import AuthInterceptor
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from berth.server.grpc.request_ids import RequestIdInterceptor
from berth.server.grpc.service import RPC_ACTIONS, InferenceServicer
from berth.server.metrics.requests import RequestCounter
from berth.server.offload import INLINE, Offload
from berth.server.usage_meter import NO_USAGE, UsageCounter

log = logging.getLogger(__name__)

STOP_GRACE_S: Final = 5.0
"""How long calls in flight may finish when the server stops."""


@dataclass(frozen=True, slots=True)
class GrpcLimits:
    """What one caller may hold of the gRPC server: tensors per request, connections, streams, time."""

    max_tensors: int = DEFAULT_MAX_TENSORS
    offload: Offload = INLINE
    max_connections: int = 1000
    """``grpc.max_allowed_incoming_connections``: connections past it are refused by gRPC core."""
    max_concurrent_streams: int = 1000
    """Calls in flight on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). gRPC core counts
    a call until grpc.aio releases it, which on a busy event loop is some time after the client saw
    its answer: at 100, a client keeping 64 calls in flight on one channel was refused streams
    (RST_STREAM REFUSED_STREAM, UNAVAILABLE to the caller)."""
    handshake_timeout_s: float = 10.0
    """From accepting a connection to the end of its HTTP/2 (and TLS) handshake (slowloris)."""
    idle_timeout_s: float = 300.0
    """A connection without calls for this long is closed (GOAWAY)."""

    def options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.max_allowed_incoming_connections", self.max_connections),
            ("grpc.max_concurrent_streams", self.max_concurrent_streams),
            ("grpc.server_handshake_timeout_ms", int(self.handshake_timeout_s * 1000)),
            ("grpc.max_connection_idle_ms", int(self.idle_timeout_s * 1000)),
            # keepalive: the server pings quiet connections to find dead peers, and refuses clients
            # that ping it more often than every 10 s without calls (a cheap flood otherwise)
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.keepalive_timeout_ms", 20_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_ping_strikes", 2),
        ]


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
    limits: GrpcLimits | None = None,
    tracing: Tracing = OFF,
    usage: UsageCounter = NO_USAGE,
    notices: DeprecationNotices | None = None,
) -> grpc.aio.Server:
    """Serve `dataplane` over gRPC on ``host:port`` (port 0: any free port) until stopped.

    Messages larger than `max_message_bytes` (either way) are refused with RESOURCE_EXHAUSTED. The
    port is bound exclusively (a port in use is an error), unless `shared_port`: the worker
    processes of one server then share it with SO_REUSEPORT.
    """
    security = security or GrpcSecurity(Authenticator(None, tokens=False, jwt=None), Guard(None))
    limits = limits or GrpcLimits()
    server = grpc.aio.server(
        interceptors=[
            RequestIdInterceptor(request_ids or RequestIds()),
            AuthInterceptor(security.authenticator, dict(RPC_ACTIONS), security.limiter),
        ],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 1 if shared_port else 0),
            *limits.options(),
        ],
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated code
        InferenceServicer(
            dataplane,
            security.guard,
            requests,
            max_tensors=limits.max_tensors,
            offload=limits.offload,
            tracing=tracing,
            usage=usage,
            notices=notices,
        ),
        server,
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
        limits: GrpcLimits | None = None,
        tracing: Tracing = OFF,
        usage: UsageCounter = NO_USAGE,
        notices: DeprecationNotices | None = None,
    ) -> None:
        self._usage = usage
        self._notices = notices
        self._limits = limits
        self._tracing = tracing
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
            limits=self._limits,
            tracing=self._tracing,
            usage=self._usage,
            notices=self._notices,
        )

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(STOP_GRACE_S)
