"""The one table from error codes to gRPC status codes, and the decorator that applies it.

A call that fails ends with the status below, the error's message as its details and the berth
code in the trailing metadata (``berth-error-code``), so a client can rebuild the `BerthError`. An
unexpected exception is logged with its traceback and answered INTERNAL, without details. Messages
too large for the server are refused by gRPC itself with RESOURCE_EXHAUSTED.

The details travel in the ``grpc-message`` trailer, percent-encoded, and a trailer block larger
than the peer's metadata limit (8 KiB by default) turns the whole status into an INTERNAL error on
the client: `status_details` cuts them to `MAX_STATUS_DETAILS_BYTES` once encoded, always.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, NoReturn, TypeVar

import grpc

from berth.core.errors import BerthError, ErrorCode
from berth.core.request_ids import HEADER as REQUEST_ID_HEADER
from berth.core.request_ids import current_request_id

log = logging.getLogger(__name__)

ERROR_CODE_KEY: Final = "berth-error-code"
"""The trailing metadata key that carries the berth error code of a failed call."""

GRPC_STATUS: Final[dict[ErrorCode, grpc.StatusCode]] = {
    ErrorCode.INVALID_JSON: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_TENSOR: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.UNSUPPORTED_DATATYPE: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.SIGNATURE_MISMATCH: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.NAN_NOT_ALLOWED: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.EMPTY_BATCH: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_NAME: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_ENDPOINT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_PIPELINE: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_CURSOR: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_CARD: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_OFFLINE_SOURCE: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.PIPELINE_STEP_FAILED: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.ENTITY_NOT_FOUND: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.OUTPUT_NOT_FOUND: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.PREDICTION_FAILED: grpc.StatusCode.INVALID_ARGUMENT,  # REST 422: the model refused this input
    ErrorCode.PAYLOAD_TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.TOO_MANY_TENSORS: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.ROUTE_NOT_FOUND: grpc.StatusCode.UNIMPLEMENTED,
    ErrorCode.METHOD_NOT_ALLOWED: grpc.StatusCode.UNIMPLEMENTED,
    ErrorCode.MODEL_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.NOT_SERVED_HERE: grpc.StatusCode.NOT_FOUND,
    ErrorCode.VERSION_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.PROFILE_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.DEPRECATION_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.TOKEN_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.ACCESS_REQUEST_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.ALIAS_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.ENDPOINT_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.ENTITY_TABLE_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.JOB_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.TRIGGER_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.UNKNOWN_JOB_KIND: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_JOB_PARAMS: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.JOB_INPUT_NOT_FOUND: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.RECORD_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.MESSAGE_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.EXPORT_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.ALERT_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.CONFLICT: grpc.StatusCode.ABORTED,
    ErrorCode.ACCESS_REQUEST_PENDING: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.ACCESS_ALREADY_HELD: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.ACCESS_REQUEST_DECIDED: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.ACCESS_REQUEST_STALE: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.EXPORT_QUOTA_EXCEEDED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.REQUEST_TIMEOUT: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorCode.CLIENT_TOO_SLOW: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorCode.UNSUPPORTED_FLAVOR: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.ARTIFACT_INVALID: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.ARTIFACT_INTEGRITY: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.UNTRUSTED_ARTIFACT: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.MODEL_LOAD_FAILED: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.MODEL_FOLDER_INVALID: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.MODEL_NOT_READY: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.NO_SERVING_REPLICA: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.FEATURES_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.RECORDING_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.IMAGE_BUILD_FAILED: grpc.StatusCode.INTERNAL,
    ErrorCode.ADDRESS_IN_USE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.REGISTRY_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.MISSING_EXTRA: grpc.StatusCode.UNIMPLEMENTED,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
}

MAX_STATUS_DETAILS_BYTES: Final = 4096
"""The most bytes a status message takes in the ``grpc-message`` trailer (percent-encoded)."""
_CUT: Final = " ..."

S = TypeVar("S")
Req = TypeVar("Req")
Resp = TypeVar("Resp")


async def abort(context: grpc.aio.ServicerContext, error: BerthError) -> NoReturn:
    """End the call with the status of `error`'s code (raises, as ``context.abort`` does)."""
    trailing: tuple[tuple[str, str], ...] = ((ERROR_CODE_KEY, error.code.value),)
    if error.code is ErrorCode.RATE_LIMITED:
        trailing += (("retry-after", str(error.details.get("retry_after", 1))),)
    request_id = current_request_id()
    if request_id:
        trailing += ((REQUEST_ID_HEADER, request_id),)
    await context.abort(
        GRPC_STATUS.get(error.code, grpc.StatusCode.INTERNAL),
        status_details(error.message),
        trailing_metadata=trailing,
    )
    raise RuntimeError("context.abort returned")  # pragma: no cover - abort always raises


def status_details(message: str, limit: int = MAX_STATUS_DETAILS_BYTES) -> str:
    """`message` cut so that its percent-encoded UTF-8 (gRPC's ``grpc-message``) takes at most
    `limit` bytes."""
    used = 0
    for index, char in enumerate(message):
        used += sum(1 if 0x20 <= b <= 0x7E and b != 0x25 else 3 for b in char.encode("utf-8", "replace"))
        if used > limit - len(_CUT):
            return message[:index] + _CUT
    return message


def reporting_errors(
    handler: Callable[[S, Req, Any], Awaitable[Resp]],
) -> Callable[[S, Req, Any], Awaitable[Resp]]:
    """Wrap a servicer method so that its errors end the call with a mapped status."""

    @functools.wraps(handler)
    async def call(self: S, request: Req, context: Any) -> Resp:
        try:
            return await handler(self, request, context)
        except BerthError as error:
            await abort(context, error)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unexpected error in %s", handler.__name__)
            await abort(context, BerthError(ErrorCode.INTERNAL, "internal server error"))

    return call
