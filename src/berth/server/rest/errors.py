"""The one table from error codes to HTTP statuses, and the handlers that apply it.

Every error leaves the server as ``{"error": "...", "code": "..."}`` with the status below. An
unexpected exception is logged with its traceback and answered 500 ``internal``, without details.
"""

from __future__ import annotations

import logging
from typing import Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth.core.errors import BerthError, ErrorCode

log = logging.getLogger(__name__)

HTTP_STATUS: Final[dict[ErrorCode, int]] = {
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_TENSOR: 400,
    ErrorCode.UNSUPPORTED_DATATYPE: 400,
    ErrorCode.SIGNATURE_MISMATCH: 400,
    ErrorCode.NAN_NOT_ALLOWED: 400,
    ErrorCode.EMPTY_BATCH: 400,
    ErrorCode.INVALID_NAME: 400,
    ErrorCode.INVALID_ENDPOINT: 400,
    ErrorCode.INVALID_PIPELINE: 400,
    ErrorCode.INVALID_CURSOR: 400,
    ErrorCode.INVALID_CARD: 400,
    ErrorCode.INVALID_OFFLINE_SOURCE: 400,
    ErrorCode.OUTPUT_NOT_FOUND: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.TOO_MANY_TENSORS: 400,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.ROUTE_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.MODEL_NOT_FOUND: 404,
    ErrorCode.VERSION_NOT_FOUND: 404,
    ErrorCode.ALIAS_NOT_FOUND: 404,
    ErrorCode.ENDPOINT_NOT_FOUND: 404,
    ErrorCode.PROFILE_NOT_FOUND: 404,
    ErrorCode.DEPRECATION_NOT_FOUND: 404,
    ErrorCode.TOKEN_NOT_FOUND: 404,
    ErrorCode.ACCESS_REQUEST_NOT_FOUND: 404,
    ErrorCode.ENTITY_NOT_FOUND: 422,
    ErrorCode.ENTITY_TABLE_NOT_FOUND: 404,
    ErrorCode.JOB_NOT_FOUND: 404,
    ErrorCode.TRIGGER_NOT_FOUND: 404,
    ErrorCode.UNKNOWN_JOB_KIND: 422,
    ErrorCode.INVALID_JOB_PARAMS: 422,
    ErrorCode.JOB_INPUT_NOT_FOUND: 422,
    ErrorCode.RECORD_NOT_FOUND: 404,
    ErrorCode.MESSAGE_NOT_FOUND: 404,
    ErrorCode.NOT_SERVED_HERE: 404,
    ErrorCode.EXPORT_NOT_FOUND: 404,
    ErrorCode.ALERT_NOT_FOUND: 404,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.ACCESS_REQUEST_PENDING: 409,
    ErrorCode.ACCESS_ALREADY_HELD: 409,
    ErrorCode.ACCESS_REQUEST_DECIDED: 409,
    ErrorCode.ACCESS_REQUEST_STALE: 410,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.EXPORT_QUOTA_EXCEEDED: 429,
    ErrorCode.REQUEST_TIMEOUT: 504,
    ErrorCode.CLIENT_TOO_SLOW: 408,
    ErrorCode.UNSUPPORTED_FLAVOR: 422,
    ErrorCode.ARTIFACT_INVALID: 422,
    ErrorCode.ARTIFACT_INTEGRITY: 422,
    ErrorCode.UNTRUSTED_ARTIFACT: 422,
    ErrorCode.MODEL_LOAD_FAILED: 422,
    ErrorCode.PREDICTION_FAILED: 422,
    ErrorCode.PIPELINE_STEP_FAILED: 422,
    ErrorCode.MODEL_FOLDER_INVALID: 422,
    ErrorCode.MODEL_NOT_READY: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.NO_SERVING_REPLICA: 503,
    ErrorCode.FEATURES_UNAVAILABLE: 503,
    ErrorCode.RECORDING_UNAVAILABLE: 503,
    ErrorCode.IMAGE_BUILD_FAILED: 500,
    ErrorCode.ADDRESS_IN_USE: 503,
    ErrorCode.REGISTRY_NOT_FOUND: 404,
    ErrorCode.MISSING_EXTRA: 501,
    ErrorCode.INTERNAL: 500,
}


def error_status(error: BerthError) -> int:
    return HTTP_STATUS.get(error.code, 500)


def error_body(error: BerthError) -> bytes:
    """``{"error", "code", "details"?}`` as JSON bytes."""
    try:
        return orjson.dumps(error.to_dict())
    except TypeError:  # details orjson cannot write (an integer past 64 bits): leave them out
        return orjson.dumps({"error": error.message, "code": error.code.value})


def error_headers(error: BerthError) -> list[tuple[bytes, bytes]]:
    """The headers an error's status calls for: ``WWW-Authenticate`` on 401, ``Retry-After`` on 429."""
    if error.code is ErrorCode.UNAUTHENTICATED:
        reason = error.message.replace("\\", "").replace('"', "'")
        return [
            (
                b"www-authenticate",
                f'Bearer realm="berth", error="invalid_token", error_description="{reason}"'.encode(
                    "latin-1", "replace"
                ),
            )
        ]
    if error.code is ErrorCode.RATE_LIMITED:
        return [(b"retry-after", str(error.details.get("retry_after", 1)).encode())]
    return []


def error_response(error: BerthError) -> Response:
    response = Response(
        content=error_body(error), status_code=error_status(error), media_type="application/json"
    )
    for key, value in error_headers(error):
        response.headers[key.decode()] = value.decode("latin-1")
    return response


async def _berth_error(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, BerthError):  # pragma: no cover - registered for BerthError only
        raise exc
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> Response:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    parts = [
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg', 'invalid')}"
        for e in errors[:5]
    ]
    return error_response(BerthError(ErrorCode.INVALID_REQUEST, "; ".join(parts) or "invalid request"))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    if status == 404:
        return error_response(
            BerthError(ErrorCode.ROUTE_NOT_FOUND, f"no route {request.method} {request.url.path}")
        )
    if status == 405:
        response = error_response(
            BerthError(ErrorCode.METHOD_NOT_ALLOWED, f"{request.method} is not allowed on {request.url.path}")
        )
        allow = exc.headers.get("allow") if isinstance(exc, StarletteHTTPException) and exc.headers else None
        if allow:
            response.headers["allow"] = allow
        return response
    detail = exc.detail if isinstance(exc, StarletteHTTPException) else "error"
    code = ErrorCode.INVALID_REQUEST if 400 <= status < 500 else ErrorCode.INTERNAL
    body = {"error": str(detail), "code": code.value}
    return Response(content=orjson.dumps(body), status_code=status, media_type="application/json")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(BerthError(ErrorCode.INTERNAL, "internal server error"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BerthError, _berth_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
