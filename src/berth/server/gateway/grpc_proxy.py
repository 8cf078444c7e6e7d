"""The gateway's gRPC port: Open Inference Protocol V2 calls, by model name, to a replica of the
serving group that has the model ready, as the REST gateway does for HTTP.

A gRPC call names its model inside the message, not in the path, so the gateway reads one field of
the request: the model's name, found by walking the message's top-level fields on the wire
(`string_field`), without decoding the tensors. The message itself is passed on as the bytes the
caller sent, and the answer as the bytes the replica sent, with the caller's metadata (minus
gRPC's own) and the replica's trailing metadata, to which ``berth-replica`` is added.

Retries follow the REST gateway's rule: a replica whose channel cannot connect, or that answers
``not_served_here`` (the ``berth-error-code`` trailer), did not run the call, so the next one is
tried (and, when none is left, the directory is read again at once); any other failure is the
caller's answer, never retried. ServerLive and ServerReady are the gateway's own; ServerMetadata
goes to any replica; RepositoryIndex merges one replica of each group.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import grpc
import grpc.aio

from berth.core.errors import BerthError, ErrorCode
from berth.server.gateway.attempts import UNSERVED, CandidateRounds
from berth.server.gateway.directory import GroupDirectory
from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.status import ERROR_CODE_KEY, abort

log = logging.getLogger(__name__)

SERVICE: Final = "inference.GRPCInferenceService"
NAME_FIELD: Final[dict[str, int]] = {
    # the field number of the model's name in each call that names one
    "ModelInfer": pb.ModelInferRequest.DESCRIPTOR.fields_by_name["model_name"].number,
    "ModelReady": pb.ModelReadyRequest.DESCRIPTOR.fields_by_name["name"].number,
    "ModelMetadata": pb.ModelMetadataRequest.DESCRIPTOR.fields_by_name["name"].number,
    "RepositoryModelLoad": pb.RepositoryModelLoadRequest.DESCRIPTOR.fields_by_name["model_name"].number,
    "RepositoryModelUnload": pb.RepositoryModelUnloadRequest.DESCRIPTOR.fields_by_name["model_name"].number,
}
_DROPPED_METADATA: Final = frozenset({"user-agent", "te", "content-type", "host"})
_LENGTH_DELIMITED: Final = 2


class NotFound(ValueError):
    """The message is not valid protobuf wire format, or lacks the field."""


def string_field(message: bytes, number: int) -> str:
    """The value of the top-level string field `number` of a serialized protobuf message (the last
    one, as a parser keeps), read without decoding the rest."""
    view = memoryview(message)
    position, found = 0, None
    while position < len(view):
        key, position = _varint(view, position)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, position = _varint(view, position)
        elif wire_type == 1:
            position += 8
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _varint(view, position)
            if field == number:
                found = bytes(view[position : position + length])
            position += length
        elif wire_type == 5:
            position += 4
        else:
            raise NotFound(f"wire type {wire_type} is not one a request message uses")
        if position > len(view):
            raise NotFound("the message ends inside a field")
    if found is None:
        raise NotFound(f"no field {number}")
    try:
        return found.decode("utf-8")
    except UnicodeDecodeError:
        raise NotFound("the name is not UTF-8") from None


def _varint(view: memoryview, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(view) or shift > 63:
            raise NotFound("a varint runs past the message")
        byte = view[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


Behaviour = Callable[[bytes, grpc.aio.ServicerContext[bytes, bytes]], Awaitable[bytes]]


class GatewayRpcHandler(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc's stubs
    """Every call of the inference service, forwarded as bytes (no (de)serialization here)."""

    def __init__(self, directory: GroupDirectory, *, max_message_bytes: int) -> None:
        self._directory = directory
        self._options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._rounds = CandidateRounds(directory)
        own: dict[str, Behaviour] = {
            "ServerLive": self._server_live,
            "ServerReady": self._server_ready,
            "ServerMetadata": self._server_metadata,
            "RepositoryIndex": self._repository_index,
        }
        self._behaviours: dict[str, Behaviour] = {
            **own,
            **{method: self._named(method, number) for method, number in NAME_FIELD.items()},
        }

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        behaviour = self._behaviours.get(method) if service == SERVICE else None
        if behaviour is None:
            return None  # UNIMPLEMENTED
        return grpc.unary_unary_rpc_method_handler(behaviour)

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()

    # -- the gateway's own answers ----------------------------------------------------------------
    async def _server_live(self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return bytes(pb.ServerLiveResponse(live=True).SerializeToString())

    async def _server_ready(self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return bytes(pb.ServerReadyResponse(ready=self._directory.loaded).SerializeToString())

    async def _server_metadata(
        self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> bytes:
        targets = self._directory.any_replicas(grpc=True)
        if not targets:
            await abort(context, BerthError(ErrorCode.NO_SERVING_REPLICA, "no live replica serves gRPC"))
        return await self._relay("ServerMetadata", targets[0], request, context)

    async def _repository_index(
        self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> bytes:
        """The models of one replica of each group, merged (each replica checks the caller's rights)."""
        merged = pb.RepositoryIndexResponse()
        seen: set[tuple[str, str]] = set()
        for target in self._directory.any_replicas(grpc=True):
            answer = pb.RepositoryIndexResponse.FromString(
                await self._relay("RepositoryIndex", target, request, context)
            )
            for model in answer.models:
                if (model.name, model.version) not in seen:
                    seen.add((model.name, model.version))
                    merged.models.append(model)
        return bytes(merged.SerializeToString())

    # -- calls that name a model ------------------------------------------------------------------
    def _named(self, method: str, number: int) -> Behaviour:
        async def forward(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            try:
                name = string_field(request, number)
            except NotFound as exc:
                await abort(
                    context, BerthError(ErrorCode.INVALID_REQUEST, f"{method}: no model name ({exc})")
                )
            return await self._forward_named(method, name, request, context)

        return forward

    async def _forward_named(
        self, method: str, name: str, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> bytes:
        try:
            async with contextlib.aclosing(
                self._rounds.rounds(name, self._directory.grpc_candidates)
            ) as rounds:
                async for targets in rounds:
                    for target in targets:
                        try:
                            return await self._relay(method, target, request, context, name=name)
                        except _NotReached as skipped:
                            if skipped.lacking:
                                self._directory.mark_lacking(self._directory.url_of(target), name)
                            else:
                                self._directory.mark_down(self._directory.url_of(target))
        except BerthError as error:
            if error.code not in UNSERVED:
                await abort(context, error)
            return await self._answer_unserved(method, name, request, context, error)
        raise AssertionError("rounds end with an answer or NO_SERVING_REPLICA")  # pragma: no cover

    async def _answer_unserved(
        self,
        method: str,
        name: str,
        request: bytes,
        context: grpc.aio.ServicerContext[bytes, bytes],
        unserved: BerthError,
    ) -> bytes:
        """A name no live replica serves, answered as a replica answers it, after it authenticated
        the caller (as the REST gateway does, `berth.server.gateway.proxy`)."""
        for target in self._directory.any_replicas(grpc=True):
            try:
                return await self._relay(method, target, request, context, name=name)
            except _NotReached as skipped:
                if skipped.lacking:  # the replica let the caller through: the gateway's own answer
                    await abort(context, unserved)
                self._directory.mark_down(self._directory.url_of(target))
        await abort(context, BerthError(ErrorCode.NO_SERVING_REPLICA, "no serving replica is live"))

    async def _relay(
        self,
        method: str,
        target: str,
        request: bytes,
        context: grpc.aio.ServicerContext[bytes, bytes],
        *,
        name: str | None = None,
    ) -> bytes:
        """The replica's answer to the call; a failure it answered ends this call the same way.
        `_NotReached` when the call surely did not run there (retried elsewhere by the caller)."""
        channel = self._channel(target)
        call = channel.unary_unary(f"/{SERVICE}/{method}")(
            request, metadata=_passed_on(context), timeout=context.time_remaining()
        )
        try:
            answer: bytes = await call
        except grpc.aio.AioRpcError as failure:
            trailing = tuple(failure.trailing_metadata() or ())
            code = _metadata_value(trailing, ERROR_CODE_KEY)
            if name is not None and code == ErrorCode.NOT_SERVED_HERE.value:
                raise _NotReached(lacking=True) from None
            if name is not None and code is None and _never_connected(failure, channel):
                raise _NotReached(lacking=False) from None
            await context.abort(failure.code(), failure.details() or "", trailing_metadata=trailing)
            raise
        trailing = tuple(await call.trailing_metadata() or ())
        context.set_trailing_metadata((*trailing, ("berth-replica", self._directory.url_of(target))))
        return answer

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = self._channels.get(target)
        if channel is None:
            channel = grpc.aio.insecure_channel(target, options=self._options)
            self._channels[target] = channel
        return channel


class _NotReached(Exception):
    def __init__(self, *, lacking: bool) -> None:
        super().__init__()
        self.lacking = lacking


def _never_connected(failure: grpc.aio.AioRpcError, channel: grpc.aio.Channel) -> bool:
    """Whether the call failed because no connection to the replica could be made (so it never
    reached it), not after it was sent."""
    if failure.code() is not grpc.StatusCode.UNAVAILABLE:
        return False
    details = (failure.details() or "").lower()
    return "failed to connect" in details or channel.get_state() is grpc.ChannelConnectivity.TRANSIENT_FAILURE


def _passed_on(context: grpc.aio.ServicerContext[bytes, bytes]) -> tuple[tuple[str, str | bytes], ...]:
    kept = tuple(
        (key, value)
        for key, value in context.invocation_metadata() or ()
        if not key.startswith((":", "grpc-")) and key not in _DROPPED_METADATA
    )
    peer = context.peer() or ""
    forwarded = _metadata_value(kept, "x-forwarded-for")
    host = peer.split(":", 1)[1].rsplit(":", 1)[0] if ":" in peer else peer
    kept = tuple(item for item in kept if item[0] != "x-forwarded-for")
    return (*kept, ("x-forwarded-for", f"{forwarded}, {host}" if forwarded else host))


def _metadata_value(metadata: Sequence[tuple[str, str | bytes]], key: str) -> str | None:
    for item_key, value in metadata:
        if item_key == key:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


async def start_gateway_grpc(
    directory: GroupDirectory,
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    tls: tuple[bytes, bytes] | None = None,
) -> tuple[grpc.aio.Server, GatewayRpcHandler]:
    """Serve the gateway's gRPC port on ``host:port`` until stopped."""
    handler = GatewayRpcHandler(directory, max_message_bytes=max_message_bytes)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    server.add_generic_rpc_handlers((handler,))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if tls is not None:
            server.add_secure_port(address, grpc.ssl_server_credentials([tls]))
        else:
            server.add_insecure_port(address)
    except RuntimeError as exc:
        raise BerthError(ErrorCode.UNAVAILABLE, f"cannot serve gRPC on {address}: {exc}") from None
    await server.start()
    log.info("gateway: gRPC (Open Inference Protocol V2) on %s", address)
    return server, handler
