"""Starting the gRPC server, and how a servicer's exceptions become statuses."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import grpc
import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.server.grpc.server import start_grpc_server
from berth.server.grpc.status import ERROR_CODE_KEY, reporting_errors


class Aborted(Exception):
    pass


class RecordingContext:
    """Stands in for grpc.aio.ServicerContext: `abort` records the status and raises."""

    def __init__(self) -> None:
        self.aborted: tuple[Any, str, Any] | None = None

    async def abort(self, code: Any, details: str, trailing_metadata: Any = ()) -> None:
        self.aborted = (code, details, trailing_metadata)
        raise Aborted


class Servicer:
    def __init__(self, error: Exception) -> None:
        self.error = error

    @reporting_errors
    async def Call(self, request: str, context: Any) -> str:
        raise self.error


def aborted_with(error: Exception) -> tuple[Any, str, Any]:
    context = RecordingContext()
    with pytest.raises(Aborted):
        asyncio.run(Servicer(error).Call("request", context))
    assert context.aborted is not None
    return context.aborted


def test_berth_errors_become_their_status_with_the_code() -> None:
    code, details, metadata = aborted_with(BerthError(ErrorCode.ALIAS_NOT_FOUND, "no alias 'canary'"))
    assert code is grpc.StatusCode.NOT_FOUND
    assert details == "no alias 'canary'"
    assert tuple(metadata) == ((ERROR_CODE_KEY, "alias_not_found"),)


def test_unexpected_errors_are_internal_without_details(caplog: pytest.LogCaptureFixture) -> None:
    code, details, _ = aborted_with(ValueError("secret detail"))
    assert code is grpc.StatusCode.INTERNAL
    assert "secret" not in details
    assert "secret detail" in caplog.text  # logged with its traceback


def test_a_port_in_use_is_an_error() -> None:
    async def start_on_taken_port(port: int) -> None:
        await start_grpc_server(None, "127.0.0.1", port, max_message_bytes=1024)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(BerthError) as caught:
            asyncio.run(start_on_taken_port(taken.getsockname()[1]))
    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert "cannot serve gRPC" in caught.value.message
